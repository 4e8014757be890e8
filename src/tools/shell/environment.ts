/**
 * The environment a command runs with (SPEC §5): an allowlist, never the agent's whole
 * environment, so API keys and tokens the agent holds do not reach commands that arrive over the
 * network. A role may name more variables in the config file (`shellEnv`).
 */

/** Passed to every command: what tools need to behave, nothing that grants access. */
export const SAFE_VARIABLES: readonly string[] = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LANGUAGE',
  'LC_ALL',
  'LC_CTYPE',
  'LC_MESSAGES',
  'TERM',
  'COLORTERM',
  'NO_COLOR',
  'FORCE_COLOR',
  'TZ',
  'TMPDIR',
  'CI',
  'NODE_ENV',
];

/** Names that look like secrets; passed only when a role's config names them exactly. */
const SECRET_NAMES = [
  /(^|_)KEY$/i,
  /(^|_)KEYS$/i,
  /TOKEN/i,
  /SECRET/i,
  /PASSW(OR)?D/i,
  /CREDENTIAL/i,
  /(^|_)AUTH($|_)/i,
  /COOKIE/i,
  /SESSION/i,
  /PRIVATE/i,
  /^ANTHROPIC_/i,
  /^OPENAI_/i,
  /^AWS_/i,
  /^AZURE_/i,
  /^GCP_|^GOOGLE_/i,
  /^GH_|^GITHUB_/i,
  /^NPM_TOKEN$|^NODE_AUTH_TOKEN$/i,
];

/**
 * Names that change how bash or a runtime starts — bash reads BASH_ENV before every `-c` script,
 * exports functions through BASH_FUNC_*, LD_PRELOAD loads code into every program: never passed,
 * whatever a role's `shellEnv` says.
 */
const STARTUP_NAMES = [
  /^(BASH_ENV|ENV|SHELLOPTS|BASHOPTS|PS4|PROMPT_COMMAND|IFS|CDPATH|GLOBIGNORE|BASH_XTRACEFD)$/,
  /^BASH_FUNC_/,
  /^LD_/,
  /^DYLD_/,
  /^(NODE_OPTIONS|NODE_PATH|PYTHONSTARTUP|PYTHONPATH|PERL5OPT|PERL5LIB|RUBYOPT)$/,
];

export function changesStartup(name: string): boolean {
  return STARTUP_NAMES.some((pattern) => pattern.test(name));
}

export function looksSecret(name: string): boolean {
  return SECRET_NAMES.some((pattern) => pattern.test(name));
}

/**
 * Build a command's environment from the agent's. `allowed` are the role's extra names: exact
 * names, or prefixes ending in `*` (`NPM_CONFIG_*`). A prefix never lets a secret-looking name
 * through; an exact name does — naming it is the explicit consent.
 */
export function buildEnvironment(
  parent: NodeJS.ProcessEnv,
  allowed: readonly string[] = [],
  extra: Record<string, string> = {},
): Record<string, string> {
  const exact = new Set([...SAFE_VARIABLES, ...allowed.filter((name) => !name.endsWith('*'))]);
  const prefixes = allowed.filter((name) => name.endsWith('*')).map((name) => name.slice(0, -1));
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(parent)) {
    if (value === undefined || changesStartup(name)) continue;
    const byPrefix = prefixes.some((prefix) => name.startsWith(prefix)) && !looksSecret(name);
    if (exact.has(name) || byPrefix) env[name] = value;
  }
  return { ...env, ...extra };
}
