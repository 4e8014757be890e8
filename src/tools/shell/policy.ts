/**
 * Decides ALLOW / DENY / ASK for a shell command line (SPEC §5), judging every simple command the
 * parser finds in it: deny wins over ask, ask over allow, and a command no rule allows is denied.
 * Pure: the workspace is a path string, nothing is read from disk.
 *
 * Rule syntax: a rule is a glob over argv words (after quote removal), separated by single
 * spaces, and it must cover the whole argv:
 *   - `*` alone matches zero or more words: `git log *` is `git log` with any further arguments;
 *     `find * -delete *` is `find` with `-delete` anywhere;
 *   - a word ending in `*` matches one word starting with the text before it: `npm run test* *`
 *     matches `npm run test`, `npm run test:unit --watch`;
 *   - `\*` matches a literal `*` word; any other word matches only itself, exactly:
 *     `npm test` matches `npm test` and nothing longer; `git -- log` does not match `git log *`.
 * Rules never match substrings of the raw line. A word that expands at run time (`$X`, `$( … )`,
 * a glob) may become any words, so deny and ask rules treat it as `*`, and allow rules accept it
 * only where they have a `*` gap.
 *
 * Before rules: assignments to variables that change what runs (PATH, LD_PRELOAD, …) are denied
 * ("env-assignment"); redirect and `cd` targets must stay inside the workspace ("workspace");
 * wrappers (`command`, `builtin`, `nohup`, `time`, `timeout N`, `nice`, `env`) are unwrapped and
 * the command they run is judged.
 */
import { posix } from 'node:path';
import { parseCommand, SHELLS, unwrapCommand, type SimpleCommand } from './command-parser.js';

export interface ShellPolicy {
  allow: string[];
  deny: string[];
  ask: string[];
  /** No write tools for the LLM; the sandbox mounts the workspace read-only. */
  readOnly: boolean;
  /** The sandbox keeps the host's network (else a network namespace with loopback only). */
  network: boolean;
}

export interface Decision {
  decision: 'allow' | 'deny' | 'ask';
  /** The rule that decided: a pattern, or `parser`, `default-deny`, `workspace`, `env-assignment`. */
  rule: string;
  reason: string;
  /** The simple command that decided, as written. */
  subcommand?: string;
}

export interface DecideOptions {
  /** Absolute path; redirects and `cd` must stay inside it. */
  workspace: string;
  /** sheri's own files and folders (config, data directory): never a command's target. */
  protectedPaths?: readonly string[];
}

/** Variables that change which program runs or what it loads; `*_PROXY` reroutes traffic. */
const DANGEROUS_VARIABLES = new Set([
  'PATH',
  'LD_PRELOAD',
  'LD_LIBRARY_PATH',
  'LD_AUDIT',
  'NODE_OPTIONS',
  'NODE_PATH',
  'BASH_ENV',
  'ENV',
  'IFS',
  'PS4',
  'PROMPT_COMMAND',
  'SHELLOPTS',
  'BASHOPTS',
  'CDPATH',
  'GLOBIGNORE',
  'HOME',
  'XDG_CONFIG_HOME',
  'PYTHONPATH',
  'PYTHONSTARTUP',
  'PERL5OPT',
  'PERL5LIB',
  'RUBYOPT',
  'GIT_DIR',
  'GIT_SSH',
  'GIT_SSH_COMMAND',
  'GIT_EXTERNAL_DIFF',
  'GIT_PAGER',
  'GIT_EDITOR',
  'GIT_ASKPASS',
  'SSH_ASKPASS',
  'PAGER',
  'EDITOR',
  'VISUAL',
  'BROWSER',
]);
const DANGEROUS_PREFIXES = [
  /_PROXY$/i,
  /^LD_/,
  /^DYLD_/,
  /^BASH_FUNC_/,
  /^GIT_CONFIG/,
  /^npm_config_/i,
];

/** Device files a redirect may name although they are outside the workspace. */
const ALLOWED_DEVICES = new Set(['/dev/null', '/dev/stdout', '/dev/stderr', '/dev/stdin']);

// ---------------------------------------------------------------------------------------------
// Default policies, per role. Data only; the config file may replace a role's policy.
//
// EVERYONE allow  echo, printf, true, false, pwd, date, sleep, test, [, cd (target checked).
// READ_ONLY allow ls, cat, head, tail, wc, grep, rg, find, diff, stat, file, du, tree, git
//                 log/diff/show/status/blame (no sed/awk/sort/tee: they can write or run).
// ALWAYS_DENY     privilege (sudo, su, doas), rm of / ~ . .. * or $expansions, chmod 777 / setuid,
//                 chown, dd, mkfs, disk tools, power (shutdown, reboot, …), shells (so
//                 `curl … | sh` is denied by its `sh`), raw network tools, find -exec/-delete,
//                 git --output, rg --pre, printf -v, date -s.
// general         + npm test / run test*/build*/lint*, mkdir, touch, git add/commit;
//                 ask: rm, mv, cp, npm install/ci, git push/checkout/reset.
// deployment      + npm run build*/deploy*, git pull/fetch/checkout, docker compose, kubectl;
//                 ask: kubectl delete, kubectl exec.
// testing         + npm test, npm run test*, npx vitest, npx jest, pytest, go test, cargo test.
// review          read-only only.
// security        + npm audit; ask: npm audit fix.
// monitoring      + df, free, uptime, ps, docker ps/logs, kubectl get/describe/logs/top;
//                 ask: curl.
// documentation   + npm run docs*, npx typedoc, mkdir.
// database        read-only; ask: psql, mysql, sqlite3.
// ---------------------------------------------------------------------------------------------
const EVERYONE = [
  'echo *',
  'printf *',
  'true *',
  'false *',
  'pwd *',
  'date *',
  'sleep *',
  'test *',
  '[ *',
  'cd *',
  'exit *',
];

/** Reading files and listing folders. */
const READ_FILES = ['ls *', 'cat *', 'head *', 'tail *', 'wc *', 'grep *'];

const READ_ONLY = [
  ...READ_FILES,
  'rg *',
  'find *',
  'diff *',
  'stat *',
  'file *',
  'du *',
  'tree *',
  'git log *',
  'git diff *',
  'git show *',
  'git status *',
  'git blame *',
];

const ALWAYS_DENY = [
  'sudo *',
  'su *',
  'doas *',
  'pkexec *',
  'rm * / *',
  'rm * /* *',
  'rm * ~* *',
  'rm * . *',
  'rm * ./ *',
  'rm * ..* *',
  'rm * \\* *',
  'rm * $* *',
  'rm * --no-preserve-root *',
  'chmod * 777 *',
  'chmod * 0777 *',
  'chmod * a+rwx *',
  'chmod * ugo+rwx *',
  'chmod * +s *',
  'chmod * u+s *',
  'chmod * g+s *',
  'chown *',
  'dd *',
  'mkfs *',
  'mkfs.* *',
  'mkswap *',
  'fdisk *',
  'parted *',
  'wipefs *',
  'shutdown *',
  'reboot *',
  'halt *',
  'poweroff *',
  'init *',
  'systemctl *',
  'crontab *',
  'mount *',
  'iptables *',
  ...[...SHELLS].map((shell) => `${shell} *`),
  'nc *',
  'ncat *',
  'netcat *',
  'socat *',
  'telnet *',
  'find * -exec *',
  'find * -execdir *',
  'find * -ok *',
  'find * -okdir *',
  'find * -delete *',
  'find * -fprint* *',
  'find * -fls *',
  'git * --output* *',
  'rg * --pre* *',
  'printf -v *',
  'date * -s *',
  'date * --set* *',
];

function policy(
  allow: string[],
  ask: string[] = [],
  deny: string[] = [],
  { readOnly = false, network = false } = {},
): ShellPolicy {
  return {
    allow: [...EVERYONE, ...allow],
    ask,
    deny: [...ALWAYS_DENY, ...deny],
    readOnly,
    network,
  };
}

/**
 * What a role sheri does not ship (one from the config file's `taskTypes`) starts from: only the
 * harmless commands every role may run, and the rules no role escapes.
 */
export const BASE_POLICY: ShellPolicy = policy([]);

export const DEFAULT_POLICIES = {
  general: policy(
    [
      ...READ_ONLY,
      'npm test *',
      'npm run test* *',
      'npm run build* *',
      'npm run lint* *',
      'mkdir *',
      'touch *',
      'git add *',
      'git commit *',
    ],
    [
      'rm *',
      'mv *',
      'cp *',
      'npm install *',
      'npm ci *',
      'git push *',
      'git checkout *',
      'git reset *',
    ],
  ),
  deployment: policy(
    [
      ...READ_ONLY,
      'npm run build* *',
      'npm run deploy* *',
      'git pull *',
      'git fetch *',
      'git checkout *',
      'docker compose *',
      'kubectl *',
    ],
    ['kubectl * delete *', 'kubectl * exec *'],
    [],
    { network: true },
  ),
  testing: policy([
    ...READ_ONLY,
    'npm test *',
    'npm run test* *',
    'npx vitest *',
    'npx jest *',
    'pytest *',
    'go test *',
    'cargo test *',
  ]),
  review: policy(READ_ONLY, [], [], { readOnly: true }),
  security: policy([...READ_ONLY, 'npm audit *'], ['npm audit fix *'], [], {
    readOnly: true,
    network: true,
  }),
  monitoring: policy(
    [
      ...READ_FILES,
      'df *',
      'free *',
      'uptime *',
      'ps *',
      'docker ps *',
      'docker logs *',
      'kubectl get *',
      'kubectl describe *',
      'kubectl logs *',
      'kubectl top *',
    ],
    ['curl *'],
    [],
    { readOnly: true, network: true },
  ),
  documentation: policy([...READ_ONLY, 'npm run docs* *', 'npx typedoc *', 'mkdir *']),
  database: policy(READ_ONLY, ['psql *', 'mysql *', 'sqlite3 *'], ['dropdb *']),
} satisfies Record<string, ShellPolicy>;

export type ShellRole = keyof typeof DEFAULT_POLICIES;

export function decide(input: string, policy: ShellPolicy, options: DecideOptions): Decision {
  if (!posix.isAbsolute(options.workspace)) {
    return deny('workspace', `workspace must be an absolute path, got \`${options.workspace}\``);
  }
  const parsed = parseCommand(input);
  if (!parsed.ok) return deny('parser', parsed.reason);
  if (parsed.commands.length === 0) return deny('parser', 'nothing to run: the command is empty');
  const workspace = posix.resolve(options.workspace);
  let ask: Decision | undefined;
  const allowedBy: string[] = [];
  for (const command of parsed.commands) {
    const decision = decideOne(command, policy, workspace);
    if (decision.decision === 'deny') return decision;
    if (decision.decision === 'ask') ask ??= decision;
    else if (!allowedBy.includes(decision.rule)) allowedBy.push(decision.rule);
  }
  if (ask) return ask;
  const count = parsed.commands.length;
  return {
    decision: 'allow',
    rule: allowedBy.join(', '),
    reason: count === 1 ? 'allowed' : `all ${count} commands allowed`,
  };
}

function decideOne(command: SimpleCommand, policy: ShellPolicy, workspace: string): Decision {
  const subcommand = command.text;
  const result = (decision: Decision['decision'], rule: string, reason: string): Decision => ({
    decision,
    rule,
    reason,
    subcommand,
  });
  const unwrapped =
    command.argv.length === 0
      ? { ok: true as const, start: 0, assignments: [] }
      : unwrapCommand(command.argv);
  if (!unwrapped.ok) return result('deny', 'parser', unwrapped.reason);
  for (const assignment of [...command.assignments, ...unwrapped.assignments]) {
    const name = assignment.slice(0, assignment.indexOf('=')).replace(/\+$/, '');
    if (isDangerousVariable(name)) {
      return result(
        'deny',
        'env-assignment',
        `assigning ${name} changes what the command runs or loads`,
      );
    }
  }
  for (const redirect of command.redirects) {
    if (redirect.op.endsWith('<<<')) continue; // a string, not a file
    if (/[<>]&$/.test(redirect.op) && /^(\d+-?|-)$/.test(redirect.target)) continue; // 2>&1, >&-
    const problem = checkPath(redirect.target, redirect.targetExpands, workspace);
    if (problem) return result('deny', 'workspace', `redirect \`${redirect.op}\` ${problem}`);
  }
  if (command.argv.length === 0) return result('allow', 'assignment', 'assignments only');
  const words = command.argv.slice(unwrapped.start);
  const expands = command.argExpands.slice(unwrapped.start);
  if (words[0] === 'cd' || words[0] === 'pushd') {
    const at = words.findIndex((word, i) => i > 0 && !/^-[LPe@]+$|^--$/.test(word));
    if (at === -1) return result('deny', 'workspace', '`cd` without a directory goes to $HOME');
    if (words[at] === '-')
      return result('deny', 'workspace', '`cd -` goes to an unknown directory');
    const problem = checkPath(words[at] ?? '', expands[at] ?? false, workspace);
    if (problem) return result('deny', 'workspace', `\`cd\` ${problem}`);
  }
  const shown = `\`${words.join(' ')}\``;
  const denied = policy.deny.find((rule) => matchRule(rule, words, expands, 'deny'));
  if (denied !== undefined)
    return result('deny', denied, `${shown} matches deny rule \`${denied}\``);
  const asked = policy.ask.find((rule) => matchRule(rule, words, expands, 'deny'));
  if (asked !== undefined) return result('ask', asked, `${shown} needs approval (\`${asked}\`)`);
  const allowed = policy.allow.find((rule) => matchRule(rule, words, expands, 'allow'));
  if (allowed !== undefined) return result('allow', allowed, `${shown} matches \`${allowed}\``);
  return result('deny', 'default-deny', `no allow rule matches ${shown}`);
}

function deny(rule: string, reason: string): Decision {
  return { decision: 'deny', rule, reason };
}

function isDangerousVariable(name: string): boolean {
  return DANGEROUS_VARIABLES.has(name) || DANGEROUS_PREFIXES.some((pattern) => pattern.test(name));
}

/**
 * Why a path fails, or undefined when it stays in the workspace. A relative path may not climb
 * above where it starts (`a/../../x`), so it stays inside from any directory `cd` reached.
 */
function checkPath(target: string, expands: boolean, workspace: string): string | undefined {
  if (expands) return `target \`${target}\` expands at run time, so where it points is unknown`;
  if (ALLOWED_DEVICES.has(target)) return undefined;
  const resolved = posix.resolve(workspace, target);
  const root = workspace.endsWith('/') ? workspace : `${workspace}/`;
  const inside = resolved === workspace || resolved.startsWith(root);
  const normal = posix.normalize(target);
  const climbs = !posix.isAbsolute(target) && (normal === '..' || normal.startsWith('../'));
  if (!inside || climbs) return `target \`${target}\` is outside the workspace ${workspace}`;
  if (resolved.slice(root.length).split('/').includes('.git')) {
    return `target \`${target}\` is inside .git, where hooks and config run commands`;
  }
  return undefined;
}

/**
 * Matches a rule (see the syntax above) against argv. In `deny` mode a word that expands may
 * become any words, so it matches like `*`; in `allow` mode only a `*` gap may take it.
 */
export function matchRule(
  rule: string,
  words: readonly string[],
  expands: readonly boolean[],
  mode: 'allow' | 'deny',
): boolean {
  const pattern = rule.split(' ').filter((word) => word !== '');
  const match = (p: number, w: number): boolean => {
    const want = pattern[p];
    const word = words[w];
    if (want === undefined) {
      return word === undefined || (mode === 'deny' && expands.slice(w).every(Boolean));
    }
    if (want === '*') {
      for (let next = w; next <= words.length; next++) if (match(p + 1, next)) return true;
      return false;
    }
    if (word === undefined) return false;
    if (expands[w] === true) {
      return mode === 'deny' && (match(p, w + 1) || match(p + 1, w) || match(p + 1, w + 1));
    }
    const ok =
      want.length > 1 && want.endsWith('*') && !want.endsWith('\\*')
        ? word.startsWith(want.slice(0, -1))
        : word === (want === '\\*' ? '*' : want);
    return ok && match(p + 1, w + 1);
  };
  return match(0, 0);
}
