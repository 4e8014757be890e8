/** Exit codes of the `sheri` command; bin/sheri.ts maps a SheriError to process.exit. */
export const EXIT = {
  ok: 0,
  taskFailed: 1,
  usage: 2,
  unavailable: 3,
  config: 4,
} as const;

/** A failure the user can act on: printed as one line, no stack trace. */
export class SheriError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message);
    this.name = 'SheriError';
  }
}
