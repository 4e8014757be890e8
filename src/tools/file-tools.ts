import { z } from 'zod';
import { defineTool, errorResult } from './registry.js';
import { openSafeRoot, readWorkspaceFile, writeWorkspaceFile } from './safe-fs.js';

/**
 * A bigger file is refused (search it instead), so one read stays bounded; the cap holds while
 * reading, whatever the file's size says (safe-fs readCapped).
 */
const MAX_READ_BYTES = 10 * 1024 * 1024;
const DEFAULT_READ_LINES = 2_000;
const MAX_LINE_CHARS = 2_000;
/** One read's answer stays under this, whatever `limit` asks. */
const MAX_READ_CHARS = 100_000;

const Path = z.string().min(1).describe('path relative to the workspace');

export const readFileTool = defineTool({
  name: 'read_file',
  description:
    'Read a text file of the workspace. Lines come numbered ("   12\\tcode"); the numbers are not part of the file. Use offset/limit for long files.',
  input: z.strictObject({
    path: Path,
    offset: z.int().min(1).optional().describe('first line to read, 1-based (default 1)'),
    limit: z
      .int()
      .min(1)
      .max(10_000)
      .optional()
      .describe(`lines to read (default ${DEFAULT_READ_LINES})`),
  }),
  async run({ path, offset = 1, limit = DEFAULT_READ_LINES }, context) {
    const root = await openSafeRoot(context.workspace, context.protectedPaths);
    const { data: buffer } = await readWorkspaceFile(root, path, MAX_READ_BYTES);
    if (buffer.includes(0)) return errorResult(`${path} is a binary file`);
    const lines = buffer.toString('utf8').split('\n');
    const numbered: string[] = [];
    let chars = 0;
    // Stop at `limit` lines or MAX_READ_CHARS, whichever comes first; say where to read on.
    for (let index = offset - 1; index < Math.min(lines.length, offset - 1 + limit); index++) {
      const line = lines[index]!;
      const text =
        line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}… [line cut]` : line;
      const entry = `${String(index + 1).padStart(6)}\t${text}`;
      if (numbered.length > 0 && chars + entry.length > MAX_READ_CHARS) break;
      numbered.push(entry);
      chars += entry.length + 1;
    }
    const next = offset + numbered.length;
    const tail =
      next <= lines.length
        ? `\n[${lines.length - next + 1} more lines; read on with offset ${next}]`
        : '';
    return { content: numbered.join('\n') + tail || '(empty file)' };
  },
});

export const writeFileTool = defineTool({
  name: 'write_file',
  description:
    'Create or overwrite a file of the workspace with the given content (folders are created). Refused under .git and for hard-linked or special files.',
  input: z.strictObject({ path: Path, content: z.string() }),
  async run({ path, content }, context) {
    const root = await openSafeRoot(context.workspace, context.protectedPaths);
    const shown = await writeWorkspaceFile(root, path, content);
    return { content: `wrote ${Buffer.byteLength(content)} bytes to ${shown}` };
  },
});

export const editFileTool = defineTool({
  name: 'edit_file',
  description:
    'Replace an exact string in a file of the workspace. old_string must occur exactly once (include surrounding lines to make it unique), unless replace_all is true.',
  input: z.strictObject({
    path: Path,
    old_string: z.string().min(1),
    new_string: z.string(),
    replace_all: z.boolean().optional(),
  }),
  async run({ path, old_string, new_string, replace_all }, context) {
    const root = await openSafeRoot(context.workspace, context.protectedPaths);
    const { data } = await readWorkspaceFile(root, path, MAX_READ_BYTES);
    if (data.includes(0)) return errorResult(`${path} is a binary file; edit_file edits text`);
    const text = data.toString('utf8');
    const count = text.split(old_string).length - 1;
    if (count === 0)
      return errorResult(
        `old_string was not found in ${path}; read the file and copy the text exactly`,
      );
    if (count > 1 && !replace_all) {
      return errorResult(
        `old_string occurs ${count} times in ${path}; add surrounding lines to make it unique, or set replace_all`,
      );
    }
    // A function replacement, so "$&" and friends in new_string stay literal.
    const updated = replace_all
      ? text.split(old_string).join(new_string)
      : text.replace(old_string, () => new_string);
    const shown = await writeWorkspaceFile(root, path, updated);
    return { content: `replaced ${replace_all ? count : 1} occurrence(s) in ${shown}` };
  },
});
