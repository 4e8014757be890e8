import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/logging/logger.js';
import { FlowSubmit } from '../../src/protocol/flow-messages.js';
import { AgentRegistry } from '../../src/tasks/agent-registry.js';
import type { Decision } from '../../src/tasks/decisions.js';
import { FlowDesk } from '../../src/tasks/flow-desk.js';
import { Ledger } from '../../src/tasks/ledger.js';
import { Scheduler } from '../../src/tasks/scheduler.js';
import { admitDecision } from '../helpers/decisions.js';

const T0 = 1_700_000_000_000;

/** The hub's flows without a bus: a scheduler, the flow desk and the ledger, turn by turn. */
class Rig {
  now = T0;
  readonly dir = mkdtempSync(join(tmpdir(), 'sheri-flow-engine-'));
  readonly ledger = new Ledger(':memory:');
  readonly registry = new AgentRegistry();
  readonly config = loadConfig({ swarm: 'unit', dataDir: this.dir }, {});
  readonly scheduler = new Scheduler(
    this.ledger,
    this.registry,
    this.config,
    silentLogger(),
    () => this.now,
  );
  readonly desk = new FlowDesk(
    this.ledger,
    this.scheduler,
    this.registry,
    this.config,
    silentLogger(),
    () => this.now,
  );
  /** What went out after each turn: topic key and payload. */
  readonly sent: { key: string; payload: unknown }[] = [];

  /** Hub.turn: dispatch, record tasks and flows in one transaction, then send. */
  turn(extra: Decision[] = []): void {
    this.scheduler.dispatch();
    const batch = this.scheduler.takeBatch();
    this.ledger.transaction(() => {
      this.ledger.apply([...batch.decisions, ...extra]);
      this.desk.record();
    });
    this.scheduler.committed();
    this.desk.committed();
    for (const message of batch.messages) {
      this.sent.push({ key: message.key, payload: message.payload() });
    }
  }

  /** The step rows as the tables hold them (not the engine's memory). */
  recordedSteps(flowId: string): Record<string, string> {
    const rows = this.ledger.database
      .prepare<[string], { step_id: string; state: string }>(
        'SELECT step_id, state FROM flow_steps WHERE flow_id = ?',
      )
      .all(flowId);
    return Object.fromEntries(rows.map((row) => [row.step_id, row.state]));
  }

  /** Grant what is queued to one agent of the role and complete it. */
  completeNext(taskId: string): void {
    this.scheduler.reportCapacity('t-1', 'testing', 1, []);
    this.turn();
    const task = this.scheduler.live.get(taskId);
    if (task?.state !== 'assigned') throw new Error(`${taskId} is ${task?.state ?? 'unknown'}`);
    this.scheduler.complete(task, { ok: true }, 't-1');
  }

  close(): void {
    this.ledger.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const FLOW = FlowSubmit.parse({
  flow_id: 'two-0000beef',
  name: 'two',
  steps: [
    { id: 'build', type: 'testing.run', commands: ['true'] },
    { id: 'test', type: 'testing.run', commands: ['true'], needs: ['build'] },
  ],
});

describe('the flow engine in the hub turn', () => {
  let rig: Rig;
  afterEach(() => rig.close());

  it('records a flow and its first task in the turn, neither before it', () => {
    rig = new Rig();
    rig.desk.engine.submit(FLOW, 'operator');
    // Decided in memory: the engine and the scheduler see it; the tables do not, yet.
    expect(rig.desk.engine.store.get(FLOW.flow_id)?.state).toBe('running');
    expect(rig.scheduler.find('two-0000beef.build')?.state).toBe('queued');
    expect(rig.recordedSteps(FLOW.flow_id)).toEqual({});
    expect(rig.ledger.get('two-0000beef.build')).toBeUndefined();
    rig.turn();
    expect(rig.recordedSteps(FLOW.flow_id)).toEqual({ build: 'started', test: 'waiting' });
    expect(rig.ledger.get('two-0000beef.build')?.state).toBe('queued');
    expect(rig.sent.map((message) => message.key)).toContain('flowUpdate');
  });

  it("starts the next step in the same turn as its need's completion, recorded with it", () => {
    rig = new Rig();
    rig.desk.engine.submit(FLOW, 'operator');
    rig.turn();
    rig.completeNext('two-0000beef.build');
    // The completion drove the flow at once: the next step is a task, in memory only.
    expect(rig.scheduler.find('two-0000beef.test')?.state).toBe('queued');
    expect(rig.ledger.get('two-0000beef.build')?.state).toBe('assigned');
    expect(rig.recordedSteps(FLOW.flow_id).test).toBe('waiting');
    rig.turn();
    expect(rig.ledger.get('two-0000beef.build')?.state).toBe('complete');
    expect(rig.recordedSteps(FLOW.flow_id).test).toBe('started');
    expect(rig.ledger.get('two-0000beef.test')?.state).toBe('assigned');
  });

  it('records none of a flow when its turn cannot be recorded', () => {
    rig = new Rig();
    rig.turn([admitDecision({ task_id: 'other', type: 'testing.run', payload: {} })]);
    rig.desk.engine.submit(FLOW, 'operator');
    // The same task admitted twice: the ledger refuses the turn, and with it the flow's rows.
    const again = admitDecision({ task_id: 'other', type: 'testing.run', payload: {} });
    expect(() => rig.turn([again])).toThrow();
    expect(rig.recordedSteps(FLOW.flow_id)).toEqual({});
    expect(rig.ledger.get('two-0000beef.build')).toBeUndefined();
  });

  it('kills the running step of a canceled flow, notes the cancel and tells its agent after the record', () => {
    rig = new Rig();
    rig.desk.engine.submit(FLOW, 'operator');
    rig.scheduler.reportCapacity('t-1', 'testing', 1, []);
    rig.turn();
    expect(rig.scheduler.find('two-0000beef.build')?.state).toBe('assigned');
    const done = rig.desk.engine.cancel(FLOW.flow_id, 'operator', 'enough');
    expect(done).toEqual({ ok: true, canceled: 1 });
    expect(rig.sent.filter((message) => message.key === 'tasksCancel')).toEqual([]);
    rig.turn();
    expect(rig.ledger.get('two-0000beef.build')?.state).toBe('dead');
    expect(rig.ledger.history('two-0000beef.build').map((event) => event.kind)).toContain(
      'canceled',
    );
    expect(rig.recordedSteps(FLOW.flow_id)).toEqual({ build: 'canceled', test: 'canceled' });
    expect(rig.desk.engine.store.get(FLOW.flow_id)?.state).toBe('canceled');
    expect(rig.sent.filter((message) => message.key === 'tasksCancel')).toEqual([
      {
        key: 'tasksCancel',
        payload: expect.objectContaining({ task_id: 'two-0000beef.build', attempt: 1 }),
      },
    ]);
    // A dead step never completes the flow or starts its dependents.
    expect(rig.scheduler.find('two-0000beef.test')).toBeUndefined();
  });
});
