import { afterEach, describe, expect, it } from 'vitest';
import {
  ApprovalDesk,
  MAX_PENDING_PER_AGENT,
  MAX_REQUESTS_PER_ATTEMPT,
  type AttemptBook,
} from '../../src/tasks/approval-desk.js';
import { Ledger } from '../../src/tasks/ledger.js';
import { isCurrentAttempt } from '../../src/tasks/task-record.js';
import { recordTask } from '../helpers/decisions.js';

const T0 = Date.parse('2026-11-21T15:00:00Z');

describe('the approval desk', () => {
  let ledger: Ledger;
  afterEach(() => ledger.close());

  /** Whose attempt is live, from the ledger; history recorded there, as the hub's turn does. */
  function bookOf(clock: () => number): AttemptBook {
    const asked = new Map<string, number>();
    return {
      holds: (taskId, attempt, agentId) => isCurrentAttempt(ledger.get(taskId), attempt, agentId),
      countRequest: (taskId, attempt) => {
        const key = `${taskId}#${attempt}`;
        asked.set(key, (asked.get(key) ?? 0) + 1);
        return asked.get(key)!;
      },
      note: (taskId, event, agentId, attempt, detail) =>
        ledger.apply([{ kind: 'note', at: clock(), taskId, event, agentId, attempt, detail }]),
    };
  }

  /** A task granted to agent d-1, asking about one command; a clock the test moves. */
  function asking(id = 'rollout') {
    ledger = new Ledger(':memory:');
    let now = T0;
    const desk = new ApprovalDesk(
      ledger,
      bookOf(() => now),
      () => now,
    );
    recordTask(
      ledger,
      { task_id: id, type: 'deployment.deploy', payload: {}, commands: ['kubectl delete pod x'] },
      'operator',
      now,
    );
    ledger.apply([
      {
        kind: 'grant',
        at: now,
        taskId: id,
        agentId: 'd-1',
        attempt: 1,
        leaseExpiresAt: now + 30_000,
      },
    ]);
    const request = {
      approval_id: `${id}.1.abcdef01`,
      task_id: id,
      attempt: 1,
      command: 'kubectl delete pod x',
      rule: 'kubectl * delete *',
      reason: 'asks',
      deadline: new Date(T0 + 60_000).toISOString(),
    };
    expect(desk.request('d-1', request).ok).toBe(true);
    return { desk, request, at: (ms: number) => (now = T0 + ms) };
  }

  it('lists what waits, with who asked, the command, the rule and the deadline', () => {
    const { desk } = asking();
    expect(desk.list()).toEqual([
      {
        approval_id: 'rollout.1.abcdef01',
        task_id: 'rollout',
        attempt: 1,
        agent_id: 'd-1',
        command: 'kubectl delete pod x',
        rule: 'kubectl * delete *',
        deadline: '2026-11-21T15:01:00.000Z',
      },
    ]);
  });

  it('tells a second answer who answered first, and when', () => {
    const { desk, at } = asking();
    at(5_000);
    expect(desk.answer('alice', { approval_id: 'rollout.1.abcdef01', approved: true }).ok).toBe(
      true,
    );
    expect(desk.list()).toEqual([]);
    expect(desk.answer('bob', { approval_id: 'rollout.1.abcdef01', approved: false })).toEqual({
      ok: false,
      code: 'NOT_AUTHORIZED',
      reason:
        'approval rollout.1.abcdef01 was already answered: approved by alice at 2026-11-21T15:00:05.000Z',
    });
  });

  it('tells an answer past the deadline that the request expired, and an unknown id that it is unknown', () => {
    const { desk, at } = asking();
    at(61_000);
    expect(desk.list()).toEqual([]);
    const late = desk.answer('alice', { approval_id: 'rollout.1.abcdef01', approved: true });
    expect(late).toMatchObject({
      ok: false,
      reason: expect.stringMatching(
        /^approval rollout\.1\.abcdef01 expired at 2026-11-21T15:01:00\.000Z/,
      ),
    });
    const unknown = desk.answer('alice', { approval_id: 'nope', approved: true });
    expect(unknown).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^no approval nope is waiting/),
    });
  });

  it('remembers after a restart what was answered on a live attempt', () => {
    const { desk } = asking();
    expect(desk.answer('alice', { approval_id: 'rollout.1.abcdef01', approved: false }).ok).toBe(
      true,
    );
    const restarted = new ApprovalDesk(
      ledger,
      bookOf(() => T0 + 10_000),
      () => T0 + 10_000,
    );
    restarted.restore();
    expect(
      restarted.answer('bob', { approval_id: 'rollout.1.abcdef01', approved: true }),
    ).toMatchObject({
      ok: false,
      reason: 'approval rollout.1.abcdef01 was already answered: denied by alice',
    });
  });

  it('refuses an agent its requests past MAX_PENDING_PER_AGENT, so one agent cannot fill the desk for the others', () => {
    const { desk, request } = asking();
    for (let i = 1; i < MAX_PENDING_PER_AGENT; i++) {
      expect(desk.request('d-1', { ...request, approval_id: `rollout.1.more-${i}` }).ok).toBe(true);
    }
    expect(desk.request('d-1', { ...request, approval_id: 'rollout.1.one-too-many' })).toEqual({
      ok: false,
      code: 'NOT_AUTHORIZED',
      reason: `d-1 already has ${MAX_PENDING_PER_AGENT} approval requests waiting, the most one agent may; this one is refused`,
    });
    // Asking again about one that waits is no new request.
    expect(desk.request('d-1', request).ok).toBe(true);
    expect(desk.list()).toHaveLength(MAX_PENDING_PER_AGENT);
  });

  /** The approval requests recorded in the task's history. */
  function requestsRecorded(taskId = 'rollout'): number {
    return ledger.history(taskId).filter((event) => event.kind === 'approval_requested').length;
  }

  it('records a request asked again while it waits once, so a retrying agent adds no rows', () => {
    const { desk, request } = asking();
    for (let i = 0; i < 50; i++) expect(desk.request('d-1', request).ok).toBe(true);
    expect(requestsRecorded()).toBe(1);
    expect(desk.list()).toHaveLength(1);
  });

  it('refuses an attempt its requests past MAX_REQUESTS_PER_ATTEMPT, so asking and letting each expire cannot grow the ledger without end', () => {
    const { desk, request, at } = asking();
    let refused: ReturnType<ApprovalDesk['request']> | undefined;
    for (let i = 1; i <= MAX_REQUESTS_PER_ATTEMPT + 50 && !refused; i++) {
      // Each asks with a deadline a millisecond away and lets it lapse before the next.
      at(i * 10);
      const verdict = desk.request('d-1', {
        ...request,
        approval_id: `rollout.1.again-${i}`,
        deadline: new Date(T0 + i * 10 + 1).toISOString(),
      });
      if (!verdict.ok) refused = verdict;
    }
    expect(refused).toEqual({
      ok: false,
      code: 'NOT_AUTHORIZED',
      reason: `attempt 1 of task rollout has asked for approval ${MAX_REQUESTS_PER_ATTEMPT} times, the most one attempt may; this one is refused`,
    });
    expect(requestsRecorded()).toBe(MAX_REQUESTS_PER_ATTEMPT);
  });
});
