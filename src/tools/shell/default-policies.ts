/**
 * The shipped shell policies, as data (default-policies.json), checked with zod when loaded, and
 * how the config file's `shellPolicies` changes them: add rules, remove rules, start over from
 * the base policy, set `readOnly` / `network`. The always-deny rules are not part of any role's
 * lists: decide() checks them first for every role, and no config can remove them.
 */
import { z } from 'zod';
import { DEFAULT_ROLES } from '../../protocol/task-types.js';
import data from './default-policies.json' with { type: 'json' };
import { checkRule } from './rule-match.js';
import type { ShellPolicy } from './policy.js';

export type ShellRole = (typeof DEFAULT_ROLES)[number];

const RuleList = z.array(z.string().min(1));
const RoleData = z.strictObject({
  allow: RuleList.default([]),
  ask: RuleList.default([]),
  deny: RuleList.default([]),
  readOnly: z.boolean(),
  network: z.boolean(),
});
const PolicyData = z.strictObject({
  $comment: z.string().optional(),
  groups: z.record(z.string().regex(/^[a-z][a-z-]*$/), RuleList),
  alwaysDeny: RuleList,
  base: RoleData,
  roles: z.record(z.enum(DEFAULT_ROLES), RoleData),
  variables: z.strictObject({
    $comment: z.string().optional(),
    deny: z.array(z.string().min(1)),
    except: z.array(z.string().min(1)),
    '$comment-standalone': z.string().optional(),
    denyStandalone: z.array(z.string().min(1)),
  }),
  pathFreeCommands: z.array(z.string().min(1)),
});

/** What the config file may say about one role's policy (`shellPolicies.<role>`). */
export interface ShellPolicyChange {
  allow?: string[];
  ask?: string[];
  deny?: string[];
  /** Rules dropped from the role's defaults (a group reference drops all of its rules). */
  remove?: string[];
  /** Start from BASE_POLICY instead of the role's defaults. */
  replace?: boolean;
  readOnly?: boolean;
  network?: boolean;
}

/** A mistake in `shellPolicies`; `path` is the key it is about, e.g. `["testing", "remove", 0]`. */
export class PolicyConfigError extends Error {
  constructor(
    readonly path: readonly (string | number)[],
    message: string,
  ) {
    super(message);
    this.name = 'PolicyConfigError';
  }
}

const parsed = PolicyData.safeParse(data);
if (!parsed.success) {
  throw new Error(
    `src/tools/shell/default-policies.json is invalid: ${z.prettifyError(parsed.error)}`,
  );
}
const DATA = parsed.data;

/** Named rule lists, referenced as `@name` in the data and in the config file. */
export const RULE_GROUPS: Readonly<Record<string, readonly string[]>> = Object.freeze(
  Object.fromEntries(
    Object.keys(DATA.groups).map((name) => [name, expandRules([`@${name}`], ['groups', name])]),
  ),
);

/** Checked before anything else for every role; no config can remove or outrank them. */
export const ALWAYS_DENY: readonly string[] = Object.freeze(
  expandRules(DATA.alwaysDeny, ['alwaysDeny']),
);

/** Commands whose arguments are never opened as files, so they are not checked as paths. */
export const PATH_FREE_COMMANDS: ReadonlySet<string> = new Set(DATA.pathFreeCommands);

function toPolicy(role: z.infer<typeof RoleData>, path: string[]): ShellPolicy {
  return {
    allow: expandRules(role.allow, [...path, 'allow']),
    ask: expandRules(role.ask, [...path, 'ask']),
    deny: expandRules(role.deny, [...path, 'deny']),
    readOnly: role.readOnly,
    network: role.network,
  };
}

/**
 * What a role sheri does not ship (one from the config file's `taskTypes`) starts from: only the
 * harmless commands every role may run; the always-deny rules bind it as every role.
 */
export const BASE_POLICY: ShellPolicy = deepFreeze(toPolicy(DATA.base, ['base']));

export const DEFAULT_POLICIES: Readonly<Record<ShellRole, ShellPolicy>> = deepFreeze(
  Object.fromEntries(
    DEFAULT_ROLES.map((role) => [role, toPolicy(DATA.roles[role], ['roles', role])]),
  ) as Record<ShellRole, ShellPolicy>,
);

/**
 * A role's policy after the config file's change: its defaults (or BASE_POLICY with `replace`,
 * or for a role sheri does not ship), less `remove`, plus `allow` / `ask` / `deny`.
 */
export function changePolicy(role: string, change: ShellPolicyChange): ShellPolicy {
  const shipped = Object.hasOwn(DEFAULT_POLICIES, role)
    ? DEFAULT_POLICIES[role as ShellRole]
    : undefined;
  const base = change.replace === true || shipped === undefined ? BASE_POLICY : shipped;
  const removed = new Set<string>();
  (change.remove ?? []).forEach((rule, index) => {
    const path = [role, 'remove', index];
    const rules = expandRules([rule], path);
    for (const one of rules) {
      if (ALWAYS_DENY.includes(one)) {
        throw new PolicyConfigError(
          path,
          `\`${one}\` is an always-deny rule: it binds every role and no config can remove it`,
        );
      }
      if (![...base.allow, ...base.ask, ...base.deny].includes(one)) {
        const from = base === BASE_POLICY ? 'the base policy' : `the defaults of ${role}`;
        throw new PolicyConfigError(
          path,
          `\`${one}\` is not a rule of ${from}, so there is nothing to remove (see src/tools/shell/default-policies.json)`,
        );
      }
      removed.add(one);
    }
  });
  const list = (key: 'allow' | 'ask' | 'deny'): string[] =>
    unique([
      ...base[key].filter((rule) => !removed.has(rule)),
      ...expandRules(change[key] ?? [], [role, key]),
    ]);
  return {
    allow: list('allow'),
    ask: list('ask'),
    deny: list('deny'),
    readOnly: change.readOnly ?? base.readOnly,
    network: change.network ?? base.network,
  };
}

/** Every shipped role's policy, and each role the config file names, after its change. */
export function buildShellPolicies(
  changes: Readonly<Record<string, ShellPolicyChange>>,
): Record<string, ShellPolicy> {
  const policies: Record<string, ShellPolicy> = {};
  for (const role of new Set([...DEFAULT_ROLES, ...Object.keys(changes)])) {
    policies[role] = changePolicy(role, Object.hasOwn(changes, role) ? (changes[role] ?? {}) : {});
  }
  return policies;
}

/**
 * Assignments to these names are denied: they change which program runs, what it loads, where
 * its traffic goes, or how the shell reads the rest of the line. `standalone`: a bare `NAME=v`,
 * which also sets the shell's own locale.
 */
export function isDeniedVariable(name: string, standalone: boolean): boolean {
  const { variables } = DATA;
  const lists = standalone ? [...variables.deny, ...variables.denyStandalone] : variables.deny;
  return (
    lists.some((glob) => matchesName(glob, name)) &&
    !variables.except.some((glob) => matchesName(glob, name))
  );
}

function matchesName(glob: string, name: string): boolean {
  const source = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*');
  return new RegExp(`^${source}$`, 'i').test(name);
}

/** Rules with every `@group` replaced by its rules, each rule once, checked for syntax. */
function expandRules(
  rules: readonly string[],
  path: readonly (string | number)[],
  seen: readonly string[] = [],
): string[] {
  const out: string[] = [];
  rules.forEach((rule, index) => {
    const at = seen.length === 0 ? [...path, index] : path;
    const problem = checkRule(rule);
    if (problem) throw new PolicyConfigError(at, `rule \`${rule}\`: ${problem}`);
    if (!rule.startsWith('@')) {
      out.push(rule);
      return;
    }
    const name = rule.slice(1);
    const group = Object.hasOwn(DATA.groups, name) ? DATA.groups[name] : undefined;
    if (group === undefined) {
      throw new PolicyConfigError(
        at,
        `unknown rule group \`${rule}\`; the groups are ${Object.keys(DATA.groups)
          .map((known) => `@${known}`)
          .join(', ')}`,
      );
    }
    if (seen.includes(name)) throw new PolicyConfigError(at, `rule group @${name} includes itself`);
    out.push(...expandRules(group, at, [...seen, name]));
  });
  return unique(out);
}

function unique(rules: readonly string[]): string[] {
  return [...new Set(rules)];
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
