/**
 * Decides ALLOW / DENY / ASK for a shell command line (SPEC §5), judging every simple command the
 * parser (command-parser.ts) finds in it. Pure: the workspace is a path string, nothing is read
 * from disk. The rules are data (default-policies.json); their syntax is in rule-match.ts.
 *
 * Per simple command, in the order they run (a substitution before the command it is part of), the
 * first check that objects decides, and a line is denied as soon as one of its commands is:
 *   0. (for the whole line first) commands that cannot be judged by their words
 *      (command-rules.ts: `eval`, `sh -c`, a name from an expansion, …; rule `parser`);
 *   1. the always-deny rules (`sudo *`, `rm * / *`, shells, runner flags that load code from
 *      elsewhere such as `git * --upl* *`), before any other check and whatever the role allows;
 *   2. assignments to variables that change what runs or loads (PATH, LD_PRELOAD, …;
 *      `env-assignment`);
 *   3. redirect targets: not at or below a protected path (`protected`), inside the workspace and
 *      not into `.git` (`workspace`), and for a read-only role no output to a file (`read-only`);
 *   4. `cd` / `pushd` targets inside the workspace; path-like arguments (absolute, `~…`,
 *      `$HOME…`, climbing with `..`, also as `--opt=value`) inside it and away from protected paths
 *      (not for `echo`, `printf` and the other `pathFreeCommands`, which open no file);
 *   5. the role's deny rules, then ask, then allow; a command no rule allows is denied
 *      (`default-deny`). Deny wins over ask, ask over allow.
 * Wrappers (`command`, `builtin`, `nohup`, `time`, `timeout N`, `nice`, `env`) are unwrapped and
 * the command they run is judged.
 */
import { posix } from 'node:path';
import { parseCommand, type SimpleCommand } from './command-parser.js';
import { resolveCommand, type ResolvedCommand } from './command-rules.js';
import { ALWAYS_DENY, PATH_FREE_COMMANDS, isDeniedVariable } from './default-policies.js';
import { checkArgument, checkTarget, type PathContext } from './path-checks.js';
import { matchRule } from './rule-match.js';

export { ALWAYS_DENY, BASE_POLICY, DEFAULT_POLICIES, type ShellRole } from './default-policies.js';
export { matchRule } from './rule-match.js';

export interface ShellPolicy {
  allow: string[];
  deny: string[];
  ask: string[];
  /** No write tools for the LLM, workspace mounted read-only in the sandbox, output redirects
   *  to files (other than /dev/null) denied by the policy. review, security, monitoring: true. */
  readOnly: boolean;
  /** The sandbox keeps the network namespace of the host (deployment, monitoring, security: true). */
  network: boolean;
}

export interface Decision {
  decision: 'allow' | 'deny' | 'ask';
  /**
   * The rule that decided: a pattern, or `parser`, `default-deny`, `workspace`, `protected`,
   * `read-only`, `env-assignment`.
   */
  rule: string;
  reason: string;
  /** The simple command that decided, as written. */
  subcommand?: string;
}

export interface DecideOptions {
  /** Absolute path; redirects, `cd` and path arguments must stay inside it. */
  workspace: string;
  /**
   * Absolute paths (files or folders) of sheri's own state: config file, data directory, ledger,
   * credentials. A redirect target or a path-like argument at or below one is denied.
   */
  protectedPaths?: readonly string[];
}

/** Redirect targets that are not files: writing there changes nothing on disk. */
const NOT_FILES = new Set(['/dev/null', '/dev/stdout', '/dev/stderr']);

export function decide(input: string, policy: ShellPolicy, options: DecideOptions): Decision {
  if (!posix.isAbsolute(options.workspace)) {
    return deny('workspace', `workspace must be an absolute path, got \`${options.workspace}\``);
  }
  const parsed = parseCommand(input);
  if (!parsed.ok) return deny('parser', parsed.reason);
  if (parsed.commands.length === 0) return deny('parser', 'nothing to run: the command is empty');
  const context: PathContext = {
    workspace: posix.resolve(options.workspace),
    protectedPaths: (options.protectedPaths ?? [])
      .filter((path) => posix.isAbsolute(path))
      .map((path) => posix.resolve(path)),
  };
  // The command rules first, for the whole line: what cannot be judged makes the line unjudgeable.
  const resolved: ResolvedCommand[] = [];
  for (const command of parsed.commands) {
    const result = resolveCommand(command);
    if (!result.ok) return { ...deny('parser', result.reason), subcommand: command.text };
    resolved.push(result.command);
  }
  let ask: Decision | undefined;
  const allowedBy: string[] = [];
  for (const [index, command] of parsed.commands.entries()) {
    const decision = decideOne(command, resolved[index] as ResolvedCommand, policy, context);
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

function decideOne(
  command: SimpleCommand,
  resolved: ResolvedCommand,
  policy: ShellPolicy,
  context: PathContext,
): Decision {
  const subcommand = command.text;
  const result = (decision: Decision['decision'], rule: string, reason: string): Decision => ({
    decision,
    rule,
    reason,
    subcommand,
  });
  const { words, expands, assignments } = resolved;
  const always =
    words.length === 0
      ? undefined
      : ALWAYS_DENY.find((rule) => matchRule(rule, words, expands, 'deny'));
  if (always !== undefined)
    return result('deny', always, `${shown(words)} matches always-deny rule \`${always}\``);
  for (const assignment of assignments) {
    const name = assignment.slice(0, assignment.indexOf('=')).replace(/\+$/, '');
    if (isDeniedVariable(name, command.argv.length === 0)) {
      return result(
        'deny',
        'env-assignment',
        `assigning ${name} changes what the command runs or loads, or how the shell reads it`,
      );
    }
  }
  for (const redirect of command.redirects) {
    if (redirect.op.endsWith('<<<')) continue; // a string, not a file
    if (/[<>]&$/.test(redirect.op) && /^(\d+-?|-)$/.test(redirect.target)) continue; // 2>&1, >&-
    const problem = checkTarget(redirect.target, redirect.targetExpands, context, { gitDir: true });
    if (problem)
      return result('deny', problem.rule, `redirect \`${redirect.op}\` ${problem.problem}`);
    if (policy.readOnly && redirect.op.includes('>') && !NOT_FILES.has(redirect.target)) {
      return result(
        'deny',
        'read-only',
        `redirect \`${redirect.op} ${redirect.target}\` writes a file, and this role is read-only`,
      );
    }
  }
  if (words.length === 0) return result('allow', 'assignment', 'assignments only');
  const name = words[0] ?? '';
  if (name === 'cd' || name === 'pushd') {
    const at = words.findIndex((word, i) => i > 0 && !/^-[LPe@]+$|^--$/.test(word));
    if (at === -1) return result('deny', 'workspace', '`cd` without a directory goes to $HOME');
    if (words[at] === '-')
      return result('deny', 'workspace', '`cd -` goes to an unknown directory');
    const problem = checkTarget(words[at] ?? '', expands[at] ?? false, context, { gitDir: false });
    if (problem) return result('deny', problem.rule, `\`${name}\` ${problem.problem}`);
  }
  if (!PATH_FREE_COMMANDS.has(name)) {
    for (let i = 1; i < words.length; i++) {
      const problem = checkArgument(words[i] ?? '', expands[i] ?? false, context);
      if (problem) return result('deny', problem.rule, problem.problem);
    }
  }
  const denied = policy.deny.find((rule) => matchRule(rule, words, expands, 'deny'));
  if (denied !== undefined)
    return result('deny', denied, `${shown(words)} matches deny rule \`${denied}\``);
  const asked = policy.ask.find((rule) => matchRule(rule, words, expands, 'deny'));
  if (asked !== undefined)
    return result('ask', asked, `${shown(words)} needs approval (\`${asked}\`)`);
  const allowed = policy.allow.find((rule) => matchRule(rule, words, expands, 'allow'));
  if (allowed !== undefined)
    return result('allow', allowed, `${shown(words)} matches \`${allowed}\``);
  return result('deny', 'default-deny', `no allow rule matches ${shown(words)}`);
}

function shown(words: readonly string[]): string {
  return `\`${words.join(' ')}\``;
}

function deny(rule: string, reason: string): Decision {
  return { decision: 'deny', rule, reason };
}
