import { describe, expect, it } from 'vitest';
import { reduce } from '../../src/dashboard/reduce.js';
import {
  agentCells,
  selectAgents,
  selectFeed,
  selectTasks,
  taskCells,
} from '../../src/dashboard/select.js';
import { createState, type DashboardEvent } from '../../src/dashboard/view-model.js';
import { heartbeat, message, taskLife } from '../helpers/dashboard-events.js';

const T0 = Date.parse('2026-11-21T15:00:00Z');

function fold(events: DashboardEvent[]) {
  const state = createState({}, T0);
  for (const event of events) reduce(state, event);
  return state;
}

/** done-1, done-2 complete; run-1 running; wait-1 queued; dead-1 dead. */
function mixedState() {
  const done1 = taskLife('done-1', 'tester', T0);
  const done2 = taskLife('done-2', 'tester', T0 + 10);
  const run = taskLife('run-1', 'deployer', T0 + 20, { type: 'deployment.deploy' });
  const wait = taskLife('wait-1', 'tester', T0 + 30);
  const dead = taskLife('dead-1', 'tester', T0 + 40);
  return fold([
    heartbeat('tester', T0),
    heartbeat('deployer', T0, { role: 'deployment' }),
    done1.submitted,
    done1.assigned,
    done1.complete,
    run.submitted,
    run.assigned,
    run.progress,
    done2.submitted,
    done2.assigned,
    done2.complete,
    wait.submitted,
    dead.submitted,
    message(
      'tasks/dead',
      { task_id: 'dead-1', attempts: 0, error: 'needed task x is dead' },
      T0 + 50,
    ),
  ]);
}

describe('the dashboard selectors', () => {
  it('lists running tasks first, then queued ones, then finished ones newest first', () => {
    const { rows, matched } = selectTasks(mixedState(), { limit: 10 });
    expect(rows.map((t) => t.taskId)).toEqual(['run-1', 'wait-1', 'dead-1', 'done-2', 'done-1']);
    expect(matched).toBe(5);
  });

  it('shows a window of rows and still says how many there are', () => {
    const { rows, matched } = selectTasks(mixedState(), { offset: 1, limit: 2 });
    expect(rows.map((t) => t.taskId)).toEqual(['wait-1', 'dead-1']);
    expect(matched).toBe(5);
  });

  it('filters tasks, agents and the feed by a case-insensitive substring', () => {
    const state = mixedState();
    const tasks = selectTasks(state, { filter: 'DEPLOY', limit: 10 });
    expect(tasks.rows.map((t) => t.taskId)).toEqual(['run-1']);
    expect(tasks.matched).toBe(1);
    expect(
      selectAgents(state, { filter: 'deployment', limit: 10 }).rows.map((a) => a.agentId),
    ).toEqual(['deployer']);
    const feed = selectFeed(state, { filter: 'dead-1', limit: 10 }).map((line) => line.topic);
    expect(feed).toEqual(['tasks/new', 'tasks/dead']);
  });

  it('lists agents by id with those that left last', () => {
    const state = fold([
      heartbeat('b-agent', T0),
      heartbeat('c-agent', T0),
      heartbeat('a-agent', T0),
      message('agents/shutdown', { reason: 'received SIGTERM' }, T0 + 1, 'a-agent'),
    ]);
    const rows = selectAgents(state, { limit: 10 }).rows;
    expect(rows.map((a) => [a.agentId, a.state])).toEqual([
      ['b-agent', 'idle'],
      ['c-agent', 'idle'],
      ['a-agent', 'gone'],
    ]);
  });

  it("puts an agent's task, heartbeat age, memory, sandbox, tokens and cost in its row", () => {
    const usage = { input_tokens: 9_000, output_tokens: 3_000, cost_usd: 0.25 };
    const state = fold([
      heartbeat('llm-1', T0, {
        role: 'general',
        usage,
        running: [{ task_id: 'gen-1', attempt: 1 }],
        sandbox: { kind: 'none', network: false, read_only: false, cgroup: 'none', note: 'x' },
      }),
      { kind: 'tick', at: T0 + 4_200 },
    ]);
    expect(agentCells(state.agents.get('llm-1')!, state.now)).toEqual([
      'llm-1',
      'general',
      'busy',
      'gen-1',
      '4s ago',
      '94 MiB',
      'NONE',
      '12k',
      '$0.250',
    ]);
  });

  it("puts a task's state, agent, attempt, age and progress in its row", () => {
    const state = mixedState();
    reduce(state, { kind: 'tick', at: T0 + 65_000 });
    expect(taskCells(state.tasks.get('run-1')!, state.now)).toEqual([
      'run-1',
      'deployment.deploy',
      'running',
      'deployer',
      '1',
      '1m04s',
      '0% running 1/1: echo hi',
    ]);
    // A dead task shows why it died rather than its last progress.
    expect(taskCells(state.tasks.get('dead-1')!, state.now).at(-1)).toBe('needed task x is dead');
  });
});
