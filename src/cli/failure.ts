import { CommanderError } from 'commander';
import { EXIT, SheriError } from '../errors.js';

export interface Failure {
  /** What to print on stderr: one line, or more only when the user asked for detail. */
  text: string;
  exitCode: number;
}

/** `--log-level debug` (or trace) anywhere on the command line: the user wants the detail. */
export function wantsDetail(argv: readonly string[]): boolean {
  return argv.some(
    (arg, i) =>
      /^--log-level=(debug|trace)$/.test(arg) ||
      (arg === '--log-level' && /^(debug|trace)$/.test(argv[i + 1] ?? '')),
  );
}

function stackOf(error: unknown): string {
  const stacks: string[] = [];
  for (let at = error; at instanceof Error && stacks.length < 5; at = at.cause) {
    if (at.stack) stacks.push(at.stack);
  }
  return stacks.length ? `${stacks.join('\ncaused by: ')}\n` : '';
}

/**
 * How a command's failure reaches the user (README "Commands", exit codes): a SheriError is its
 * own one-line message and exit code; anything else is a bug, said in one line with exit 70. No
 * stack trace unless `detail` (`--log-level debug`).
 */
export function describeFailure(error: unknown, detail: boolean): Failure {
  if (error instanceof CommanderError) {
    // --help and --version end this way; commander printed them already.
    if (error.exitCode === 0) return { text: '', exitCode: EXIT.ok };
    return {
      text: `sheri: ${oneLine(error.message.replace(/^error: /, ''))}\n`,
      exitCode: EXIT.usage,
    };
  }
  if (error instanceof SheriError) {
    const more = detail && error.cause !== undefined ? stackOf(error.cause) : '';
    return { text: `sheri: ${error.message}\n${more}`, exitCode: error.exitCode };
  }
  const message = error instanceof Error ? error.message : String(error);
  const hint = detail
    ? ''
    : ' — run it again with --log-level debug for the stack trace, and please report it';
  return {
    text: `sheri: unexpected error: ${oneLine(message)}${hint}\n${detail ? stackOf(error) : ''}`,
    exitCode: EXIT.internal,
  };
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
