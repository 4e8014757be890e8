/**
 * A command's action that imports its implementation when the command runs, not when the
 * program is built: `sheri --help`, `sheri <cmd> --help` and a mistyped command load no command
 * module, nor zod, mqtt, pino or SQLite (issue 10). A module that fails to load fails the
 * command that needs it, through bin/sheri.ts's one error path, and no other.
 */
export function lazyAction<A extends unknown[]>(
  load: () => Promise<(...args: A) => unknown>,
): (...args: A) => Promise<void> {
  return async (...args: A): Promise<void> => {
    const run = await load();
    await run(...args);
  };
}
