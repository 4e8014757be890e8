import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Decision } from '../../src/tasks/decisions.js';
import { silentLogger } from '../../src/logging/logger.js';
import { FlowSubmit } from '../../src/protocol/flow-messages.js';
import { FlowStore } from '../../src/tasks/flow-store.js';
import { Ledger } from '../../src/tasks/ledger.js';
import { LeadershipLost } from '../../src/tasks/ledger-store.js';
import { PostgresLedger, redactLedgerUrl } from '../../src/tasks/postgres-ledger.js';
import { Schedules } from '../../src/tasks/schedules.js';
import { admitDecision } from '../helpers/decisions.js';
import { requirePostgres, TestPostgres } from '../helpers/postgres.js';

const hasPostgres = requirePostgres();

const twoSteps = (flowId: string): FlowSubmit =>
  FlowSubmit.parse({
    flow_id: flowId,
    name: 'two-steps',
    steps: [
      { id: 'build', type: 'testing.run', commands: ['true'] },
      { id: 'test', type: 'testing.run', commands: ['true'], needs: ['build'] },
    ],
  });

/** The flow and schedule stores a hub makes on a ledger's SQLite (flow-desk.ts). */
function flowStores(ledger: Ledger): { flows: FlowStore; schedules: Schedules } {
  const runner = { runTask: () => undefined, runFlow: () => undefined };
  return {
    flows: new FlowStore(ledger),
    schedules: new Schedules(ledger, runner, silentLogger(), 1_000),
  };
}

/** What the flows' and schedules' tables hold, as the hub reads them. */
function flowContents(ledger: Ledger) {
  const { flows, schedules } = flowStores(ledger);
  return {
    flows: flows.list(100).map((flow) => ({ ...flow, steps: flows.steps(flow.flowId) })),
    stepOfTask: flows.stepOfTask('f1.build'),
    schedules: schedules.list(),
  };
}

/** A turn of each kind of decision, in the order a hub would make them. */
function turns(): Decision[][] {
  const spec = (id: string, extra = {}) => ({
    task_id: id,
    type: 'testing.run',
    payload: {},
    ...extra,
  });
  return [
    [
      admitDecision(spec('a', { idempotency_key: 'key-a' }), { at: 1 }),
      admitDecision(spec('b', { needs: ['a'] }), { at: 1 }),
      admitDecision(spec('c'), { at: 1 }),
    ],
    [
      { kind: 'grant', at: 2, taskId: 'a', agentId: 'agent-1', attempt: 1, leaseExpiresAt: 5002 },
      { kind: 'grant', at: 2, taskId: 'c', agentId: 'agent-2', attempt: 1, leaseExpiresAt: 5002 },
    ],
    [
      { kind: 'ack', taskId: 'a', agentId: 'agent-1', attempt: 1 },
      {
        kind: 'note',
        at: 3,
        taskId: 'a',
        event: 'progress',
        agentId: 'agent-1',
        attempt: 1,
        detail: { message: 'half' },
      },
      {
        kind: 'requeue',
        at: 3,
        taskId: 'c',
        agentId: 'agent-2',
        attempt: 1,
        event: 'failed',
        reason: 'exit 1',
        failures: 1,
        notBefore: 103,
        result: { exit_code: 1 },
        deaths: [],
      },
    ],
    [
      {
        kind: 'complete',
        at: 4,
        taskId: 'a',
        agentId: 'agent-1',
        attempt: 1,
        result: { ok: true },
        unblocked: ['b'],
      },
      { kind: 'grant', at: 4, taskId: 'c', agentId: 'agent-1', attempt: 2, leaseExpiresAt: 5004 },
      {
        kind: 'requeue',
        at: 5,
        taskId: 'c',
        agentId: 'agent-1',
        attempt: 2,
        event: 'failed',
        reason: 'exit 2',
        failures: 3,
        notBefore: 0,
        deaths: [{ taskId: 'c', attempt: 2, agentId: null, reason: 'exit 2' }],
      },
      {
        kind: 'kill',
        at: 6,
        deaths: [{ taskId: 'b', attempt: 0, agentId: null, reason: 'no budget' }],
      },
    ],
  ];
}

/** What a ledger holds, as the hub reads it. */
function contents(ledger: {
  counts(): unknown;
  list(f: object): unknown[];
  history(id: string): unknown;
  needsOf(id: string): unknown;
  wasGranted(t: string, a: number, g: string): boolean;
  lastSeq(): number;
  withKey(k: string): unknown;
}) {
  return {
    counts: ledger.counts(),
    tasks: ledger.list({}),
    history: ['a', 'b', 'c'].map((id) => ledger.history(id)),
    needs: ledger.needsOf('b'),
    granted: [ledger.wasGranted('c', 2, 'agent-1'), ledger.wasGranted('c', 2, 'agent-2')],
    key: ledger.withKey('key-a'),
  };
}

describe.runIf(hasPostgres)('the ledger on PostgreSQL', () => {
  let server: TestPostgres;
  const open: { close(): unknown }[] = [];
  let n = 0;

  beforeAll(async () => {
    server = await TestPostgres.start();
  }, 30_000);
  afterAll(async () => server?.close());
  afterEach(async () => {
    for (const store of open.splice(0)) await store.close();
  });

  async function freshLedger(epoch = 1): Promise<{ url: string; store: PostgresLedger }> {
    const url = await server.createDatabase(`ledger_${++n}`);
    const store = await PostgresLedger.open(url, epoch);
    open.push(store);
    await server.query(`ledger_${n}`, `UPDATE hub_leader SET epoch = ${epoch}`);
    return { url, store };
  }

  it('records every kind of decision as the SQLite ledger does, and loads it back the same', async () => {
    const { url, store } = await freshLedger();
    const sqlite = new Ledger(':memory:');
    open.push(sqlite);
    for (const turn of turns()) {
      sqlite.apply(turn);
      await store.apply(turn);
    }
    expect(contents(store)).toEqual(contents(sqlite));
    // Another hub loading the database reads what was recorded, not this one's copy.
    const reloaded = await PostgresLedger.open(url, 1);
    open.push(reloaded);
    expect(contents(reloaded)).toEqual(contents(sqlite));
    expect(reloaded.lastSeq()).toBe(sqlite.lastSeq());
  });

  it('migrates a database once, however many hubs open it', async () => {
    const { url } = await freshLedger();
    const again = await Promise.all([PostgresLedger.open(url, 1), PostgresLedger.open(url, 1)]);
    open.push(...again);
    const versions = await server.query(`ledger_${n}`, 'SELECT version FROM sheri_migrations');
    expect(versions.rows).toEqual([{ version: 1 }, { version: 2 }]);
  });

  it('records spending and pruning with the next turn, once', async () => {
    const { url, store } = await freshLedger();
    await store.apply(turns()[0]!);
    const spend = {
      taskId: 'a',
      attempt: 1,
      agentId: 'agent-1',
      flowId: 'a',
      day: '2026-01-01',
      costUsd: 0.25,
    };
    store.recordSpend(spend);
    store.recordSpend(spend);
    await store.apply([]);
    const reloaded = await PostgresLedger.open(url, 1);
    open.push(reloaded);
    expect(reloaded.spent({ day: '2026-01-01' })).toBe(0.25);
  });

  it('records flows and schedules with the turn that changed them, and loads them back the same', async () => {
    const { url, store } = await freshLedger();
    const sqlite = new Ledger(':memory:');
    open.push(sqlite);
    for (const ledger of [sqlite, store.local]) {
      // A turn of each flow change the engine makes: a flow in, steps started, one finished.
      const { flows, schedules } = flowStores(ledger);
      const turn = async (change: () => void): Promise<void> => {
        change();
        await (ledger === sqlite ? sqlite : store).apply([], () => {
          flows.record();
          schedules.record();
        });
        flows.committed();
        schedules.committed();
      };
      await turn(() => {
        flows.insert(twoSteps('f1'), 'operator', 10);
        flows.insert(twoSteps('f2'), 'operator', 11, 'nightly');
        flows.setStep('f1', 'build', 'started', { taskId: 'f1.build' }, 10);
      });
      await turn(() => {
        flows.setStep('f1', 'test', 'started', { taskId: 'f1.test' }, 12);
        flows.setStep('f2', 'build', 'failed', { note: 'no such role' }, 12);
        flows.finish('f2', 'failed', 'step build failed', 12);
      });
      // Between turns, as a query or the hub's start does: they go with the next turn.
      schedules.register(
        'nightly',
        { every_ms: 60_000, missed: 'latest' },
        { flow: twoSteps('x') },
        'operator',
        13,
      );
      schedules.register(
        'hourly',
        { every_ms: 3_600_000, missed: 'skip' },
        { task: {} },
        'operator',
        13,
      );
      schedules.unregister('hourly');
      // Registered again (an UPSERT's update) and marked in a turn, as a slot run is.
      schedules.register(
        'nightly',
        { every_ms: 120_000, missed: 'skip' },
        { task: {} },
        'operator',
        14,
      );
      await turn(() => flows.finish('f1', 'succeeded', null, 14));
    }
    expect(flowContents(store.local)).toEqual(flowContents(sqlite));
    const reloaded = await PostgresLedger.open(url, 1);
    open.push(reloaded);
    expect(flowContents(reloaded.local)).toEqual(flowContents(sqlite));
    expect(flowContents(reloaded.local).flows.map((flow) => flow.state)).toEqual([
      'failed',
      'succeeded',
    ]);

    // Pruned finished flows go from PostgreSQL too, with the next turn.
    const { flows } = flowStores(store.local);
    expect(flows.prune(100)).toBe(2);
    await store.apply([]);
    const pruned = await PostgresLedger.open(url, 1);
    open.push(pruned);
    expect(flowContents(pruned.local).flows).toEqual([]);
    const steps = await server.query(`ledger_${n}`, 'SELECT COUNT(*)::int AS n FROM flow_steps');
    expect(steps.rows).toEqual([{ n: 0 }]);
  });

  it('records no flow change of a turn that a newer epoch refuses', async () => {
    const { url, store } = await freshLedger(1);
    const { flows } = flowStores(store.local);
    await server.query(`ledger_${n}`, 'UPDATE hub_leader SET epoch = 2');
    flows.insert(twoSteps('late'), 'operator', 10);
    const turn = store.apply([], () => flows.record());
    await expect(Promise.resolve(turn)).rejects.toBeInstanceOf(LeadershipLost);
    const rows = await server.query(`ledger_${n}`, 'SELECT COUNT(*)::int AS n FROM flows');
    expect(rows.rows).toEqual([{ n: 0 }]);
    const reloaded = await PostgresLedger.open(url, 2);
    open.push(reloaded);
    expect(flowStores(reloaded.local).flows.get('late')).toBeUndefined();
  });

  it('refuses every write of a turn once another epoch leads, and records none of it', async () => {
    const { url, store } = await freshLedger(1);
    await store.apply(turns()[0]!);
    // Another hub took the lead (hub-election.ts raises the epoch).
    await server.query(`ledger_${n}`, 'UPDATE hub_leader SET epoch = 2');
    await expect(Promise.resolve(store.apply(turns()[1]!))).rejects.toBeInstanceOf(LeadershipLost);
    const reloaded = await PostgresLedger.open(url, 2);
    open.push(reloaded);
    expect(reloaded.counts()).toMatchObject({ queued: 2, blocked: 1, assigned: 0 });
    expect(reloaded.history('a').map((event) => event.kind)).toEqual(['submitted']);
  });

  it('never says the password of the ledger URL in an error or its location', async () => {
    const secret = 'hunter2-do-not-print';
    const url = `postgres://sheri:${secret}@127.0.0.1:${server.port}/postgres`;
    const error = await PostgresLedger.open(url, 1).then(
      () => new Error('opened with a wrong password'),
      (err: Error) => err,
    );
    expect(error.message).toContain('password authentication failed');
    expect(error.message).not.toContain(secret);
    expect(redactLedgerUrl(`${url}?password=${secret}`)).not.toContain(secret);
  });
});
