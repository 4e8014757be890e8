import { describe, expect, it } from 'vitest';
import { SETTLED_IN_GRANT } from '../../src/protocol/messages.js';
import type { Outbound } from '../../src/tasks/decisions.js';
import { SETTLED_PER_MESSAGE, Settlements } from '../../src/tasks/settlements.js';
import type { TaskEvent } from '../../src/tasks/task-record.js';

const event = (
  kind: string,
  agentId: string,
  attempt: number,
  detail: unknown = null,
): TaskEvent => ({
  at: 0,
  kind,
  agentId,
  attempt,
  detail,
});

/** PROTOCOL §4.8, the hub's side alone: what it confirms to whom, and what it takes for a resend. */
describe('the hub’s settlements', () => {
  it('confirms a turn’s results in one message per agent, signed for it', () => {
    const settlements = new Settlements();
    settlements.settle('a-1', 'testing', { task_id: 't1', attempt: 1 });
    settlements.settle('a-2', 'deployment', { task_id: 't2', attempt: 3 });
    settlements.settle('a-1', 'testing', { task_id: 't3', attempt: 2 });
    settlements.settle('a-1', 'testing', { task_id: 't1', attempt: 1 }); // the same, resent
    const messages = settlements.take();
    expect(
      messages.map((m) => ({ params: m.params, recipient: m.recipient, payload: m.payload() })),
    ).toEqual([
      {
        params: { agent: 'a-1' },
        recipient: { name: 'a-1', role: 'testing' },
        payload: {
          results: [
            { task_id: 't1', attempt: 1 },
            { task_id: 't3', attempt: 2 },
          ],
        },
      },
      {
        params: { agent: 'a-2' },
        recipient: { name: 'a-2', role: 'deployment' },
        payload: { results: [{ task_id: 't2', attempt: 3 }] },
      },
    ]);
    expect(messages.every((m) => m.key === 'tasksSettled')).toBe(true);
    expect(settlements.take()).toEqual([]); // the next turn starts empty
  });

  /** A grant as the scheduler queues it (scheduler.ts grant()). */
  const grantTo = (agent: string, taskId: string): Outbound => ({
    key: 'tasksAssigned',
    params: { agent },
    recipient: { name: agent, role: 'testing' },
    payload: () => ({ task_id: taskId, agent_id: agent, attempt: 1 }),
  });

  it('confirms in the turn’s first grant to an agent that reads them there, and sends no message of their own', () => {
    const settlements = new Settlements();
    settlements.settle('a-1', 'testing', { task_id: 't1', attempt: 1 });
    settlements.settle('a-1', 'testing', { task_id: 't2', attempt: 4 });
    const first = grantTo('a-1', 't3');
    const second = grantTo('a-1', 't4');
    const other = grantTo('a-2', 't5');
    const turn = [other, first, second];

    expect(settlements.take(turn, () => true)).toEqual([]);
    expect(first.payload()).toEqual({
      task_id: 't3',
      agent_id: 'a-1',
      attempt: 1,
      settled: [
        { task_id: 't1', attempt: 1 },
        { task_id: 't2', attempt: 4 },
      ],
    });
    expect(second.payload()).not.toHaveProperty('settled');
    expect(other.payload()).not.toHaveProperty('settled');
  });

  it('sends the confirmations on their own to an agent that did not say it reads them in grants, or has no grant this turn', () => {
    const settlements = new Settlements();
    settlements.settle('old', 'testing', { task_id: 't1', attempt: 1 });
    settlements.settle('idle', 'testing', { task_id: 't2', attempt: 1 });
    const grant = grantTo('old', 't3');
    const messages = settlements.take([grant], (agentId) => agentId !== 'old');
    expect(messages.map((m) => [m.key, m.params])).toEqual([
      ['tasksSettled', { agent: 'old' }],
      ['tasksSettled', { agent: 'idle' }],
    ]);
    expect(grant.payload()).not.toHaveProperty('settled');
  });

  it('sends more confirmations than a grant carries on their own', () => {
    const settlements = new Settlements();
    for (let i = 0; i <= SETTLED_IN_GRANT; i++)
      settlements.settle('a-1', 'testing', { task_id: `t${i}`, attempt: 1 });
    const grant = grantTo('a-1', 'next');
    const messages = settlements.take([grant], () => true);
    expect(messages.map((m) => (m.payload() as { results: unknown[] }).results.length)).toEqual([
      SETTLED_IN_GRANT + 1,
    ]);
    expect(grant.payload()).not.toHaveProperty('settled');
  });

  it('splits a turn of more results than fit in one message', () => {
    const settlements = new Settlements();
    const count = SETTLED_PER_MESSAGE * 2 + 1;
    for (let i = 0; i < count; i++)
      settlements.settle('a-1', 'testing', { task_id: `t${i}`, attempt: 1 });
    const sizes = settlements
      .take()
      .map((m) => (m.payload() as { results: unknown[] }).results.length);
    expect(sizes).toEqual([SETTLED_PER_MESSAGE, SETTLED_PER_MESSAGE, 1]);
  });

  it('takes a result for a resend only when that agent’s attempt was applied or recorded stale for the same kind', () => {
    const settlements = new Settlements();
    const ref = { task_id: 't', attempt: 2 };
    const history = (events: TaskEvent[]) => () => events;
    expect(
      settlements.judgedBefore('complete', 'a', ref, history([event('complete', 'a', 2)])),
    ).toBe(true);
    expect(settlements.judgedBefore('failed', 'a', ref, history([event('failed', 'a', 2)]))).toBe(
      true,
    );
    expect(settlements.judgedBefore('release', 'a', ref, history([event('refused', 'a', 2)]))).toBe(
      true,
    );
    expect(
      settlements.judgedBefore(
        'complete',
        'a',
        ref,
        history([event('stale', 'a', 2, { ignored: 'complete' })]),
      ),
    ).toBe(true);
    // Not this agent's, not this attempt, or another kind of message: a first, judged as usual.
    expect(
      settlements.judgedBefore('complete', 'a', ref, history([event('complete', 'b', 2)])),
    ).toBe(false);
    expect(
      settlements.judgedBefore('complete', 'a', ref, history([event('complete', 'a', 1)])),
    ).toBe(false);
    expect(
      settlements.judgedBefore(
        'complete',
        'a',
        ref,
        history([event('stale', 'a', 2, { ignored: 'release' })]),
      ),
    ).toBe(false);
    expect(
      settlements.judgedBefore('complete', 'a', ref, history([event('assigned', 'a', 2)])),
    ).toBe(false);
    // Judged in this run (maybe in this very turn, not in the ledger yet): known from memory.
    settlements.judge('complete', 'a', ref);
    expect(settlements.judgedBefore('complete', 'a', ref, history([]))).toBe(true);
  });
});
