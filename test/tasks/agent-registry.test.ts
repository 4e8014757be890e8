import { beforeEach, describe, expect, it } from 'vitest';
import { AgentRegistry, demandOf } from '../../src/tasks/agent-registry.js';

const T0 = 1_700_000_000_000;

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
    const agent = registry.reportCapacity('a', 'testing', 3, running, T0);
    expect(agent).toMatchObject({ free: 3, running });
  });

  it('marks an agent gone with no free slots and nothing running', () => {
    registry.reportCapacity('a', 'testing', 2, [{ task_id: 't1', attempt: 1 }], T0);
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
    const agent = registry.reportCapacity('a', 'testing', 2, [{ task_id: 't1', attempt: 1 }], T0);
    expect(demandOf(agent, [{ task_id: 't1', attempt: 1 }])).toBe(2);
  });

  it('subtracts grants the agent had not seen when it reported', () => {
    const agent = registry.reportCapacity('a', 'testing', 3, [{ task_id: 't1', attempt: 1 }], T0);
    const assigned = [
      { task_id: 't1', attempt: 1 },
      { task_id: 't2', attempt: 1 },
      { task_id: 't3', attempt: 1 },
    ];
    expect(demandOf(agent, assigned)).toBe(1);
  });

  it('counts a new attempt of a task the agent runs an older attempt of as unseen', () => {
    const agent = registry.reportCapacity('a', 'testing', 1, [{ task_id: 't1', attempt: 1 }], T0);
    expect(demandOf(agent, [{ task_id: 't1', attempt: 2 }])).toBe(0);
  });

  it('never goes below zero', () => {
    const agent = registry.reportCapacity('a', 'testing', 1, [], T0);
    const assigned = [
      { task_id: 't1', attempt: 1 },
      { task_id: 't2', attempt: 1 },
    ];
    expect(demandOf(agent, assigned)).toBe(0);
  });

  it('is zero for an agent that reported no free slot', () => {
    expect(demandOf(registry.reportCapacity('a', 'testing', 0, [], T0), [])).toBe(0);
  });

  it('is zero for a gone agent', () => {
    registry.reportCapacity('a', 'testing', 4, [], T0);
    const agent = registry.markGone('a')!;
    // Even with stale capacity numbers, a gone agent gets nothing.
    agent.free = 4;
    expect(demandOf(agent, [])).toBe(0);
  });

  it('is zero for a draining agent', () => {
    const agent = registry.reportCapacity('a', 'testing', 4, [], T0);
    agent.state = 'draining';
    expect(demandOf(agent, [])).toBe(0);
  });
});
