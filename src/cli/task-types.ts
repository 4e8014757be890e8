import type { Config } from '../config/load.js';
import { knownRoles, rolesForType, typesForRole } from '../protocol/task-types.js';
import { makeConfig, printJson, printTable, type GlobalFlags } from './common.js';

/** Where the table comes from: the built-in one, or as this machine's config file changes it. */
function source(config: Config): string {
  return config.configFile
    ? `From the built-in table as ${config.configFile} changes it.`
    : 'From the built-in table; a sheri.config.json can add types, roles and runbooks.';
}

/**
 * `sheri types` and `sheri roles`: the task-type table (SPEC §2) as this machine's config makes
 * it, with the runbooks — what a newcomer needs before `task submit --type` or `agent --role`.
 */
export function printTypes(flags: GlobalFlags): void {
  const config = makeConfig(flags);
  const types = Object.keys(config.taskTypes).map((type) => ({
    type,
    roles: [...rolesForType(config.taskTypes, type)],
    runbook: [...(config.runbooks[type] ?? [])],
  }));
  if (flags.json) return printJson({ types });
  printTable(
    ['TYPE', 'ROLES', 'RUNBOOK'],
    types.map((t) => [t.type, t.roles.join(', '), t.runbook.join(' && ') || '-']),
  );
  process.stdout.write(
    `\n${source(config)} A task without --command or --prompt runs its type's runbook.\n`,
  );
}

export function printRoles(flags: GlobalFlags): void {
  const config = makeConfig(flags);
  const roles = knownRoles(config.taskTypes).map((role) => {
    const policy = config.shellPolicies[role];
    return {
      role,
      types: typesForRole(config.taskTypes, role),
      read_only: policy?.readOnly ?? false,
      network: policy?.network ?? false,
    };
  });
  if (flags.json) return printJson({ roles });
  printTable(
    ['ROLE', 'RUNS', 'WORKSPACE', 'NETWORK'],
    roles.map((r) => [
      r.role,
      r.types.join(', '),
      r.read_only ? 'read-only' : 'read-write',
      r.network ? 'yes' : 'no',
    ]),
  );
  process.stdout.write(`\n${source(config)} Start an agent: sheri agent --role <role>\n`);
}
