import { z } from 'zod';
import { visible, visibleJson } from '../util/text.js';

/** Lines of a failed command's output `--wait` shows: the end, where the reason usually is. */
export const FAILED_TAIL_LINES = 40;

const CommandResults = z.looseObject({
  commands: z.array(
    z.looseObject({
      command: z.string(),
      exit_code: z.int().nullable(),
      signal: z.string().nullable().optional(),
      timed_out: z.boolean().optional(),
      stdout: z.string().default(''),
      stderr: z.string().default(''),
    }),
  ),
});

const ModelAnswer = z.looseObject({
  text: z.string(),
  model: z.string().optional(),
  turns: z.int().optional(),
  usage: z
    .looseObject({ input_tokens: z.number(), output_tokens: z.number(), cost_usd: z.number() })
    .optional(),
});

/**
 * A task's result as `--wait` prints it: each command's line and output, or a model's answer.
 * `failedOnly` (a dead task): the commands' lines, and the tail of what the failing ones printed.
 */
export function printResult(
  result: unknown,
  terminal: { out: (text: string) => void; err: (text: string) => void; failedOnly?: boolean },
): void {
  // What a task's commands printed and what its model said are the task's: shown, never acted
  // on by the terminal (no escape sequences, no carriage returns rewriting a line).
  const io = {
    out: (text: string) => terminal.out(visible(text)),
    err: (text: string) => terminal.err(visible(text)),
    failedOnly: terminal.failedOnly,
  };
  const answer = ModelAnswer.safeParse(result);
  if (answer.success) {
    io.out(`${answer.data.text}\n`);
    const { usage, model, turns } = answer.data;
    if (usage) {
      io.err(
        `(${model}: ${turns} turns, ${usage.input_tokens} in / ${usage.output_tokens} out tokens, $${usage.cost_usd.toFixed(4)})\n`,
      );
    }
    return;
  }
  const commands = CommandResults.safeParse(result);
  if (!commands.success) {
    if (!io.failedOnly) terminal.out(`${visibleJson(JSON.stringify(result, null, 2))}\n`);
    return;
  }
  for (const command of commands.data.commands) {
    const failed = command.exit_code !== 0 || Boolean(command.timed_out || command.signal);
    const how = command.signal ? `signal ${command.signal}` : `exit ${command.exit_code}`;
    io.out(`$ ${command.command}  (${how})\n`);
    if (io.failedOnly && !failed) continue;
    const output = [command.stdout.trimEnd(), command.stderr.trimEnd()].filter(Boolean).join('\n');
    if (!output) continue;
    if (!io.failedOnly) {
      io.out(`${output}\n`);
      continue;
    }
    const lines = output.split('\n');
    const cut = lines.length - FAILED_TAIL_LINES;
    if (cut > 0) io.out(`… ${cut} line${cut === 1 ? '' : 's'} before these\n`);
    io.out(`${lines.slice(Math.max(0, cut)).join('\n')}\n`);
  }
}
