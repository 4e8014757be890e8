import { describe, expect, it } from 'vitest';
import { reduce, tasksPerMinute } from '../../src/dashboard/reduce.js';
import { agentCells } from '../../src/dashboard/select.js';
import { createState, type DashboardEvent } from '../../src/dashboard/view-model.js';
import type { TaskSummary } from '../../src/tasks/hub-queries.js';
import { heartbeat, message, raw, taskLife } from '../helpers/dashboard-events.js';

const T0 = Date.parse('2026-11-21T15:00:00Z');

function fold(events: DashboardEvent[], limits = {}) {
  const state = createState(limits, T0);
  for (const event of events) reduce(state, event);
  return state;
}

function summary(taskId: string, state: TaskSummary['state'], at = T0): TaskSummary {
  const iso = new Date(at).toISOString();
  return {
    task_id: taskId,
    type: 'testing.run',
    priority: 'normal',
    state,
    agent_id: state === 'queued' ? null : 'tester',
    attempt: state === 'queued' ? 0 : 1,
    failures: 0,
    parent_task_id: null,
    created_at: iso,
    updated_at: iso,
    last_error: null,
  };
}

describe('the dashboard view-model', () => {
  it('follows a task from tasks/new through its grant and progress to complete, counting it done', () => {
    const life = taskLife('t1', 'tester', T0);
    const state = fold([heartbeat('tester', T0), life.submitted]);
    expect(state.tasks.get('t1')).toMatchObject({
      state: 'queued',
      type: 'testing.run',
      work: 'echo hi',
    });

    reduce(state, life.assigned);
    expect(state.tasks.get('t1')).toMatchObject({
      state: 'assigned',
      agentId: 'tester',
      attempt: 1,
    });
    expect(state.agents.get('tester')).toMatchObject({ state: 'busy', running: ['t1'] });

    reduce(state, life.progress);
    expect(state.tasks.get('t1')).toMatchObject({
      state: 'running',
      progress: { message: 'running 1/1: echo hi', percent: 0 },
    });

    reduce(state, life.complete);
    expect(state.tasks.get('t1')?.state).toBe('complete');
    expect(state.agents.get('tester')).toMatchObject({ state: 'idle', running: [] });
    expect(state.counters).toMatchObject({ complete: 1, failed: 0, dead: 0 });
    expect(state.tasks.get('t1')?.history.map((h) => h.text)).toEqual([
      't1 testing.run normal: 1 command: echo hi',
      't1 -> tester attempt 1 (lease 30 s)',
      't1#1 0% running 1/1: echo hi',
      't1#1 complete in 5 ms, exit 0',
    ]);
  });

  it('ignores the result of an attempt the hub has since granted again', () => {
    const first = taskLife('t1', 'old-agent', T0);
    const second = taskLife('t1', 'new-agent', T0 + 100, { attempt: 2 });
    const state = fold([first.submitted, first.assigned, second.assigned, first.complete]);
    expect(state.tasks.get('t1')).toMatchObject({
      state: 'assigned',
      agentId: 'new-agent',
      attempt: 2,
    });
    expect(state.counters.complete).toBe(0);
    reduce(state, second.complete);
    expect(state.counters.complete).toBe(1);
  });

  it('requeues a task on a retryable failure, counts the failure, and shows it dead after tasks/dead', () => {
    const life = taskLife('t1', 'tester', T0);
    const failed = message(
      'tasks/failed',
      { task_id: 't1', attempt: 1, duration_ms: 9, error: 'exited 3', retryable: true },
      T0 + 10,
      'tester',
    );
    const state = fold([life.submitted, life.assigned, failed]);
    expect(state.tasks.get('t1')).toMatchObject({ state: 'queued', lastError: 'exited 3' });
    expect(state.counters.failed).toBe(1);

    reduce(
      state,
      message('tasks/dead', { task_id: 't1', attempts: 3, error: 'exited 3' }, T0 + 20),
    );
    expect(state.tasks.get('t1')?.state).toBe('dead');
    expect(state.counters).toMatchObject({ failed: 1, dead: 1, complete: 0 });
  });

  it("does not count twice a completion the hub's snapshot already counted", () => {
    const life = taskLife('t1', 'tester', T0);
    const state = fold([
      {
        kind: 'snapshot',
        at: T0,
        tasks: [summary('t1', 'complete'), summary('t2', 'queued')],
        counts: { complete: 7, dead: 2, queued: 1 },
        agents: [],
      },
      life.complete, // held while the snapshot loaded, replayed after it
    ]);
    expect(state.hub.snapshot).toBe('loaded');
    expect(state.counters).toMatchObject({ complete: 7, dead: 2 });
    expect(state.byState.queued.has('t2')).toBe(true);
  });

  it('keeps going after a malformed message, counting it and saying why in the feed', () => {
    const life = taskLife('t1', 'tester', T0);
    const state = fold([
      raw('tasks/new', 'not json', T0),
      message('tasks/assigned/tester', { task_id: 't1' }, T0 + 1),
      life.submitted,
    ]);
    expect(state.counters.invalid).toBe(2);
    expect(state.tasks.get('t1')?.state).toBe('queued');
    const feed = state.feed.toArray().map((line) => line.text);
    expect(feed[0]).toMatch(/^unreadable \(BAD_JSON, 8 bytes\): not JSON/);
    expect(feed[1]).toMatch(/^unreadable \(SCHEMA_INVALID, \d+ bytes\): payload.agent_id/);
  });

  it('marks an agent gone on its Last Will, and present again when it speaks', () => {
    const state = fold([heartbeat('tester', T0), raw('agents/tester/status', '', T0 + 5)]);
    expect(state.agents.get('tester')?.state).toBe('gone');
    reduce(state, heartbeat('tester', T0 + 10));
    expect(state.agents.get('tester')?.state).toBe('idle');
  });

  it("shows an agent's tokens and cost from its heartbeats", () => {
    const usage = {
      input_tokens: 1200,
      output_tokens: 300,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 500,
      cost_usd: 0.0421,
    };
    const state = fold([heartbeat('llm-1', T0, { role: 'general', usage })]);
    expect(state.agents.get('llm-1')).toMatchObject({
      role: 'general',
      usage,
      rssBytes: 94 * 1048576,
    });
  });

  it("shows an agent's tokens, cost and sandbox from the hub's snapshot, before its next heartbeat", () => {
    const usage = {
      input_tokens: 900,
      output_tokens: 100,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      cost_usd: 0.0028,
    };
    const sandbox = { kind: 'bwrap', network: false, read_only: true, cgroup: 'v2' } as const;
    const state = fold([
      {
        kind: 'snapshot',
        at: T0,
        tasks: [],
        counts: {},
        agents: [
          {
            agent_id: 'llm-1',
            role: 'review',
            state: 'idle',
            running: [],
            free: 1,
            last_heartbeat: new Date(T0 - 4_000).toISOString(),
            last_seen: new Date(T0 - 4_000).toISOString(),
            uptime_s: 60,
            rss_bytes: 80 * 1048576,
            usage,
            sandbox,
          },
        ],
      },
    ]);
    expect(state.agents.get('llm-1')).toMatchObject({ role: 'review', usage, sandbox });
    expect(agentCells(state.agents.get('llm-1')!, T0)).toContain('bwrap ro');
  });

  it('lists an approval until its decision arrives, and drops one whose deadline passed', () => {
    const ask = (id: string, deadline: number): DashboardEvent =>
      approvalAsked('approvals/request', id, deadline);
    const state = fold([ask('t1.1.aaaa', T0 + 60_000), ask('t1.1.bbbb', T0 + 1_000)]);
    expect([...state.approvals.keys()]).toEqual(['t1.1.aaaa', 't1.1.bbbb']);
    reduce(state, { kind: 'tick', at: T0 + 2_000 });
    expect([...state.approvals.keys()]).toEqual(['t1.1.aaaa']);
    reduce(
      state,
      message(
        'approvals/t1.1.aaaa/decision',
        { approval_id: 't1.1.aaaa', approved: true },
        T0 + 3_000,
        'cli-1',
        'cli',
      ),
    );
    expect(state.approvals.size).toBe(0);
  });

  it('takes a retained pending request as waiting, ignores an expired one, and drops one cleared', () => {
    const pending = (id: string, deadline: number): DashboardEvent =>
      approvalAsked(`approvals/${id}/pending`, id, deadline);
    const state = fold([pending('t1.1.live', T0 + 60_000), pending('t1.1.dead', T0 - 1)]);
    expect([...state.approvals.keys()]).toEqual(['t1.1.live']);
    expect(state.approvals.get('t1.1.live')).toMatchObject({ agentId: 'tester', taskId: 't1' });
    reduce(state, raw('approvals/t1.1.live/pending', '', T0 + 1_000));
    expect(state.approvals.size).toBe(0);
    // Neither the retained twin nor its clearing repeats the request in the feed.
    expect(state.feed.toArray().map((line) => line.topic)).toEqual([]);
  });

  it('keeps only the newest feed lines and finished tasks, and counts every one', () => {
    const events: DashboardEvent[] = [];
    for (let i = 0; i < 50; i++) {
      const life = taskLife(`t${i}`, 'tester', T0 + i * 10);
      events.push(life.submitted, life.assigned, life.complete);
    }
    const state = fold(events, { feedLines: 20, finishedTasks: 10 });
    expect(state.feed.size).toBe(20);
    expect(state.feed.toArray().at(-1)?.text).toBe('t49#1 complete in 5 ms, exit 0');
    expect(state.tasks.size).toBe(10);
    expect([...state.tasks.keys()]).toEqual(Array.from({ length: 10 }, (_, i) => `t${40 + i}`));
    expect(state.counters.complete).toBe(50);
  });

  it('queues a blocked task once the task it needs completes', () => {
    const need = taskLife('build', 'tester', T0);
    const dependent = message(
      'tasks/new',
      { task_id: 'deploy', type: 'deployment.deploy', payload: {}, needs: ['build'] },
      T0 + 1,
      'cli-1',
      'cli',
    );
    const state = fold([need.submitted, dependent]);
    expect(state.tasks.get('deploy')?.state).toBe('blocked');
    reduce(state, need.assigned);
    reduce(state, need.complete);
    expect(state.tasks.get('deploy')?.state).toBe('queued');
  });

  it('says when no hub answered, and still follows the bus', () => {
    const life = taskLife('t1', 'tester', T0);
    const state = fold([
      { kind: 'snapshot-failed', at: T0, reason: 'no hub answered on swarm "s" within 5 s' },
      life.assigned,
    ]);
    expect(state.hub).toMatchObject({
      snapshot: 'unavailable',
      note: 'no hub answered on swarm "s" within 5 s',
    });
    expect(state.tasks.get('t1')).toMatchObject({ state: 'assigned', type: 'testing.run' });
  });

  it('counts tasks per minute over the last minute only', () => {
    const events: DashboardEvent[] = [];
    for (const [i, at] of [T0, T0 + 30_000, T0 + 70_000, T0 + 80_000].entries()) {
      const life = taskLife(`t${i}`, 'tester', at);
      events.push(life.submitted, life.assigned, life.complete);
    }
    const state = fold(events);
    expect(tasksPerMinute(state)).toBe(3); // at T0 + 80 s, the one at T0 fell out
  });

  it("keeps heartbeats, claims and the hub's receipts for results out of the event feed", () => {
    const state = fold([
      heartbeat('tester', T0),
      message('tasks/claim', { free: 1, running: [] }, T0, 'tester'),
      message('tasks/settled/tester', { results: [{ task_id: 't1', attempt: 1 }] }, T0, 'hub'),
    ]);
    expect(state.feed.size).toBe(0);
    expect(state.agents.get('tester')?.free).toBe(1);
  });
});

/** An approval request of task t1 by agent `tester`, sent at T0 on `local`. */
function approvalAsked(local: string, id: string, deadline: number): DashboardEvent {
  return message(
    local,
    {
      approval_id: id,
      task_id: 't1',
      attempt: 1,
      command: 'touch x',
      rule: 'touch *',
      reason: 'asks',
      deadline: new Date(deadline).toISOString(),
    },
    T0,
    'tester',
  );
}
