import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaskSpec } from '../../src/protocol/messages.js';
import type { Admit, Decision, Grant } from '../../src/tasks/decisions.js';
import { Ledger } from '../../src/tasks/ledger.js';
import type { TaskRecord } from '../../src/tasks/task-record.js';
import { admitDecision } from '../helpers/decisions.js';

const T0 = 1_700_000_000_000;
const LEASE_MS = 30_000;
const MAX_ATTEMPTS = 3;

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

/** The decision the scheduler makes when a task is submitted. */
function admit(taskId: string, extra: Partial<TaskSpec> = {}, at = T0): Admit {
  return admitDecision(
    { task_id: taskId, type: 'testing.run', payload: {}, ...extra },
    {
      at,
      maxAttempts: MAX_ATTEMPTS,
    },
  );
}

function grant(taskId: string, agentId: string, attempt = 1, at = T0): Grant {
  return { kind: 'grant', at, taskId, agentId, attempt, leaseExpiresAt: at + LEASE_MS };
}

describe('Ledger', () => {
  let ledger: Ledger;
  beforeEach(() => {
    ledger = openLedger();
  });

  const apply = (...decisions: Decision[]): void => ledger.apply(decisions);

  describe('admit', () => {
    it('records a new task as queued with no attempt yet, and its first history event', () => {
      apply(admit('t1', { priority: 'high', payload: { x: 1 } }));
      expect(ledger.get('t1')).toMatchObject({
        taskId: 't1',
        type: 'testing.run',
        priority: 'high',
        state: 'queued',
        spec: { task_id: 't1', type: 'testing.run', payload: { x: 1 }, priority: 'high' },
        submittedBy: 'cli',
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
      expect(ledger.get('t1')?.result).toBeUndefined();
      expect(ledger.history('t1')).toEqual([
        { at: T0, kind: 'submitted', agentId: 'cli', attempt: null, detail: null },
      ]);
    });

    it('finds a task by its idempotency key, and says when none has it', () => {
      apply(admit('t1', { idempotency_key: 'deploy-v1.2' }));
      expect(ledger.withKey('deploy-v1.2')?.taskId).toBe('t1');
      expect(ledger.withKey('other')).toBeUndefined();
      expect(ledger.get('nope')).toBeUndefined();
      expect(ledger.stateOf('t1')).toBe('queued');
      expect(ledger.stateOf('nope')).toBeUndefined();
    });

    it('records a task with needs as blocked, each need once, null for one never submitted', () => {
      apply(admit('build'), admit('deploy', { needs: ['build', 'lint', 'build'] }));
      expect(ledger.get('deploy')?.state).toBe('blocked');
      expect(ledger.needsOf('deploy')).toEqual(
        expect.arrayContaining([
          { taskId: 'build', state: 'queued', result: undefined },
          { taskId: 'lint', state: null, result: undefined },
        ]),
      );
      expect(ledger.needsOf('deploy')).toHaveLength(2);
      expect(ledger.needsOf('build')).toEqual([]);
    });
  });

  describe('grant and ack', () => {
    it('assigns the attempt to the agent under a lease, unacknowledged', () => {
      apply(admit('t1'), grant('t1', 'agent-a', 1, T0 + 100));
      expect(ledger.get('t1')).toMatchObject({
        state: 'assigned',
        agentId: 'agent-a',
        attempt: 1,
        leaseExpiresAt: T0 + 100 + LEASE_MS,
        acked: false,
        updatedAt: T0 + 100,
      });
      expect(ledger.history('t1').at(-1)).toEqual({
        at: T0 + 100,
        kind: 'assigned',
        agentId: 'agent-a',
        attempt: 1,
        detail: null,
      });
      expect(ledger.wasGranted('t1', 1, 'agent-a')).toBe(true);
      expect(ledger.wasGranted('t1', 1, 'agent-b')).toBe(false);
    });

    it('records the acknowledgement of the live attempt by its agent only', () => {
      apply(admit('t1'), grant('t1', 'agent-a'));
      apply({ kind: 'ack', taskId: 't1', attempt: 2, agentId: 'agent-a' });
      apply({ kind: 'ack', taskId: 't1', attempt: 1, agentId: 'agent-b' });
      expect(ledger.get('t1')?.acked).toBe(false);
      apply({ kind: 'ack', taskId: 't1', attempt: 1, agentId: 'agent-a' });
      expect(ledger.get('t1')?.acked).toBe(true);
    });

    it('treats only the live attempt by its own agent as current', () => {
      apply(admit('t1'), grant('t1', 'agent-a'));
      const task = ledger.get('t1');
      expect(ledger.isCurrent(task, 1, 'agent-a')).toBe(true);
      expect(ledger.isCurrent(task, 2, 'agent-a')).toBe(false);
      expect(ledger.isCurrent(task, 1, 'agent-b')).toBe(false);
      expect(ledger.isCurrent(undefined, 1, 'agent-a')).toBe(false);
    });
  });

  describe('complete', () => {
    it('stores the result, ends the lease and unblocks what waited on it, in one decision', () => {
      apply(admit('build'), admit('deploy', { needs: ['build'] }), grant('build', 'agent-a'));
      apply({
        kind: 'complete',
        at: T0 + 7,
        taskId: 'build',
        agentId: 'agent-a',
        attempt: 1,
        result: { artifact: 'a.tgz' },
        unblocked: ['deploy'],
      });
      expect(ledger.get('build')).toMatchObject({
        state: 'complete',
        agentId: 'agent-a',
        leaseExpiresAt: null,
        result: { artifact: 'a.tgz' },
        updatedAt: T0 + 7,
      });
      expect(ledger.get('deploy')?.state).toBe('queued');
      expect(ledger.history('deploy').at(-1)).toEqual({
        at: T0 + 7,
        kind: 'unblocked',
        agentId: null,
        attempt: null,
        detail: null,
      });
      expect(ledger.needsOf('deploy')).toEqual([
        { taskId: 'build', state: 'complete', result: { artifact: 'a.tgz' } },
      ]);
    });
  });

  describe('requeue', () => {
    it('counts a failure, clears the grant, delays the retry, and records what the attempt left', () => {
      apply(admit('t1'), grant('t1', 'agent-a'));
      apply({
        kind: 'requeue',
        at: T0 + 10,
        taskId: 't1',
        agentId: 'agent-a',
        attempt: 1,
        event: 'failed',
        reason: 'exit code 1',
        failures: 1,
        notBefore: T0 + 1_510,
        result: { commands: [] },
        deaths: [],
      });
      expect(ledger.get('t1')).toMatchObject({
        state: 'queued',
        failures: 1,
        attempt: 1,
        agentId: null,
        leaseExpiresAt: null,
        lastError: 'exit code 1',
        notBefore: T0 + 1_510,
      });
      expect(ledger.history('t1').map((event) => event.kind)).toEqual([
        'submitted',
        'assigned',
        'result',
        'failed',
      ]);
    });

    it('records the requeue under its kind, then the death, then the deaths of what needed it', () => {
      apply(admit('t1', { max_attempts: 1 }), admit('after', { needs: ['t1'] }));
      apply(grant('t1', 'agent-a', 1, T0 + 1));
      apply({
        kind: 'requeue',
        at: T0 + 2,
        taskId: 't1',
        agentId: 'agent-a',
        attempt: 1,
        event: 'lease_expired',
        reason: 'agent lost',
        failures: 1,
        notBefore: T0 + 2,
        deaths: [
          { taskId: 't1', attempt: 1, agentId: null, reason: 'agent lost' },
          {
            taskId: 'after',
            attempt: 0,
            agentId: null,
            reason: 'needed task t1 is dead: agent lost',
          },
        ],
      });
      expect(ledger.get('t1')).toMatchObject({
        state: 'dead',
        failures: 1,
        lastError: 'agent lost',
      });
      expect(ledger.history('t1').slice(2)).toEqual([
        {
          at: T0 + 2,
          kind: 'lease_expired',
          agentId: 'agent-a',
          attempt: 1,
          detail: { reason: 'agent lost' },
        },
        { at: T0 + 2, kind: 'dead', agentId: null, attempt: 1, detail: { reason: 'agent lost' } },
      ]);
      expect(ledger.get('after')).toMatchObject({
        state: 'dead',
        lastError: 'needed task t1 is dead: agent lost',
      });
    });
  });

  describe('kill and note', () => {
    it('kills a task at once with the reason, and every death that came with it', () => {
      apply(admit('t1', { max_attempts: 10 }), admit('t2', { needs: ['t1'] }));
      apply(grant('t1', 'agent-a'));
      apply({
        kind: 'kill',
        at: T0 + 1,
        deaths: [
          { taskId: 't1', attempt: 1, agentId: 'agent-a', reason: 'no LLM provider' },
          { taskId: 't2', attempt: 0, agentId: null, reason: 'needed task t1 is dead' },
        ],
      });
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
      expect(ledger.get('t2')?.state).toBe('dead');
    });

    it('keeps a history of every step in order, with JSON details', () => {
      apply(admit('t1'));
      apply({
        kind: 'note',
        at: T0 + 1,
        taskId: 't1',
        event: 'stale',
        agentId: 'agent-z',
        attempt: 9,
        detail: { ignored: 'complete' },
      });
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

  describe('a batch of decisions', () => {
    it('records all of a batch or, when one decision fails, none of it', () => {
      apply(admit('build'), admit('deploy', { needs: ['build'] }), grant('build', 'agent-a'));
      const completion: Decision = {
        kind: 'complete',
        at: T0 + 5,
        taskId: 'build',
        agentId: 'agent-a',
        attempt: 1,
        result: 'ok',
        unblocked: ['deploy'],
      };
      // A second admission of one task id breaks the UNIQUE constraint after the completion.
      expect(() => apply(completion, admit('fresh'), admit('fresh'))).toThrow(/UNIQUE/);
      expect(ledger.get('build')?.state).toBe('assigned');
      expect(ledger.get('deploy')?.state).toBe('blocked');
      expect(ledger.get('fresh')).toBeUndefined();
      expect(ledger.history('build').map((event) => event.kind)).toEqual(['submitted', 'assigned']);
    });
  });

  describe('queries', () => {
    it('counts tasks in every state, zero included', () => {
      expect(ledger.counts()).toEqual({ blocked: 0, queued: 0, assigned: 0, complete: 0, dead: 0 });
      apply(admit('q1'), admit('q2'), admit('a'), grant('a', 'agent-a'));
      apply(admit('b', { needs: ['q1'] }), admit('d'));
      apply({
        kind: 'kill',
        at: T0,
        deaths: [{ taskId: 'd', attempt: 0, agentId: null, reason: 'bad' }],
      });
      expect(ledger.counts()).toEqual({ blocked: 1, queued: 2, assigned: 1, complete: 0, dead: 1 });
    });

    it('lists the unfinished tasks oldest first, for the hub to rebuild its memory', () => {
      apply(admit('a'), admit('b', { needs: ['a'] }), admit('c'), grant('c', 'agent-a'));
      apply(admit('d'));
      apply({
        kind: 'kill',
        at: T0,
        deaths: [{ taskId: 'd', attempt: 0, agentId: null, reason: 'x' }],
      });
      expect(ids(ledger.unfinished())).toEqual(['a', 'b', 'c']);
    });

    it('finds the children of a task through parent_task_id, in submission order', () => {
      apply(admit('parent'), admit('child-2', { parent_task_id: 'parent' }), admit('unrelated'));
      apply(admit('child-1', { parent_task_id: 'parent' }));
      const children = ledger.childrenOf('parent');
      expect(ids(children)).toEqual(['child-2', 'child-1']);
      expect(children[0]?.parentTaskId).toBe('parent');
      expect(ledger.childrenOf('unrelated')).toEqual([]);
    });

    it('lists tasks newest first, filtered by state and limited', () => {
      apply(admit('a'), admit('b'), admit('c'), grant('b', 'agent-a'));
      expect(ids(ledger.list({}))).toEqual(['c', 'b', 'a']);
      expect(ids(ledger.list({ state: 'queued' }))).toEqual(['c', 'a']);
      expect(ids(ledger.list({ limit: 1 }))).toEqual(['c']);
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

  function reopen(ledger: Ledger, path: string): Ledger {
    ledger.close();
    open.splice(open.indexOf(ledger), 1);
    return openLedger(path);
  }

  it('keeps tasks, states, needs and history across a close and reopen', () => {
    const path = join(dir, 'hub.sqlite');
    const first = openLedger(path);
    first.apply([
      admit('build', { priority: 'high', idempotency_key: 'k1' }),
      admit('deploy', { needs: ['build'], parent_task_id: 'build' }),
      admit('waiting'),
      grant('build', 'agent-a', 1, T0 + 1),
    ]);
    first.apply([
      {
        kind: 'complete',
        at: T0 + 2,
        taskId: 'build',
        agentId: 'agent-a',
        attempt: 1,
        result: { ok: 1 },
        unblocked: [],
      },
    ]);
    const before = {
      build: first.get('build'),
      deploy: first.get('deploy'),
      waiting: first.get('waiting'),
      history: first.history('build'),
      counts: first.counts(),
    };
    const second = reopen(first, path);
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
    expect(second.withKey('k1')?.taskId).toBe('build');
    expect(ids(second.childrenOf('build'))).toEqual(['deploy']);
  });

  it('gives the highest seq ever used after a reopen, even once those tasks are pruned', () => {
    const path = join(dir, 'hub.sqlite');
    const first = openLedger(path);
    const one = admit('one');
    const last = admit('last');
    first.apply([one, last]);
    first.apply([
      {
        kind: 'kill',
        at: T0,
        deaths: [{ taskId: 'last', attempt: 0, agentId: null, reason: 'x' }],
      },
    ]);
    expect(first.prune(T0 + 1)).toBe(1);
    const second = reopen(first, path);
    expect(second.lastSeq()).toBe(last.task.seq);
  });

  it('commits each batch before returning, so another connection sees it unclosed', () => {
    const path = join(dir, 'hub.sqlite');
    const writer = openLedger(path);
    writer.apply([admit('t1'), grant('t1', 'agent-a')]);
    const reader = openLedger(path);
    expect(reader.get('t1')).toMatchObject({ state: 'assigned', attempt: 1, agentId: 'agent-a' });
  });

  it('creates the folder of the ledger file when it is missing', () => {
    const ledger = openLedger(join(dir, 'nested', 'deeper', 'hub.sqlite'));
    ledger.apply([admit('t1')]);
    expect(ledger.get('t1')?.state).toBe('queued');
  });
});
