/**
 * Which roles may run which task types (SPEC §2). This is data: configuration may add types and
 * roles, and nothing else in the code switches on a type's name.
 */
export type TaskTypeTable = Readonly<Record<string, readonly string[]>>;

export const DEFAULT_ROLES = [
  'general',
  'deployment',
  'testing',
  'review',
  'security',
  'monitoring',
  'documentation',
  'database',
] as const;

export const DEFAULT_TASK_TYPES: TaskTypeTable = {
  'code.review': ['review', 'general'],
  'code.generate': ['general'],
  'deployment.deploy': ['deployment'],
  'deployment.rollback': ['deployment'],
  'testing.run': ['testing'],
  'testing.coverage': ['testing'],
  'security.scan': ['security', 'review'],
  'security.audit': ['security'],
  'monitoring.health': ['monitoring'],
  'monitoring.alerts': ['monitoring'],
  'documentation.generate': ['documentation', 'general'],
  'database.migrate': ['database'],
  'database.backup': ['database'],
};

export function rolesForType(table: TaskTypeTable, type: string): readonly string[] {
  // Own keys only: "constructor" or "__proto__" are not task types.
  return Object.hasOwn(table, type) ? (table[type] ?? []) : [];
}

export function typesForRole(table: TaskTypeTable, role: string): string[] {
  return Object.entries(table)
    .filter(([, roles]) => roles.includes(role))
    .map(([type]) => type);
}

export function canRoleRun(table: TaskTypeTable, role: string, type: string): boolean {
  return rolesForType(table, type).includes(role);
}

/** Every role named in the table, in a stable order. */
export function knownRoles(table: TaskTypeTable): string[] {
  return [...new Set(Object.values(table).flat())].sort();
}
