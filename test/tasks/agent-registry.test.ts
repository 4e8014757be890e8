import { beforeEach, describe, expect, it } from 'vitest';
import type { TaskRef } from '../../src/protocol/messages.js';
import { AgentRegistry, demandOf } from '../../src/tasks/agent-registry.js';

const T0 = 1_700_000_000_000;

/** Agent `a` registered with room to spare (concurrency 10), then reporting `free` and `running`. */
function reportRegistered(registry: AgentRegistry, free: number, running: TaskRef[]) {
  registry.registered(registry.touch('a', 'testing', T0), 10);
  return registry.reportCapacity('a', 'testing', free, running, T0);
}

describe('AgentRegistry', () => {
  let registry: AgentRegistry;
  beforeEach(() => {
    registry = new AgentRegistry();
  });

  it('creates an online agent with no capacity on first contact', () => {
    const agent = registry.touch('testing-1', 'testing', T0);
    expect(agent).toMatchObject({
      agentId: 'testing-1',
      role: 'testing',
      state: 'online',
      free: 0,
      running: [],
      lastSeenAt: T0,
      registeredAt: T0,
      lastHeartbeatAt: null,
      lastGrantAt: 0,
    });
    expect(registry.get('testing-1')).toBe(agent);
  });

  it('refreshes last-seen and role but keeps the registration time', () => {
    registry.touch('a', 'testing', T0);
    const agent = registry.touch('a', 'review', T0 + 500);
    expect(agent).toMatchObject({ role: 'review', lastSeenAt: T0 + 500, registeredAt: T0 });
    expect(registry.all()).toHaveLength(1);
  });

  it('records the capacity an agent reports', () => {
    const running = [{ task_id: 't1', attempt: 2 }];
    const agent = reportRegistered(registry, 3, running);
    expect(agent).toMatchObject({ free: 3, running });
  });

  it('marks an agent gone with no free slots and nothing running', () => {
    reportRegistered(registry, 2, [{ task_id: 't1', attempt: 1 }]);
    const agent = registry.markGone('a');
    expect(agent).toMatchObject({ state: 'gone', free: 0, running: [] });
  });

  it('is undefined when marking an unknown agent gone', () => {
    expect(registry.markGone('nobody')).toBeUndefined();
  });

  it('brings a gone agent back online when it is heard from again', () => {
    registry.touch('a', 'testing', T0);
    registry.markGone('a');
    expect(registry.touch('a', 'testing', T0 + 1).state).toBe('online');
  });

  it('prunes agents gone for longer than keepMs and keeps the rest', () => {
    registry.touch('gone-old', 'testing', T0);
    registry.touch('gone-recent', 'testing', T0 + 5_000);
    registry.touch('online-old', 'testing', T0);
    registry.markGone('gone-old');
    registry.markGone('gone-recent');
    registry.prune(T0 + 10_001, 10_000);
    expect(
      registry
        .all()
        .map((agent) => agent.agentId)
        .sort(),
    ).toEqual(['gone-recent', 'online-old']);
  });

  it('keeps a gone agent seen exactly keepMs ago', () => {
    registry.touch('a', 'testing', T0);
    registry.markGone('a');
    registry.prune(T0 + 10_000, 10_000);
    expect(registry.get('a')).toBeDefined();
  });
});

describe('demandOf', () => {
  let registry: AgentRegistry;
  beforeEach(() => {
    registry = new AgentRegistry();
  });

  it('is the free slots when every grant is in the running list', () => {
    const agent = reportRegistered(registry, 2, [{ task_id: 't1', attempt: 1 }]);
    expect(demandOf(agent, [{ task_id: 't1', attempt: 1 }])).toBe(2);
  });

  it('subtracts grants the agent had not seen when it reported', () => {
    const agent = reportRegistered(registry, 3, [{ task_id: 't1', attempt: 1 }]);
    const assigned = [
      { task_id: 't1', attempt: 1 },
      { task_id: 't2', attempt: 1 },
      { task_id: 't3', attempt: 1 },
    ];
    expect(demandOf(agent, assigned)).toBe(1);
  });

  it('counts a new attempt of a task the agent runs an older attempt of as unseen', () => {
    const agent = reportRegistered(registry, 1, [{ task_id: 't1', attempt: 1 }]);
    expect(demandOf(agent, [{ task_id: 't1', attempt: 2 }])).toBe(0);
  });

  it('never goes below zero', () => {
    const agent = reportRegistered(registry, 1, []);
    const assigned = [
      { task_id: 't1', attempt: 1 },
      { task_id: 't2', attempt: 1 },
    ];
    expect(demandOf(agent, assigned)).toBe(0);
  });

  it('is zero for an agent that reported no free slot', () => {
    expect(demandOf(reportRegistered(registry, 0, []), [])).toBe(0);
  });

  it('is zero for a gone agent', () => {
    reportRegistered(registry, 4, []);
    const agent = registry.markGone('a')!;
    // Even with stale capacity numbers, a gone agent gets nothing.
    agent.free = 4;
    expect(demandOf(agent, [])).toBe(0);
  });

  it('is zero for a draining agent', () => {
    const agent = reportRegistered(registry, 4, []);
    agent.state = 'draining';
    expect(demandOf(agent, [])).toBe(0);
  });
});

describe('the bound on reported room (PROTOCOL §3.3)', () => {
  let registry: AgentRegistry;
  beforeEach(() => {
    registry = new AgentRegistry();
  });

  it('cuts a report of more free slots than the registered concurrency leaves beside what runs', () => {
    registry.registered(registry.touch('a', 'testing', T0), 4);
    const agent = registry.reportCapacity(
      'a',
      'testing',
      9_999,
      [{ task_id: 't1', attempt: 1 }],
      T0,
    );
    expect(agent).toMatchObject({ free: 3, reportedFree: 9_999 });
  });

  it('gives an agent that has not registered one slot, whatever it claims', () => {
    expect(registry.reportCapacity('a', 'testing', 50, [], T0)).toMatchObject({ free: 1 });
  });

  it('judges the last report again when the registration comes after it', () => {
    registry.reportCapacity('a', 'testing', 3, [], T0);
    registry.registered(registry.get('a')!, 8);
    expect(registry.get('a')).toMatchObject({ concurrency: 8, free: 3 });
    registry.registered(registry.get('a')!, 2);
    expect(registry.get('a')).toMatchObject({ free: 2 });
  });
});
