import { describe, expect, it } from 'vitest';
import { GrantIntake, type IntakeState } from '../../src/agent/grant-intake.js';
import type { TaskAssigned } from '../../src/protocol/messages.js';
import { DEFAULT_TASK_TYPES } from '../../src/protocol/task-types.js';

function grant(taskId: string, attempt = 1, extra: Partial<TaskAssigned> = {}): TaskAssigned {
  return {
    task_id: taskId,
    agent_id: 'tester',
    attempt,
    lease_ms: 30_000,
    lease_expires_at: new Date(0).toISOString(),
    task: { task_id: taskId, type: 'testing.run', payload: {} },
    inputs: {},
    ...extra,
  };
}

const idle: IntakeState = { draining: false, running: new Map() };

describe('GrantIntake', () => {
  const intake = (): GrantIntake => new GrantIntake('tester', 'testing', 2, DEFAULT_TASK_TYPES);

  it('runs a grant of a type its role may run while it has a free slot', () => {
    expect(intake().consider(grant('t1'), idle)).toEqual({ kind: 'run' });
  });

  it('ignores a grant that names another agent, though it came on its own topic', () => {
    expect(intake().consider(grant('t1', 1, { agent_id: 'someone-else' }), idle)).toBeUndefined();
  });

  it('never runs one attempt twice: a redelivery while it runs, or after it ran', () => {
    const desk = intake();
    expect(desk.consider(grant('t1'), { draining: false, running: new Map([['t1', 1]]) })).toEqual({
      kind: 'duplicate',
    });
    desk.remember('t1', 1);
    expect(desk.consider(grant('t1'), idle)).toEqual({ kind: 'duplicate' });
    // The next attempt of the same task is a new grant.
    expect(desk.consider(grant('t1', 2), idle)).toEqual({ kind: 'run' });
  });

  it('hands back, uncounted, what arrives while it stops or has no free slot', () => {
    expect(intake().consider(grant('t1'), { draining: true, running: new Map() })).toEqual({
      kind: 'release',
      reason: 'agent is shutting down',
      refused: false,
    });
    const full = {
      draining: false,
      running: new Map([
        ['a', 1],
        ['b', 1],
      ]),
    };
    expect(intake().consider(grant('t1'), full)).toEqual({
      kind: 'release',
      reason: 'agent has no free slot',
      refused: false,
    });
  });

  it('refuses, counted, a type its own table does not let its role run', () => {
    const deploy = grant('d1', 1, {
      task: { task_id: 'd1', type: 'deployment.deploy', payload: {} },
    });
    expect(intake().consider(deploy, idle)).toEqual({
      kind: 'release',
      reason: 'role testing cannot run task type deployment.deploy',
      refused: true,
    });
  });

  it('remembers at most the last thousand attempts it ran', () => {
    const desk = intake();
    for (let i = 0; i < 1_001; i++) desk.remember(`t${i}`, 1);
    expect(desk.consider(grant('t0'), idle)).toEqual({ kind: 'run' });
    expect(desk.consider(grant('t1000'), idle)).toEqual({ kind: 'duplicate' });
  });
});
