/** Exit codes of the `sheri` command (README "Commands"); bin/sheri.ts turns a failure into one. */
export const EXIT = {
  ok: 0,
  taskFailed: 1,
  usage: 2,
  unavailable: 3,
  config: 4,
  /** The data directory cannot be used: read-only, full, not a folder, or in use by another sheri. */
  dataDir: 5,
  /** A bug: an error sheri did not expect (EX_SOFTWARE of sysexits.h). */
  internal: 70,
} as const;

/** A failure the user can act on: printed as one line, no stack trace. */
export class SheriError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SheriError';
  }
}
