import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logging/logger.js';
import type { TaskSpec } from '../../src/protocol/messages.js';
import { DEFAULT_TASK_TYPES } from '../../src/protocol/task-types.js';
import { AgentRegistry } from '../../src/tasks/agent-registry.js';
import type { Decision } from '../../src/tasks/decisions.js';
import { Ledger } from '../../src/tasks/ledger.js';
import { Scheduler } from '../../src/tasks/scheduler.js';

const T0 = 1_700_000_000_000;
const SETTINGS = {
  leaseMs: 30_000,
  maxAttempts: 3,
  retryBaseMs: 1_000,
  retryMaxMs: 60_000,
  maxPayloadBytes: 256 * 1024,
  taskTypes: DEFAULT_TASK_TYPES,
};

interface Sent {
  topic: string;
  payload: Record<string, unknown>;
}

/** A scheduler on an in-memory ledger and a clock the test moves; no bus. */
class Rig {
  now = T0;
  readonly ledger = new Ledger(':memory:');
  readonly registry = new AgentRegistry();
  scheduler = this.make();
  readonly decisions: Decision[] = [];

  make(): Scheduler {
    return new Scheduler(this.ledger, this.registry, SETTINGS, silentLogger(), () => this.now);
  }

  /** What the hub does at the end of a turn: dispatch, record, then the messages to send. */
  turn(): Sent[] {
    this.scheduler.dispatch();
    const batch = this.scheduler.takeBatch();
    this.ledger.apply(batch.decisions);
    this.decisions.push(...batch.decisions);
    this.scheduler.committed();
    return batch.messages.map((message) => ({
      topic: [message.key, ...Object.values(message.params ?? {})].join(':'),
      payload: message.payload() as Record<string, unknown>,
    }));
  }

  submit(taskId: string, extra: Partial<TaskSpec> = {}): void {
    const outcome = this.scheduler.admit(
      { task_id: taskId, type: 'testing.run', payload: {}, ...extra },
      'cli',
    );
    if (!outcome.inserted) throw new Error(`${taskId}: ${outcome.reason}`);
  }

  /** An agent registered with room to spare (concurrency 10), reporting `free` slots. */
  agent(agentId: string, free = 1, role = 'testing'): void {
    this.registry.registered(this.registry.touch(agentId, role, this.now), 10);
    this.scheduler.reportCapacity(agentId, role, free, []);
  }

  grants(sent: Sent[]): string[] {
    return sent
      .filter((message) => message.topic.startsWith('tasksAssigned'))
      .map((message) => `${String(message.payload.task_id)}>${String(message.payload.agent_id)}`);
  }

  /** The agent finishes its live attempt of the task and reports its room after it. */
  complete(taskId: string, agentId: string, free = 1): void {
    const { attempt } = this.scheduler.live.get(taskId)!;
    const task = this.scheduler.attemptOf({ task_id: taskId, attempt }, agentId)!;
    this.scheduler.complete(task, { ok: taskId }, agentId);
    this.scheduler.reportCapacity(agentId, 'testing', free, []);
  }
}

describe('Scheduler', () => {
  let rig: Rig;
  beforeEach(() => {
    rig = new Rig();
  });
  afterEach(() => rig.ledger.close());

  it('grants high priority before normal before low, oldest first within a priority', () => {
    for (const [id, priority] of [
      ['low-1', 'low'],
      ['normal-1', 'normal'],
      ['high-1', 'high'],
      ['normal-2', 'normal'],
      ['high-2', 'high'],
    ] as const) {
      rig.submit(id, { priority });
    }
    rig.turn();
    const order: string[] = [];
    rig.agent('a');
    for (let i = 0; i < 5; i++) {
      const [grant] = rig.grants(rig.turn());
      order.push(grant!.split('>')[0]!);
      rig.complete(order.at(-1)!, 'a');
    }
    expect(order).toEqual(['high-1', 'high-2', 'normal-1', 'normal-2', 'low-1']);
  });

  it('grants an agent only the types its role may run', () => {
    rig.submit('deploy', { type: 'deployment.deploy' });
    rig.submit('test', { type: 'testing.run' });
    rig.agent('tester', 2);
    expect(rig.grants(rig.turn())).toEqual(['test>tester']);
    rig.agent('deployer', 1, 'deployment');
    expect(rig.grants(rig.turn())).toEqual(['deploy>deployer']);
  });

  it('serves the agent that waited longest first, one task at a time round the line', () => {
    rig.agent('a', 2);
    rig.agent('b', 2);
    rig.turn();
    for (const id of ['t1', 't2', 't3']) rig.submit(id);
    expect(rig.grants(rig.turn())).toEqual(['t1>a', 't2>b', 't3>a']);
  });

  it('grants no more than the free slots less the grants the agent had not seen yet', () => {
    for (const id of ['t1', 't2', 't3']) rig.submit(id);
    rig.agent('a', 2);
    expect(rig.grants(rig.turn())).toEqual(['t1>a', 't2>a']);
    // A claim sent before the agent saw its grants still says 2 free: nothing more goes to it.
    rig.agent('a', 2);
    expect(rig.grants(rig.turn())).toEqual([]);
    // Listing both as running with one slot free, it gets the third.
    rig.scheduler.reportCapacity('a', 'testing', 1, [
      { task_id: 't1', attempt: 1 },
      { task_id: 't2', attempt: 1 },
    ]);
    expect(rig.grants(rig.turn())).toEqual(['t3>a']);
  });

  it('records the acknowledgement once, when the agent first lists the attempt', () => {
    rig.submit('t1');
    rig.agent('a');
    rig.turn();
    const running = [{ task_id: 't1', attempt: 1 }];
    rig.scheduler.renew('a', running);
    rig.scheduler.renew('a', running);
    rig.scheduler.renew('b', running);
    rig.turn();
    expect(rig.decisions.filter((d) => d.kind === 'ack')).toEqual([
      { kind: 'ack', taskId: 't1', agentId: 'a', attempt: 1 },
    ]);
    expect(rig.ledger.get('t1')?.acked).toBe(true);
  });

  it('unblocks a dependent in the same decision as the completion it waited for', () => {
    rig.submit('build');
    rig.submit('deploy', { needs: ['build'] });
    rig.agent('a');
    rig.turn();
    rig.complete('build', 'a');
    const sent = rig.turn();
    const completion = rig.decisions.find((d) => d.kind === 'complete');
    expect(completion).toMatchObject({ taskId: 'build', unblocked: ['deploy'] });
    // Granted in the turn it was unblocked, with the result of what it needed.
    const grant = sent.find((message) => message.topic === 'tasksAssigned:a');
    expect(grant?.payload).toMatchObject({ task_id: 'deploy', inputs: { build: { ok: 'build' } } });
  });

  it('kills every blocked task that needed a dead one, transitively, in one decision', () => {
    rig.submit('a', { max_attempts: 1 });
    rig.submit('b', { needs: ['a'] });
    rig.submit('c', { needs: ['b'] });
    rig.agent('x');
    rig.turn();
    const task = rig.scheduler.attemptOf({ task_id: 'a', attempt: 1 }, 'x')!;
    rig.scheduler.fail(
      task,
      { task_id: 'a', attempt: 1, duration_ms: 1, error: 'boom', retryable: true },
      'x',
    );
    const sent = rig.turn();
    const requeue = rig.decisions.find((d) => d.kind === 'requeue');
    expect(requeue).toMatchObject({
      deaths: [
        { taskId: 'a', reason: 'boom' },
        { taskId: 'b', reason: 'needed task a is dead: boom' },
        { taskId: 'c', reason: 'needed task b is dead: needed task a is dead: boom' },
      ],
    });
    expect(sent.filter((m) => m.topic === 'tasksDead').map((m) => m.payload.task_id)).toEqual([
      'a',
      'b',
      'c',
    ]);
    expect(rig.ledger.counts()).toMatchObject({ dead: 3, blocked: 0 });
  });

  it('kills at once a task submitted after what it needs died', () => {
    rig.submit('a', { max_attempts: 1 });
    rig.agent('x');
    rig.turn();
    const task = rig.scheduler.attemptOf({ task_id: 'a', attempt: 1 }, 'x')!;
    rig.scheduler.fail(
      task,
      { task_id: 'a', attempt: 1, duration_ms: 1, error: 'e', retryable: false },
      'x',
    );
    rig.turn();
    rig.submit('late', { needs: ['a'] });
    rig.turn();
    expect(rig.ledger.get('late')).toMatchObject({
      state: 'dead',
      lastError: 'needed task a is dead',
    });
  });

  it('requeues a lapsed lease by the injected clock, counting it only when acknowledged', () => {
    rig.submit('acked');
    rig.submit('unheard');
    rig.agent('a', 2);
    rig.turn();
    rig.scheduler.renew('a', [{ task_id: 'acked', attempt: 1 }]);
    rig.now += SETTINGS.leaseMs;
    rig.scheduler.expireLeases();
    rig.turn();
    expect(rig.ledger.get('acked')?.state).toBe('assigned');
    rig.now += 1;
    rig.scheduler.expireLeases();
    rig.turn();
    expect(rig.ledger.get('acked')).toMatchObject({ state: 'queued', failures: 1 });
    expect(rig.ledger.get('unheard')).toMatchObject({ state: 'queued', failures: 0 });
    // The agent let a grant lapse unheard: it gets nothing more until it reports again.
    expect(rig.registry.get('a')?.free).toBe(0);
  });

  it('holds a failed task back for its backoff, then grants it again', () => {
    rig.submit('flaky');
    rig.agent('a');
    rig.turn();
    const task = rig.scheduler.attemptOf({ task_id: 'flaky', attempt: 1 }, 'a')!;
    rig.scheduler.fail(
      task,
      { task_id: 'flaky', attempt: 1, duration_ms: 1, error: 'x', retryable: true },
      'a',
    );
    rig.agent('a');
    expect(rig.grants(rig.turn())).toEqual([]);
    rig.now += SETTINGS.retryMaxMs;
    rig.scheduler.expireLeases();
    expect(rig.grants(rig.turn())).toEqual(['flaky>a']);
    expect(rig.ledger.get('flaky')).toMatchObject({ attempt: 2, failures: 1 });
  });

  it('sees a duplicate task id or idempotency key, also within one turn and just finished', () => {
    rig.submit('t1', { idempotency_key: 'k' });
    expect(
      rig.scheduler.admit({ task_id: 't1', type: 'testing.run', payload: {} }, 'cli'),
    ).toMatchObject({
      inserted: false,
      reason: 'duplicate task_id',
    });
    expect(
      rig.scheduler.admit(
        { task_id: 't2', type: 'testing.run', payload: {}, idempotency_key: 'k' },
        'cli',
      ),
    ).toMatchObject({
      inserted: false,
      reason: 'duplicate idempotency_key',
      task: { taskId: 't1' },
    });
    rig.agent('a');
    rig.turn();
    rig.complete('t1', 'a');
    // Finished in this turn, not yet recorded: still a duplicate, said with its new state.
    expect(
      rig.scheduler.admit({ task_id: 't1', type: 'testing.run', payload: {} }, 'cli'),
    ).toMatchObject({
      inserted: false,
      task: { state: 'complete' },
    });
    rig.turn();
    expect(
      rig.scheduler.admit(
        { task_id: 't3', type: 'testing.run', payload: {}, idempotency_key: 'k' },
        'cli',
      ),
    ).toMatchObject({
      inserted: false,
      task: { taskId: 't1', state: 'complete' },
    });
  });

  it('dead-letters a task granted ten times beyond its attempts without an outcome', () => {
    rig.submit('potato', { max_attempts: 1 });
    for (let i = 1; i <= 11; i++) {
      rig.agent('a');
      rig.turn();
      const task = rig.scheduler.attemptOf({ task_id: 'potato', attempt: i }, 'a');
      if (!task) break;
      rig.scheduler.requeue(task, 'released by a: busy', false, 'released');
    }
    rig.turn();
    expect(rig.ledger.get('potato')).toMatchObject({ state: 'dead', attempt: 11 });
  });

  it('makes no decision at all for idle agents with nothing queued, however many', () => {
    for (let i = 0; i < 5_000; i++) rig.agent(`idle-${i}`);
    rig.turn();
    for (let i = 0; i < 5_000; i++) rig.scheduler.reportCapacity(`idle-${i}`, 'testing', 1, []);
    expect(rig.turn()).toEqual([]);
    expect(rig.decisions).toEqual([]);
    rig.submit('one');
    expect(rig.grants(rig.turn())).toEqual(['one>idle-0']);
  });

  it('rebuilds its queue, grants and waiting tasks from the ledger after a restart', () => {
    rig.submit('queued-1');
    rig.submit('running');
    rig.submit('blocked', { needs: ['running'] });
    rig.agent('a');
    rig.turn();
    expect(rig.ledger.get('queued-1')?.state).toBe('assigned');
    rig.submit('queued-2');
    rig.turn();
    // A new hub on the same ledger, ten minutes later.
    rig.now += 600_000;
    rig.scheduler = rig.make();
    rig.scheduler.load(rig.ledger.unfinished());
    const held = rig.scheduler.attemptOf({ task_id: 'queued-1', attempt: 1 }, 'a');
    expect(held?.leaseExpiresAt).toBe(rig.now + SETTINGS.leaseMs);
    rig.scheduler.reportCapacity('a', 'testing', 1, [{ task_id: 'queued-1', attempt: 1 }]);
    expect(rig.grants(rig.turn())).toEqual(['running>a']);
    rig.scheduler.reportCapacity('a', 'testing', 0, [
      { task_id: 'queued-1', attempt: 1 },
      { task_id: 'running', attempt: 1 },
    ]);
    rig.complete('running', 'a');
    rig.turn();
    expect(rig.ledger.get('blocked')?.state).toBe('queued');
    rig.submit('after-restart');
    rig.turn();
    // Queue order kept across the restart: seq continues after every recorded task.
    expect(rig.ledger.get('after-restart')!.seq).toBeGreaterThan(rig.ledger.get('queued-2')!.seq);
  });
});
