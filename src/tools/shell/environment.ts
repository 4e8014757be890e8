/**
 * The environment a command runs with (SPEC §5): an allowlist, never the agent's whole
 * environment, so API keys and tokens the agent holds do not reach commands that arrive over the
 * network. A role may name more variables in the config file (`shellEnv`).
 */
import { isStartupVariable } from './startup-variables.js';

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
    // Whatever a role's shellEnv says: these run code before the command does.
    if (value === undefined || isStartupVariable(name)) continue;
    const byPrefix = prefixes.some((prefix) => name.startsWith(prefix)) && !looksSecret(name);
    if (exact.has(name) || byPrefix) env[name] = value;
  }
  // bash cuts words by the locale's characters; in a multibyte charset other than UTF-8 (Big5,
  // GBK, Shift_JIS…) a byte that reads as `;` or `|` to the policy's parser may be part of a
  // character to bash. Such a locale is replaced, so parser and shell read the same words.
  const locale = [env.LC_ALL, env.LC_CTYPE, env.LANG].find(Boolean) ?? '';
  if (/big5|gbk|gb18030|gb2312|sjis|shift_?jis|euc|cp9[34][69]|uhc|johab/i.test(locale)) {
    env.LC_ALL = 'C.UTF-8';
  }
  return { ...env, ...extra };
}
