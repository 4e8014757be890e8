import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaskSpec } from '../../src/protocol/messages.js';
import { AgentRegistry } from '../../src/tasks/agent-registry.js';
import { SwarmBudget } from '../../src/tasks/budget.js';
import { Ledger } from '../../src/tasks/ledger.js';
import { recordTask } from '../helpers/decisions.js';

const NOON = Date.parse('2026-11-21T12:00:00Z');
const prompt = (task_id: string, extra: Partial<TaskSpec> = {}): TaskSpec => ({
  task_id,
  type: 'code.review',
  payload: {},
  prompt: 'Review it',
  ...extra,
});
const costing = (task_id: string, attempt: number, cost_usd: number) => ({
  task_id,
  attempt,
  result: { usage: { input_tokens: 1, output_tokens: 1, cost_usd } },
});

describe('the swarm budget (hub side)', () => {
  let ledger: Ledger;
  let registry: AgentRegistry;
  beforeEach(() => {
    ledger = new Ledger(':memory:');
    registry = new AgentRegistry();
  });
  afterEach(() => ledger.close());

  it('grants prompt tasks what is left of the day, then refuses them once it is spent; commands cost nothing', () => {
    const budget = new SwarmBudget({ dailyUsd: 1 }, ledger, registry);
    expect(budget.allowance(prompt('a'), NOON)).toEqual({ ok: true, maxCostUsd: 1 });
    budget.record(costing('a', 1, 0.7), 'review-1', NOON);
    // A redelivered result of the same attempt is counted once.
    budget.record(costing('a', 1, 0.7), 'review-1', NOON);
    expect(budget.allowance(prompt('b'), NOON)).toEqual({ ok: true, maxCostUsd: 0.3 });
    budget.record(costing('b', 1, 0.3), 'review-1', NOON);
    expect(budget.allowance(prompt('c'), NOON)).toEqual({
      ok: false,
      reason:
        "the swarm budget for 2026-11-21 (UTC) is spent: $1.0000 of $1 (budget.dailyUsd in the hub's sheri.config.json)",
    });
    const commands: TaskSpec = {
      task_id: 'd',
      type: 'testing.run',
      payload: {},
      commands: ['true'],
    };
    expect(budget.allowance(commands, NOON)).toEqual({ ok: true });
    // The next UTC day starts afresh.
    expect(budget.allowance(prompt('e'), NOON + 86_400_000)).toEqual({ ok: true, maxCostUsd: 1 });
    expect(budget.status(NOON)).toMatchObject({ spent_today_usd: 1, daily_usd: 1, refused: 1 });
  });

  it('counts what running tasks reported in heartbeats, but not twice once their result is in', () => {
    const budget = new SwarmBudget({ dailyUsd: 1 }, ledger, registry);
    recordTask(ledger, prompt('long'), 'cli', NOON);
    registry.reportCapacity(
      'review-1',
      'review',
      0,
      [{ task_id: 'long', attempt: 1, cost_usd: 0.4 }],
      NOON,
    );
    expect(budget.allowance(prompt('next'), NOON)).toEqual({ ok: true, maxCostUsd: 0.6 });
    budget.record(costing('long', 1, 0.5), 'review-1', NOON);
    expect(budget.status(NOON)).toMatchObject({ spent_today_usd: 0.5, running_usd: 0 });
  });

  it('holds a flow — a task and the subtasks delegated from it — to its own budget', () => {
    const budget = new SwarmBudget({ flowUsd: 0.5 }, ledger, registry);
    recordTask(ledger, prompt('root'), 'cli', NOON);
    recordTask(ledger, prompt('root.sub-1', { parent_task_id: 'root' }), 'review-1', NOON);
    budget.record(costing('root', 1, 0.2), 'review-1', NOON);
    budget.record(costing('root.sub-1', 1, 0.3), 'testing-1', NOON);
    const grandchild = prompt('root.sub-1.sub-2', { parent_task_id: 'root.sub-1' });
    expect(budget.allowance(grandchild, NOON)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('the budget of flow root is spent: $0.5000 of $0.5'),
    });
    // Another flow is not held by this one's spending.
    expect(budget.allowance(prompt('other'), NOON)).toEqual({ ok: true, maxCostUsd: 0.5 });
  });

  it('ignores results without a cost, and is off without a configured limit', () => {
    const budget = new SwarmBudget({}, ledger, registry);
    expect(budget.configured).toBe(false);
    expect(budget.record({ task_id: 'x', attempt: 1, result: { commands: [] } }, 'a', NOON)).toBe(
      false,
    );
    expect(budget.allowance(prompt('x'), NOON)).toEqual({ ok: true });
  });
});
