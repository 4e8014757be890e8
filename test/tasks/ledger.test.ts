import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaskSpec } from '../../src/protocol/messages.js';
import { Ledger } from '../../src/tasks/ledger.js';
import type { TaskRecord } from '../../src/tasks/task-record.js';

const T0 = 1_700_000_000_000;
const LEASE_MS = 30_000;
const MAX_ATTEMPTS = 3;

function spec(taskId: string, extra: Partial<TaskSpec> = {}): TaskSpec {
  return { task_id: taskId, type: 'testing.run', payload: {}, ...extra };
}

const ids = (tasks: TaskRecord[]): string[] => tasks.map((task) => task.taskId);

const open: Ledger[] = [];
function openLedger(path = ':memory:'): Ledger {
  const ledger = new Ledger(path);
  open.push(ledger);
  return ledger;
}

afterEach(() => {
  for (const ledger of open.splice(0)) {
    try {
      ledger.close();
    } catch {
      // already closed by the test
    }
  }
});

describe('Ledger (in memory)', () => {
  let ledger: Ledger;
  beforeEach(() => {
    ledger = openLedger();
  });

  /** Insert a task and return its stored record. */
  function add(taskId: string, extra: Partial<TaskSpec> = {}, now = T0): TaskRecord {
    const outcome = ledger.insert(spec(taskId, extra), 'cli', MAX_ATTEMPTS, now);
    if (!outcome.inserted) throw new Error(`${taskId} not inserted: ${outcome.reason}`);
    return outcome.task;
  }

  describe('insert', () => {
    it('records a new task as queued with no attempt yet', () => {
      const outcome = ledger.insert(
        spec('t1', { priority: 'high', payload: { x: 1 } }),
        'cli-1',
        MAX_ATTEMPTS,
        T0,
      );
      expect(outcome.inserted).toBe(true);
      expect(outcome.task).toMatchObject({
        taskId: 't1',
        type: 'testing.run',
        priority: 'high',
        state: 'queued',
        spec: { task_id: 't1', type: 'testing.run', payload: { x: 1 }, priority: 'high' },
        submittedBy: 'cli-1',
        parentTaskId: null,
        attempt: 0,
        failures: 0,
        maxAttempts: MAX_ATTEMPTS,
        agentId: null,
        leaseExpiresAt: null,
        notBefore: 0,
        lastError: null,
        createdAt: T0,
        updatedAt: T0,
      });
      expect(outcome.task.result).toBeUndefined();
      expect(ledger.get('t1')).toEqual(outcome.task);
    });

    it('gives a task without priority the normal priority', () => {
      expect(add('t1').priority).toBe('normal');
    });

    it("uses the task's own max_attempts over the default", () => {
      expect(add('t1', { max_attempts: 7 }).maxAttempts).toBe(7);
    });

    it('ignores a second task with the same task_id and keeps the first', () => {
      add('t1', { payload: { first: true } });
      const again = ledger.insert(
        spec('t1', { payload: { second: true } }),
        'other',
        MAX_ATTEMPTS,
        T0 + 5,
      );
      expect(again).toMatchObject({ inserted: false, reason: 'duplicate task_id' });
      expect(again.task.spec.payload).toEqual({ first: true });
      expect(ledger.get('t1')?.submittedBy).toBe('cli');
      expect(ledger.counts().queued).toBe(1);
      expect(ledger.history('t1').map((event) => event.kind)).toEqual(['submitted']);
    });

    it('ignores a task whose idempotency_key was seen before, under any task_id', () => {
      add('t1', { idempotency_key: 'deploy-v1.2' });
      const again = ledger.insert(
        spec('t2', { idempotency_key: 'deploy-v1.2' }),
        'cli',
        MAX_ATTEMPTS,
        T0 + 5,
      );
      expect(again).toMatchObject({ inserted: false, reason: 'duplicate idempotency_key' });
      expect(again.task.taskId).toBe('t1');
      expect(ledger.get('t2')).toBeUndefined();
      expect(ledger.history('t2')).toEqual([]);
    });

    it('records tasks with different idempotency keys, or none, separately', () => {
      add('t1', { idempotency_key: 'a' });
      add('t2', { idempotency_key: 'b' });
      add('t3');
      add('t4');
      expect(ledger.counts().queued).toBe(4);
    });

    it('is undefined for a task it never saw', () => {
      expect(ledger.get('nope')).toBeUndefined();
    });
  });

  describe('nextClaimable', () => {
    it('orders by priority high, normal, low, then by submission order', () => {
      add('low-1', { priority: 'low' });
      add('normal-1');
      add('high-1', { priority: 'high' });
      add('low-2', { priority: 'low' });
      add('normal-2', { priority: 'normal' });
      add('high-2', { priority: 'high' });
      expect(ids(ledger.nextClaimable(['testing.run'], T0, 10))).toEqual([
        'high-1',
        'high-2',
        'normal-1',
        'normal-2',
        'low-1',
        'low-2',
      ]);
    });

    it('breaks priority ties by submission order, not by the submission timestamp', () => {
      add('later-stamp', {}, T0 + 1_000);
      add('earlier-stamp', {}, T0);
      expect(ids(ledger.nextClaimable(['testing.run'], T0 + 1_000, 10))).toEqual([
        'later-stamp',
        'earlier-stamp',
      ]);
    });

    it('returns at most `limit` tasks, the best first', () => {
      add('a');
      add('b', { priority: 'high' });
      add('c');
      expect(ids(ledger.nextClaimable(['testing.run'], T0, 2))).toEqual(['b', 'a']);
    });

    it('returns nothing for a limit of 0 or no types', () => {
      add('a');
      expect(ledger.nextClaimable(['testing.run'], T0, 0)).toEqual([]);
      expect(ledger.nextClaimable([], T0, 10)).toEqual([]);
    });

    it('returns only tasks of the given types', () => {
      add('test', { type: 'testing.run' });
      add('deploy', { type: 'deployment.deploy' });
      add('cover', { type: 'testing.coverage' });
      expect(ids(ledger.nextClaimable(['testing.run', 'testing.coverage'], T0, 10))).toEqual([
        'test',
        'cover',
      ]);
      expect(ids(ledger.nextClaimable(['deployment.deploy'], T0, 10))).toEqual(['deploy']);
    });

    it('holds back a requeued task until its retry time, then offers it', () => {
      add('t1');
      const granted = ledger.grant('t1', 'agent-a', T0, LEASE_MS);
      ledger.requeue(
        granted,
        { reason: 'exit 1', countFailure: true, delayMs: 2_000, kind: 'failed' },
        T0 + 10,
      );
      expect(ledger.nextClaimable(['testing.run'], T0 + 2_009, 10)).toEqual([]);
      expect(ids(ledger.nextClaimable(['testing.run'], T0 + 2_010, 10))).toEqual(['t1']);
    });

    it('offers neither assigned, blocked, complete nor dead tasks', () => {
      add('queued');
      add('assigned');
      ledger.grant('assigned', 'agent-a', T0, LEASE_MS);
      add('blocked', { needs: ['queued'] });
      add('done');
      ledger.complete(ledger.grant('done', 'agent-a', T0, LEASE_MS), 'ok', T0);
      add('dead');
      ledger.kill(ledger.get('dead')!, 'bad task', T0);
      expect(ids(ledger.nextClaimable(['testing.run'], T0, 10))).toEqual(['queued']);
    });
  });

  describe('grant and fencing', () => {
    it('assigns the task to the agent under a lease with attempt 1', () => {
      add('t1');
      ledger.grant('t1', 'agent-a', T0 + 100, LEASE_MS);
      expect(ledger.get('t1')).toMatchObject({
        state: 'assigned',
        agentId: 'agent-a',
        attempt: 1,
        leaseExpiresAt: T0 + 100 + LEASE_MS,
        updatedAt: T0 + 100,
      });
    });

    it('increments the attempt number on each grant', () => {
      add('t1');
      const first = ledger.grant('t1', 'agent-a', T0, LEASE_MS);
      ledger.requeue(
        first,
        { reason: 'lease lapsed', countFailure: true, delayMs: 0, kind: 'lease_expired' },
        T0 + 1,
      );
      const second = ledger.grant('t1', 'agent-b', T0 + 2, LEASE_MS);
      expect(first.attempt).toBe(1);
      expect(second.attempt).toBe(2);
      expect(ledger.get('t1')?.attempt).toBe(2);
    });

    it('returns the task exactly as the ledger now stores it', () => {
      add('t1');
      const granted = ledger.grant('t1', 'agent-a', T0 + 100, LEASE_MS);
      expect(granted).toEqual(ledger.get('t1'));
    });

    it('throws for a task it does not know', () => {
      expect(() => ledger.grant('nope', 'agent-a', T0, LEASE_MS)).toThrow(
        'no task nope in the ledger',
      );
    });

    it('accepts only the live attempt by its own agent as current', () => {
      add('t1');
      ledger.grant('t1', 'agent-a', T0, LEASE_MS);
      const task = ledger.get('t1');
      expect(ledger.isCurrent(task, 1, 'agent-a')).toBe(true);
      expect(ledger.isCurrent(task, 2, 'agent-a')).toBe(false);
      expect(ledger.isCurrent(task, 0, 'agent-a')).toBe(false);
      expect(ledger.isCurrent(task, 1, 'agent-b')).toBe(false);
      expect(ledger.isCurrent(undefined, 1, 'agent-a')).toBe(false);
    });

    it('rejects the first attempt as stale once the task was granted again', () => {
      add('t1');
      const first = ledger.grant('t1', 'agent-a', T0, LEASE_MS);
      ledger.requeue(
        first,
        { reason: 'lease lapsed', countFailure: true, delayMs: 0, kind: 'lease_expired' },
        T0 + 1,
      );
      expect(ledger.isCurrent(ledger.get('t1'), 1, 'agent-a')).toBe(false);
      ledger.grant('t1', 'agent-a', T0 + 2, LEASE_MS);
      expect(ledger.isCurrent(ledger.get('t1'), 1, 'agent-a')).toBe(false);
      expect(ledger.isCurrent(ledger.get('t1'), 2, 'agent-a')).toBe(true);
    });

    it('treats no attempt of a completed task as current', () => {
      add('t1');
      ledger.complete(ledger.grant('t1', 'agent-a', T0, LEASE_MS), { ok: true }, T0 + 1);
      expect(ledger.isCurrent(ledger.get('t1'), 1, 'agent-a')).toBe(false);
    });

    it('lists the tasks assigned to an agent', () => {
      add('a');
      add('b');
      add('c');
      ledger.grant('a', 'agent-a', T0, LEASE_MS);
      ledger.grant('b', 'agent-b', T0, LEASE_MS);
      ledger.grant('c', 'agent-a', T0, LEASE_MS);
      expect(ids(ledger.assignedTo('agent-a')).sort()).toEqual(['a', 'c']);
      expect(ledger.assignedTo('agent-c')).toEqual([]);
    });
  });

  describe('leases', () => {
    it('renews the lease of the live attempt only', () => {
      add('t1');
      ledger.grant('t1', 'agent-a', T0, LEASE_MS);
      ledger.renewLease('t1', 2, 'agent-a', T0 + 99_000);
      ledger.renewLease('t1', 1, 'agent-b', T0 + 99_000);
      expect(ledger.get('t1')?.leaseExpiresAt).toBe(T0 + LEASE_MS);
      ledger.renewLease('t1', 1, 'agent-a', T0 + 50_000);
      expect(ledger.get('t1')?.leaseExpiresAt).toBe(T0 + 50_000);
    });

    it('lists leases that lapsed strictly before now', () => {
      add('short');
      add('long');
      ledger.grant('short', 'agent-a', T0, 1_000);
      ledger.grant('long', 'agent-a', T0, 5_000);
      expect(ledger.expiredLeases(T0 + 1_000)).toEqual([]);
      expect(ids(ledger.expiredLeases(T0 + 1_001))).toEqual(['short']);
      expect(ids(ledger.expiredLeases(T0 + 5_001)).sort()).toEqual(['long', 'short']);
    });

    it('does not list a lapsed lease once its task completed', () => {
      add('t1');
      ledger.complete(ledger.grant('t1', 'agent-a', T0, 1_000), 'ok', T0 + 500);
      expect(ledger.expiredLeases(T0 + 10_000)).toEqual([]);
    });

    it('extends every running lease to at least the given time, never shortening one', () => {
      add('short');
      add('long');
      add('waiting');
      ledger.grant('short', 'agent-a', T0, 1_000);
      ledger.grant('long', 'agent-b', T0, 100_000);
      ledger.extendAllLeases(T0 + 40_000);
      expect(ledger.get('short')?.leaseExpiresAt).toBe(T0 + 40_000);
      expect(ledger.get('long')?.leaseExpiresAt).toBe(T0 + 100_000);
      expect(ledger.get('waiting')?.leaseExpiresAt).toBeNull();
      expect(ledger.expiredLeases(T0 + 40_000)).toEqual([]);
    });
  });

  describe('requeue', () => {
    it('counts a failure, clears the grant and delays the retry', () => {
      add('t1');
      const granted = ledger.grant('t1', 'agent-a', T0, LEASE_MS);
      const state = ledger.requeue(
        granted,
        { reason: 'exit code 1', countFailure: true, delayMs: 1_500, kind: 'failed' },
        T0 + 10,
      );
      expect(state).toBe('queued');
      expect(ledger.get('t1')).toMatchObject({
        state: 'queued',
        failures: 1,
        attempt: 1,
        agentId: null,
        leaseExpiresAt: null,
        lastError: 'exit code 1',
        notBefore: T0 + 1_510,
      });
    });

    it('goes dead when the failures reach max_attempts', () => {
      add('t1', { max_attempts: 2 });
      const change = { reason: 'exit 1', countFailure: true, delayMs: 0, kind: 'failed' };
      const first = ledger.requeue(ledger.grant('t1', 'agent-a', T0, LEASE_MS), change, T0 + 1);
      const second = ledger.requeue(
        ledger.grant('t1', 'agent-a', T0 + 2, LEASE_MS),
        { ...change, reason: 'exit 2' },
        T0 + 3,
      );
      expect([first, second]).toEqual(['queued', 'dead']);
      expect(ledger.get('t1')).toMatchObject({
        state: 'dead',
        failures: 2,
        attempt: 2,
        agentId: null,
        lastError: 'exit 2',
      });
      expect(ledger.nextClaimable(['testing.run'], T0 + 1_000_000, 10)).toEqual([]);
    });

    it('goes dead after one failure when max_attempts is 1', () => {
      add('t1', { max_attempts: 1 });
      expect(
        ledger.requeue(
          ledger.grant('t1', 'agent-a', T0, LEASE_MS),
          { reason: 'boom', countFailure: true, delayMs: 0, kind: 'failed' },
          T0 + 1,
        ),
      ).toBe('dead');
    });

    it('requeues at once without counting a failure, however often', () => {
      add('t1', { max_attempts: 1 });
      for (let i = 0; i < 5; i++) {
        const state = ledger.requeue(
          ledger.grant('t1', `agent-${i}`, T0 + i, LEASE_MS),
          { reason: 'released', countFailure: false, delayMs: 0, kind: 'released' },
          T0 + i,
        );
        expect(state).toBe('queued');
      }
      expect(ledger.get('t1')).toMatchObject({ state: 'queued', failures: 0, attempt: 5 });
      expect(ids(ledger.nextClaimable(['testing.run'], T0 + 5, 10))).toEqual(['t1']);
    });

    it('records the requeue under its kind and then the death in the history', () => {
      add('t1', { max_attempts: 1 });
      ledger.requeue(
        ledger.grant('t1', 'agent-a', T0 + 1, LEASE_MS),
        { reason: 'agent lost', countFailure: true, delayMs: 0, kind: 'lease_expired' },
        T0 + 2,
      );
      expect(ledger.history('t1')).toEqual([
        { at: T0, kind: 'submitted', agentId: 'cli', attempt: null, detail: null },
        { at: T0 + 1, kind: 'assigned', agentId: 'agent-a', attempt: 1, detail: null },
        {
          at: T0 + 2,
          kind: 'lease_expired',
          agentId: 'agent-a',
          attempt: 1,
          detail: { reason: 'agent lost' },
        },
        { at: T0 + 2, kind: 'dead', agentId: null, attempt: 1, detail: { reason: 'agent lost' } },
      ]);
    });
  });

  describe('complete and kill', () => {
    it('stores the result and ends the lease on completion', () => {
      add('t1');
      const granted = ledger.grant('t1', 'agent-a', T0, LEASE_MS);
      ledger.complete(granted, { commands: [{ exit_code: 0 }] }, T0 + 7);
      expect(ledger.get('t1')).toMatchObject({
        state: 'complete',
        leaseExpiresAt: null,
        result: { commands: [{ exit_code: 0 }] },
        updatedAt: T0 + 7,
      });
      expect(ledger.history('t1').at(-1)).toEqual({
        at: T0 + 7,
        kind: 'complete',
        agentId: 'agent-a',
        attempt: 1,
        detail: { commands: [{ exit_code: 0 }] },
      });
    });

    it('kills a task at once, whatever its failures, with the reason', () => {
      add('t1', { max_attempts: 10 });
      ledger.kill(ledger.grant('t1', 'agent-a', T0, LEASE_MS), 'no LLM provider', T0 + 1);
      expect(ledger.get('t1')).toMatchObject({
        state: 'dead',
        failures: 0,
        agentId: null,
        leaseExpiresAt: null,
        lastError: 'no LLM provider',
      });
      expect(ledger.history('t1').at(-1)).toMatchObject({
        kind: 'dead',
        agentId: 'agent-a',
        detail: { reason: 'no LLM provider' },
      });
    });
  });

  describe('needs', () => {
    it('records a task with needs as blocked, not claimable', () => {
      add('build');
      const deploy = add('deploy', { needs: ['build'] });
      expect(deploy.state).toBe('blocked');
      expect(ids(ledger.nextClaimable(['testing.run'], T0, 10))).toEqual(['build']);
    });

    it('records a task with an empty needs list as queued', () => {
      expect(add('t1', { needs: [] }).state).toBe('queued');
    });

    it('lists each need once with its state, null for a task never submitted', () => {
      add('build');
      add('deploy', { needs: ['build', 'lint', 'build'] });
      expect(ledger.needsOf('deploy')).toEqual(
        expect.arrayContaining([
          { taskId: 'build', state: 'queued', result: undefined },
          { taskId: 'lint', state: null, result: undefined },
        ]),
      );
      expect(ledger.needsOf('deploy')).toHaveLength(2);
    });

    it('gives the result of a completed need', () => {
      add('build');
      add('deploy', { needs: ['build'] });
      ledger.complete(ledger.grant('build', 'agent-a', T0, LEASE_MS), { artifact: 'a.tgz' }, T0);
      expect(ledger.needsOf('deploy')).toEqual([
        { taskId: 'build', state: 'complete', result: { artifact: 'a.tgz' } },
      ]);
    });

    it('has no needs for a task that named none', () => {
      add('t1');
      expect(ledger.needsOf('t1')).toEqual([]);
    });

    it('lists the blocked tasks that need a task', () => {
      add('build');
      add('deploy', { needs: ['build'] });
      add('docs', { needs: ['build', 'lint'] });
      add('other', { needs: ['lint'] });
      expect(ids(ledger.blockedDependents('build')).sort()).toEqual(['deploy', 'docs']);
      expect(ids(ledger.blockedDependents('lint')).sort()).toEqual(['docs', 'other']);
    });

    it('unblocks a blocked task into the queue and stops listing it as blocked', () => {
      add('build');
      const deploy = add('deploy', { needs: ['build'] });
      ledger.unblock(deploy, T0 + 3);
      expect(ledger.get('deploy')?.state).toBe('queued');
      expect(ledger.blockedDependents('build')).toEqual([]);
      expect(ids(ledger.nextClaimable(['testing.run'], T0 + 3, 10))).toEqual(['build', 'deploy']);
      expect(ledger.history('deploy').at(-1)).toEqual({
        at: T0 + 3,
        kind: 'unblocked',
        agentId: null,
        attempt: null,
        detail: null,
      });
    });
  });

  describe('queries', () => {
    it('counts tasks in every state, zero included', () => {
      expect(ledger.counts()).toEqual({ blocked: 0, queued: 0, assigned: 0, complete: 0, dead: 0 });
      add('q1');
      add('q2');
      add('a');
      ledger.grant('a', 'agent-a', T0, LEASE_MS);
      add('b', { needs: ['q1'] });
      add('c');
      ledger.complete(ledger.grant('c', 'agent-a', T0, LEASE_MS), null, T0);
      add('d');
      ledger.kill(ledger.get('d')!, 'bad', T0);
      expect(ledger.counts()).toEqual({ blocked: 1, queued: 2, assigned: 1, complete: 1, dead: 1 });
    });

    it('finds the children of a task through parent_task_id, in submission order', () => {
      add('parent');
      add('child-2', { parent_task_id: 'parent' });
      add('unrelated');
      add('child-1', { parent_task_id: 'parent' });
      add('grandchild', { parent_task_id: 'child-2' });
      const children = ledger.childrenOf('parent');
      expect(ids(children)).toEqual(['child-2', 'child-1']);
      expect(children[0]?.parentTaskId).toBe('parent');
      expect(ledger.childrenOf('unrelated')).toEqual([]);
    });

    it('lists tasks newest first, filtered by state and limited', () => {
      add('a');
      add('b');
      add('c');
      ledger.grant('b', 'agent-a', T0, LEASE_MS);
      expect(ids(ledger.list({}))).toEqual(['c', 'b', 'a']);
      expect(ids(ledger.list({ state: 'queued' }))).toEqual(['c', 'a']);
      expect(ids(ledger.list({ limit: 1 }))).toEqual(['c']);
    });

    it('keeps a history of every step in order, with JSON details', () => {
      add('t1');
      ledger.addEvent('t1', T0 + 1, 'stale', 'agent-z', 9, { ignored: 'complete' });
      expect(ledger.history('t1')).toEqual([
        { at: T0, kind: 'submitted', agentId: 'cli', attempt: null, detail: null },
        {
          at: T0 + 1,
          kind: 'stale',
          agentId: 'agent-z',
          attempt: 9,
          detail: { ignored: 'complete' },
        },
      ]);
      expect(ledger.history('nope')).toEqual([]);
    });
  });
});

describe('Ledger (on disk)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sheri-ledger-'));
  });
  afterEach(() => {
    for (const ledger of open.splice(0)) ledger.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps tasks, states, needs and history across a close and reopen', () => {
    const path = join(dir, 'hub.sqlite');
    const first = openLedger(path);
    first.insert(spec('build', { priority: 'high', idempotency_key: 'k1' }), 'cli', 3, T0);
    first.insert(spec('deploy', { needs: ['build'], parent_task_id: 'build' }), 'cli', 3, T0);
    first.insert(spec('waiting'), 'cli', 3, T0);
    first.complete(first.grant('build', 'agent-a', T0 + 1, LEASE_MS), { ok: 1 }, T0 + 2);
    const before = {
      build: first.get('build'),
      deploy: first.get('deploy'),
      waiting: first.get('waiting'),
      history: first.history('build'),
      counts: first.counts(),
    };
    first.close();
    open.splice(open.indexOf(first), 1);

    const second = openLedger(path);
    expect({
      build: second.get('build'),
      deploy: second.get('deploy'),
      waiting: second.get('waiting'),
      history: second.history('build'),
      counts: second.counts(),
    }).toEqual(before);
    expect(second.needsOf('deploy')).toEqual([
      { taskId: 'build', state: 'complete', result: { ok: 1 } },
    ]);
    expect(ids(second.childrenOf('build'))).toEqual(['deploy']);
  });

  it('still ignores a resubmission after a reopen', () => {
    const path = join(dir, 'hub.sqlite');
    const first = openLedger(path);
    first.insert(spec('t1', { idempotency_key: 'k1' }), 'cli', 3, T0);
    first.close();
    open.splice(open.indexOf(first), 1);

    const second = openLedger(path);
    expect(second.insert(spec('t1'), 'cli', 3, T0)).toMatchObject({
      inserted: false,
      reason: 'duplicate task_id',
    });
    expect(second.insert(spec('t2', { idempotency_key: 'k1' }), 'cli', 3, T0)).toMatchObject({
      inserted: false,
      reason: 'duplicate idempotency_key',
    });
  });

  it('continues the attempt numbers of a running task after a reopen', () => {
    const path = join(dir, 'hub.sqlite');
    const first = openLedger(path);
    first.insert(spec('t1'), 'cli', 3, T0);
    first.grant('t1', 'agent-a', T0, LEASE_MS);
    first.close();
    open.splice(open.indexOf(first), 1);

    const second = openLedger(path);
    const task = second.get('t1');
    expect(second.isCurrent(task, 1, 'agent-a')).toBe(true);
    second.requeue(
      task!,
      { reason: 'hub restart', countFailure: false, delayMs: 0, kind: 'released' },
      T0 + 1,
    );
    expect(second.grant('t1', 'agent-b', T0 + 2, LEASE_MS).attempt).toBe(2);
  });

  it('commits each change before returning, so another connection sees it unclosed', () => {
    const path = join(dir, 'hub.sqlite');
    const writer = openLedger(path);
    writer.insert(spec('t1'), 'cli', 3, T0);
    writer.grant('t1', 'agent-a', T0, LEASE_MS);
    const reader = openLedger(path);
    expect(reader.get('t1')).toMatchObject({ state: 'assigned', attempt: 1, agentId: 'agent-a' });
  });

  it('creates the folder of the ledger file when it is missing', () => {
    const path = join(dir, 'nested', 'deeper', 'hub.sqlite');
    const ledger = openLedger(path);
    ledger.insert(spec('t1'), 'cli', 3, T0);
    expect(ledger.get('t1')?.state).toBe('queued');
  });
});
