import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { NAME_PATTERN } from '../protocol/step-specs.js';

/**
 * A task's outputs (PROTOCOL §17.5): `name=value` lines its commands write to the file named by
 * `$SHERI_OUTPUT`, as GitHub Actions' `$GITHUB_OUTPUT`. They go in the result as `outputs`, for
 * the flow's later steps (`${{ steps.build.outputs.version }}`). A file, not marker lines on
 * stdout: text a command only prints (a test's name, a log line from the code under test) cannot
 * set one.
 */

export const OUTPUT_FILE_NAME = 'outputs.env';
const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = constants;
/** Read only, the name itself (a link is an error, ELOOP), and no wait for a FIFO's writer. */
const OPEN_FLAGS = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
const MAX_FILE_BYTES = 64 * 1024;
const MAX_OUTPUTS = 50;
const MAX_VALUE_CHARS = 4_096;

export interface StepOutputs {
  outputs: Record<string, string>;
  /** Lines that were not `name=value`, or past the limits: said in the result, not fatal. */
  problems: string[];
}

/** The outputs file in `dir` (a folder the sandbox binds read-write), read once the commands end. */
export async function readOutputs(dir: string): Promise<StepOutputs> {
  const file = join(dir, OUTPUT_FILE_NAME);
  let text = '';
  let cut = false;
  try {
    // Opened, not stat-then-read: a command may have replaced it with anything. The agent reads
    // it outside the sandbox, so it must not follow a symbolic link the command put there (to a
    // file the sandbox hides — the agent's /proc/<pid>/environ — whose text would come back as
    // outputs), nor wait on a FIFO (open() would block until a writer came, for ever).
    const handle = await open(file, OPEN_FLAGS);
    try {
      const info = await handle.stat();
      if (!info.isFile()) return { outputs: {}, problems: [`${OUTPUT_FILE_NAME} is not a file`] };
      const buffer = Buffer.alloc(Math.min(info.size, MAX_FILE_BYTES));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      text = buffer.subarray(0, bytesRead).toString('utf8');
      cut = info.size > MAX_FILE_BYTES;
    } finally {
      await handle.close();
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { outputs: {}, problems: [] };
    if (code === 'ELOOP') {
      return { outputs: {}, problems: [`${OUTPUT_FILE_NAME} is a symbolic link; it was not read`] };
    }
    return { outputs: {}, problems: [`cannot read the outputs: ${(error as Error).message}`] };
  }
  return parseOutputs(text, cut);
}

export function parseOutputs(text: string, cut = false): StepOutputs {
  const outputs: Record<string, string> = Object.create(null) as Record<string, string>;
  const problems: string[] = cut ? [`outputs past ${MAX_FILE_BYTES} bytes were ignored`] : [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') continue;
    const equals = line.indexOf('=');
    const name = equals > 0 ? line.slice(0, equals).trim() : '';
    if (!NAME_PATTERN.test(name)) {
      problems.push(`line ${i + 1} is not name=value with a name of letters, digits, "_" or "-"`);
      continue;
    }
    if (!(name in outputs) && Object.keys(outputs).length >= MAX_OUTPUTS) {
      problems.push(`more than ${MAX_OUTPUTS} outputs: "${name}" and later ones were ignored`);
      break;
    }
    const value = line.slice(equals + 1);
    if (value.length > MAX_VALUE_CHARS)
      problems.push(`output "${name}" was cut to ${MAX_VALUE_CHARS} characters`);
    // A later line sets the name again, as in $GITHUB_OUTPUT.
    outputs[name] = value.slice(0, MAX_VALUE_CHARS);
  }
  return { outputs: { ...outputs }, problems };
}
