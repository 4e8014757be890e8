import { describe, expect, it } from 'vitest';
import {
  DEFAULT_ROLES,
  DEFAULT_TASK_TYPES,
  canRoleRun,
  knownRoles,
  rolesForType,
  typesForRole,
  type TaskTypeTable,
} from '../../src/protocol/task-types.js';

describe('DEFAULT_TASK_TYPES', () => {
  it('holds exactly the task types and roles of SPEC §2', () => {
    expect(DEFAULT_TASK_TYPES).toEqual({
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
    });
  });

  it('names only default roles, and every default role can run some type', () => {
    expect(knownRoles(DEFAULT_TASK_TYPES)).toEqual([...DEFAULT_ROLES].sort());
  });
});

describe('rolesForType', () => {
  it('lists the roles that may run a type', () => {
    expect(rolesForType(DEFAULT_TASK_TYPES, 'security.scan')).toEqual(['security', 'review']);
  });

  it('gives no roles for an unknown type', () => {
    expect(rolesForType(DEFAULT_TASK_TYPES, 'lint.run')).toEqual([]);
  });

  it('gives no roles for a type named like an Object.prototype member', () => {
    for (const type of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) {
      expect(rolesForType(DEFAULT_TASK_TYPES, type), type).toEqual([]);
    }
  });
});

describe('typesForRole', () => {
  it('lists every type a role may run, in table order', () => {
    expect(typesForRole(DEFAULT_TASK_TYPES, 'general')).toEqual([
      'code.review',
      'code.generate',
      'documentation.generate',
    ]);
    expect(typesForRole(DEFAULT_TASK_TYPES, 'review')).toEqual(['code.review', 'security.scan']);
  });

  it('gives no types for a role the table does not name', () => {
    expect(typesForRole(DEFAULT_TASK_TYPES, 'cook')).toEqual([]);
  });
});

describe('canRoleRun', () => {
  it('allows a listed role and refuses an unlisted one', () => {
    expect(canRoleRun(DEFAULT_TASK_TYPES, 'deployment', 'deployment.rollback')).toBe(true);
    expect(canRoleRun(DEFAULT_TASK_TYPES, 'testing', 'deployment.rollback')).toBe(false);
  });

  it('refuses every role for an unknown type', () => {
    expect(canRoleRun(DEFAULT_TASK_TYPES, 'general', 'lint.run')).toBe(false);
  });

  it('answers false, without throwing, for a type named "constructor"', () => {
    expect(canRoleRun(DEFAULT_TASK_TYPES, 'general', 'constructor')).toBe(false);
  });
});

describe('a configured table', () => {
  const table: TaskTypeTable = {
    ...DEFAULT_TASK_TYPES,
    'lint.run': ['testing', 'linter'],
  };

  it('gives an added type to its roles, including a new role', () => {
    expect(canRoleRun(table, 'linter', 'lint.run')).toBe(true);
    expect(typesForRole(table, 'linter')).toEqual(['lint.run']);
    expect(typesForRole(table, 'testing')).toEqual(['testing.run', 'testing.coverage', 'lint.run']);
  });

  it('lists each role once, sorted', () => {
    const roles = knownRoles(table);
    expect(roles).toEqual([...new Set(roles)].sort());
    expect(roles).toContain('linter');
  });
});
