/**
 * Bounds the protocol's schemas and the CLI's options share; kept apart from the schemas (zod) so
 * that defining the CLI's commands loads nothing more (test/cli/lazy-commands.test.ts).
 */

/**
 * The most tasks one `tasks` query lists (`sheri tasks --limit`): its reply must fit in
 * `MAX_REPLY_BYTES` (64 MiB, transport/bus.ts) with each summary's error cut to SUMMARY_ERROR_CHARS.
 */
export const MAX_LISTED_TASKS = 20_000;
/** A task summary's `last_error` (lists, children) at most; `sheri task show` has it whole. */
export const SUMMARY_ERROR_CHARS = 300;

/** The most tasks one agent runs at once (`sheri agent --concurrency`), so the most it may claim. */
export const MAX_CONCURRENCY = 10_000;

/** Hub replies can list thousands of tasks: the one message allowed past `maxPayloadBytes`. */
export const MAX_REPLY_BYTES = 64 * 1024 * 1024;
