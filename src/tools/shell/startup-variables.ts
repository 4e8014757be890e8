/**
 * Environment variables that change how a shell or a language runtime starts: bash reads
 * BASH_ENV before the command line, imports functions from BASH_FUNC_*, the dynamic loader
 * preloads LD_PRELOAD, node loads NODE_OPTIONS' `--require`. Passed to a command, any of them
 * runs code that no policy saw, so none may pass: the config file may not list them under
 * `shellEnv`, and the runner drops them whatever the list says.
 */

/** Exact names; a trailing `*` stands for any rest. */
export const STARTUP_VARIABLES: readonly string[] = [
  'BASH_ENV',
  'ENV',
  'SHELLOPTS',
  'BASHOPTS',
  'BASH_FUNC_*',
  'BASH_COMPAT',
  'BASH_LOADABLES_PATH',
  'BASH_XTRACEFD',
  'EXECIGNORE',
  'POSIXLY_CORRECT',
  'PS4',
  'PROMPT_COMMAND',
  'IFS',
  'CDPATH',
  'GLOBIGNORE',
  'LD_*',
  'GCONV_PATH',
  'GLIBC_TUNABLES',
  'NODE_OPTIONS',
  'PYTHONSTARTUP',
  'PYTHONINSPECT',
  'PERL5OPT',
  'PERL5DB',
  'RUBYOPT',
  'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS',
  'JDK_JAVA_OPTIONS',
  'LUA_INIT*',
];

/** The name (exact; environment names are case-sensitive) changes how a shell or runtime starts. */
export function isStartupVariable(name: string): boolean {
  return STARTUP_VARIABLES.some((entry) =>
    entry.endsWith('*') ? name.startsWith(entry.slice(0, -1)) : name === entry,
  );
}

/**
 * Why a `shellEnv` entry (an exact name, or a prefix ending in `*`) is refused, or undefined. A
 * prefix is refused when it would let one of the startup variables through (`B*`, `LD_*`, `*`).
 */
export function startupVariableProblem(entry: string): string | undefined {
  const why = 'changes how a shell or runtime starts, so it never passes to commands';
  if (!entry.endsWith('*')) return isStartupVariable(entry) ? `${entry} ${why}` : undefined;
  const prefix = entry.slice(0, -1);
  const caught = STARTUP_VARIABLES.find((name) => {
    const fixed = name.endsWith('*') ? name.slice(0, -1) : name;
    return fixed.startsWith(prefix) || (name.endsWith('*') && prefix.startsWith(fixed));
  });
  if (caught === undefined) return undefined;
  const what = caught.endsWith('*')
    ? `the ${caught} variables, which change`
    : `${caught}, which changes`;
  return `${entry} would pass ${what} how a shell or runtime starts, so it never passes to commands; list the variables you need by name`;
}
