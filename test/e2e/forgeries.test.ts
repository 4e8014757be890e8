import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { Recorded } from '../helpers/bus-recorder.js';
import type { BusRecorder } from '../helpers/bus-recorder.js';
import type { TestIdentity } from '../helpers/identities.js';
import { waitForComplete, waitUntil } from '../helpers/scenarios.js';
import { runSheri } from '../helpers/sheri-process.js';
import { TestSwarm } from '../helpers/swarm.js';
import type { EmbeddedBroker } from '../../src/broker/embedded-broker.js';
import type { Hub } from '../../src/tasks/hub.js';
import { MAX_PENDING_PER_AGENT } from '../../src/tasks/approval-desk.js';
import { DEFAULTS } from '../../src/config/defaults.js';

/**
 * Issue 9's forgeries, each tried by a client that holds a valid *agent* credential — issued
 * for "another machine", role testing — so that logging in is not what stops it. Each must be
 * refused, said on <swarm>/errors with the reason, leave the ledger as it was, and the swarm
 * must keep serving. Twice: on the embedded broker as `sheri up` runs it (the broker refuses
 * most at publish), and on an open broker where only the signatures and the hub's checks stand.
 */
const SETUPS = [
  { name: 'the embedded broker as sheri up runs it (authenticated, signed)', open: false },
  { name: 'an open broker (signed envelopes only)', open: true },
];

const MALLORY: TestIdentity = { kind: 'agent', name: 'mallory', role: 'testing' };

function envelope(agentId: string, role: string, payload: unknown): string {
  return JSON.stringify({
    id: randomUUID(),
    timestamp: new Date().toISOString(),
    agent_id: agentId,
    role,
    payload,
  });
}

describe.each(SETUPS)('an agent credential cannot forge, on $name', ({ open }) => {
  let swarm: TestSwarm;
  let hub: Hub;
  let recorder: BusRecorder;
  let broker: EmbeddedBroker;
  afterEach(async () => swarm.close());

  async function setUp(hubOverrides = {}): Promise<void> {
    swarm = new TestSwarm();
    // Issued for another machine: a real, listed credential (sheri credentials add).
    swarm.store.add('agent', 'mallory', 'testing');
    broker = await swarm.startBroker({ open });
    hub = await swarm.startHub(hubOverrides);
    recorder = await swarm.record();
  }

  /**
   * Publish as mallory: logged in with its credential, the body signed with its own key (a
   * valid signature over a lie). The embedded broker closes the connection of a refused
   * publish, so each forgery has a connection of its own.
   */
  async function forge(local: string, body: string, retain = false): Promise<void> {
    const client = await mqtt.connectAsync(swarm.brokerUrl, {
      protocolVersion: 4,
      reconnectPeriod: 0,
      clientId: 'mallory',
      ...swarm.login(MALLORY),
    });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    await Promise.race([
      client.publishAsync(`${swarm.swarm}/${local}`, swarm.sign(MALLORY, local, body), {
        qos: 1,
        retain,
      }),
      closed,
    ]);
    await client.endAsync(true);
  }

  /** The report of a refusal of what was sent on `local`: reason given, by broker or receiver. */
  async function refusalOn(local: string, count = 1): Promise<Recorded[]> {
    const full = `${swarm.swarm}/${local}`;
    const reports = (): Recorded[] =>
      recorder
        .on('errors')
        .filter(
          (m) =>
            m.payload.topic === full &&
            ['NOT_AUTHORIZED', 'BAD_SIGNATURE'].includes(String(m.payload.code)),
        );
    await recorder.waitFor(
      () => reports().length >= count,
      10_000,
      () =>
        `a refusal on ${local}; errors: ${JSON.stringify(recorder.on('errors').map((m) => m.payload))}`,
    );
    for (const report of reports())
      expect(String(report.payload.reason).length).toBeGreaterThan(20);
    return reports();
  }

  async function stillServing(taskId: string): Promise<void> {
    const before = hub.ledger.counts().complete;
    await swarm.submit([swarm.taskAppending(taskId, 'testing.run')]);
    await waitForComplete(hub, before + 1, 15_000);
  }

  /**
   * A victim agent runs `taskId`, and the broker loses its result on the way to the hub until
   * `stopLosing()`: what a forged confirmation would make the agent drop (PROTOCOL §4.8).
   */
  async function resultLostOnItsWay(taskId: string) {
    const victim = await swarm.startAgent('testing');
    let losing = true;
    const forward = broker.aedes.authorizeForward.bind(broker.aedes);
    broker.aedes.authorizeForward = (client, packet) =>
      losing &&
      client?.id === `sheri-hub-${swarm.swarm}` &&
      packet.topic === `${swarm.swarm}/tasks/complete`
        ? (null as unknown as typeof packet)
        : forward(client, packet);
    await swarm.submit([swarm.taskAppending(taskId, 'testing.run')]);
    await recorder.waitFor(
      () => recorder.on('tasks/complete').some((m) => m.payload.task_id === taskId),
      10_000,
    );
    return { victim, stopLosing: () => (losing = false) };
  }

  /** The agent kept its result and sent it until the hub recorded it: run once, on attempt 1. */
  async function recordedOnce(
    taskId: string,
    victim: { agentId: string; outbox: { size: number } },
  ) {
    await waitUntil(() => hub.ledger.get(taskId)?.state === 'complete', 10_000);
    expect(hub.ledger.get(taskId)).toMatchObject({ attempt: 1, agentId: victim.agentId });
    expect(swarm.executions().filter((run) => run.taskId === taskId)).toHaveLength(1);
    await waitUntil(() => victim.outbox.size === 0, 5_000);
  }

  it('refuses a grant sent straight to an agent: the agent never runs it', async () => {
    await setUp();
    const victim = await swarm.startAgent('testing');
    const marker = join(swarm.dir, 'forged-grant-ran');
    const grant = {
      task_id: 'forged',
      agent_id: victim.agentId,
      attempt: 1,
      lease_ms: 30_000,
      lease_expires_at: new Date(Date.now() + 30_000).toISOString(),
      task: { task_id: 'forged', type: 'testing.run', payload: {}, commands: [`touch ${marker}`] },
      inputs: {},
    };
    await forge(`tasks/assigned/${victim.agentId}`, envelope('hub', 'hub', grant));
    const [report] = await refusalOn(`tasks/assigned/${victim.agentId}`);
    expect(report!.payload.reason).toMatch(/may not publish on tasks\/assigned\/.*only hub may/);
    expect(report!.payload.reporter).toBe(open ? victim.agentId : 'broker');

    await stillServing('after-forged-grant');
    expect(existsSync(marker)).toBe(false);
    expect(hub.ledger.get('forged')).toBeUndefined();
  });

  it('refuses a cancel sent straight to an agent: its running attempt is not stopped and completes', async () => {
    await setUp();
    const victim = await swarm.startAgent('testing');
    await swarm.submit([swarm.taskAppending('cancel-victim', 'testing.run', {}, 'sleep 1; ')]);
    await waitUntil(
      () => hub.ledger.history('cancel-victim').some((e) => e.kind === 'progress'),
      10_000,
    );
    const cancel = { task_id: 'cancel-victim', attempt: 1, reason: 'superseded: forged' };
    await forge(`tasks/cancel/${victim.agentId}`, envelope('hub', 'hub', cancel));
    const [report] = await refusalOn(`tasks/cancel/${victim.agentId}`);
    expect(report!.payload.reason).toMatch(/may not publish on tasks\/cancel\/.*only hub may/);

    await waitUntil(() => hub.ledger.get('cancel-victim')?.state === 'complete', 15_000);
    // Attempt 1 ran to its end on the victim: nothing stopped or handed it back.
    expect(hub.ledger.get('cancel-victim')).toMatchObject({ attempt: 1, agentId: victim.agentId });
    expect(hub.ledger.history('cancel-victim').map((e) => e.kind)).not.toContain('released');
    expect(swarm.executions().filter((run) => run.taskId === 'cancel-victim')).toHaveLength(1);
  });

  it('refuses a tasks/settled sent straight to an agent: the result the hub has not recorded is still sent until it is', async () => {
    // What a forger would gain: the agent dropping a result the broker lost on its way to the
    // hub, so that the lease lapses and the task runs twice (PROTOCOL §4.8).
    await setUp();
    // The broker loses the victim's result on its way to the hub until the forgery is refused.
    const { victim, stopLosing } = await resultLostOnItsWay('settle-victim');
    const settled = { results: [{ task_id: 'settle-victim', attempt: 1 }] };
    await forge(`tasks/settled/${victim.agentId}`, envelope('hub', 'hub', settled));
    const [report] = await refusalOn(`tasks/settled/${victim.agentId}`);
    expect(report!.payload.reason).toMatch(/may not publish on tasks\/settled\/.*only hub may/);
    expect(report!.payload.reporter).toBe(open ? victim.agentId : 'broker');
    expect(victim.outbox.keys()).toEqual(['settle-victim#1']);

    stopLosing();
    await recordedOnce('settle-victim', victim);
  });

  it('refuses a grant carrying confirmations sent straight to an agent: the result the hub has not recorded is still sent until it is', async () => {
    // PROTOCOL §4.8: a grant may confirm results too; a forged one must confirm nothing.
    await setUp();
    const { victim, stopLosing } = await resultLostOnItsWay('grant-settle-victim');
    const marker = join(swarm.dir, 'forged-settling-grant-ran');
    const grant = {
      task_id: 'forged-settling',
      agent_id: victim.agentId,
      attempt: 1,
      lease_ms: 30_000,
      lease_expires_at: new Date(Date.now() + 30_000).toISOString(),
      task: {
        task_id: 'forged-settling',
        type: 'testing.run',
        payload: {},
        commands: [`touch ${marker}`],
      },
      inputs: {},
      settled: [{ task_id: 'grant-settle-victim', attempt: 1 }],
    };
    await forge(`tasks/assigned/${victim.agentId}`, envelope('hub', 'hub', grant));
    const [report] = await refusalOn(`tasks/assigned/${victim.agentId}`);
    expect(report!.payload.reason).toMatch(/may not publish on tasks\/assigned\/.*only hub may/);
    expect(victim.outbox.keys()).toEqual(['grant-settle-victim#1']);

    stopLosing();
    await recordedOnce('grant-settle-victim', victim);
    expect(existsSync(marker)).toBe(false);
    expect(hub.ledger.get('forged-settling')).toBeUndefined();
  });

  it.each(['complete', 'failed'] as const)(
    "refuses a tasks/%s in another agent's name, or in its own for a task it does not hold: the task runs on",
    async (outcome) => {
      await setUp();
      const victim = await swarm.startAgent('testing');
      await swarm.submit([swarm.taskAppending('victim-task', 'testing.run', {}, 'sleep 30; ')]);
      await waitUntil(
        () => hub.ledger.history('victim-task').some((e) => e.kind === 'progress'),
        10_000,
      );
      const history = hub.ledger.history('victim-task');
      const forged =
        outcome === 'complete'
          ? { task_id: 'victim-task', attempt: 1, duration_ms: 1, result: 'fake result' }
          : { task_id: 'victim-task', attempt: 1, duration_ms: 1, error: 'fake', retryable: false };

      await forge(`tasks/${outcome}`, envelope(victim.agentId, 'testing', forged));
      await forge(`tasks/${outcome}`, envelope('mallory', 'testing', forged));
      const reports = await refusalOn(`tasks/${outcome}`, 2);
      expect(reports.map((r) => r.payload.reason)).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/envelope agent_id ".*" is not the sender/),
          expect.stringMatching(/attempt 1 of task victim-task was never granted to mallory/),
        ]),
      );

      expect(hub.ledger.get('victim-task')).toMatchObject({
        state: 'assigned',
        agentId: victim.agentId,
        attempt: 1,
      });
      expect(hub.ledger.get('victim-task')?.result).toBeUndefined();
      expect(hub.ledger.history('victim-task')).toEqual(history);
      await swarm.startAgent('testing');
      await stillServing(`after-forged-${outcome}`);
    },
  );

  it("refuses a tasks/release and an agents/shutdown in another agent's name: no second agent runs the task", async () => {
    await setUp();
    const victim = await swarm.startAgent('testing');
    await swarm.submit([swarm.taskAppending('held', 'testing.run', {}, 'sleep 30; ')]);
    await waitUntil(() => hub.ledger.history('held').some((e) => e.kind === 'progress'), 10_000);
    const bystander = await swarm.startAgent('testing');
    const history = hub.ledger.history('held');

    await forge(
      'tasks/release',
      envelope(victim.agentId, 'testing', { task_id: 'held', attempt: 1, reason: 'forged' }),
    );
    await forge(
      'agents/shutdown',
      envelope(victim.agentId, 'testing', { reason: 'forged', handed_back: ['held'] }),
    );
    await refusalOn('tasks/release');
    await refusalOn('agents/shutdown');

    await stillServing('after-forged-release');
    expect(hub.ledger.get('held')).toMatchObject({ state: 'assigned', agentId: victim.agentId });
    expect(hub.ledger.history('held')).toEqual(history);
    expect(recorder.on('tasks/assigned').filter((m) => m.payload.task_id === 'held')).toHaveLength(
      1,
    );
    expect(swarm.executions().map((e) => e.agentId)).toEqual([bystander.agentId]);
  });

  it('refuses an agent credential of role testing that registers and claims as deployment: it gets no deployment task', async () => {
    await setUp();
    const deployer = await swarm.startAgent('deployment');
    const asDeployment = { role: 'deployment', concurrency: 4, types: ['deployment.deploy'] };
    await forge('agents/register', envelope('mallory', 'deployment', asDeployment));
    await forge('tasks/claim', envelope('mallory', 'deployment', { free: 4, running: [] }));
    const reports = [...(await refusalOn('agents/register')), ...(await refusalOn('tasks/claim'))];
    for (const report of reports) {
      expect(report.payload.reason).toMatch(/envelope role "deployment" is not the sender's/);
    }

    await swarm.submit(
      Array.from({ length: 4 }, (_, i) =>
        swarm.taskAppending(`deploy-${i}`, 'deployment.deploy', { payload: { token: 'secret' } }),
      ),
    );
    await waitForComplete(hub, 4, 15_000);
    const grantees = recorder.on('tasks/assigned').map((m) => m.payload.agent_id);
    expect(grantees).toEqual([
      deployer.agentId,
      deployer.agentId,
      deployer.agentId,
      deployer.agentId,
    ]);
    expect(hub.registry.get('mallory')).toBeUndefined();
  });

  it.skipIf(open)(
    "refuses an agent credential's subscription to other agents' grants: it reads none of their payloads",
    async () => {
      await setUp();
      await swarm.startAgent('testing');
      const spy = await mqtt.connectAsync(swarm.brokerUrl, {
        protocolVersion: 4,
        clientId: 'mallory',
        ...swarm.login(MALLORY),
      });
      swarm.onClose(() => spy.endAsync(true));
      const seen: string[] = [];
      spy.on('message', (topic) => seen.push(topic));
      // SUBACK 0x80: mqtt.js turns the refusal into an error.
      await expect(
        spy.subscribeAsync(`${swarm.swarm}/tasks/assigned/+`, { qos: 1 }),
      ).rejects.toThrow(/Subscribe error/);
      await stillServing('spied-on');
      expect(seen).toEqual([]);
    },
  );

  it('refuses an approval answered with an agent credential: the command that asked never runs', async () => {
    await setUp();
    const marker = join(swarm.dir, 'approved-by-mallory');
    await swarm.startAgent('deployment', {
      shellPolicies: {
        deployment: { allow: [], deny: [], ask: ['touch *'], readOnly: false, network: false },
      },
      approvalTimeoutMs: 3_000,
    });
    await swarm.submit([
      { task_id: 'risky', type: 'deployment.deploy', payload: {}, commands: [`touch ${marker}`] },
    ]);
    await recorder.waitFor(() => recorder.on('approvals/request').length === 1, 10_000);
    const approvalId = String(recorder.on('approvals/request')[0]!.payload.approval_id);

    await forge(
      'approvals/answer',
      envelope('mallory', 'testing', { approval_id: approvalId, approved: true }),
    );
    await forge(
      `approvals/${approvalId}/decision`,
      envelope('hub', 'hub', { approval_id: approvalId, approved: true, approver: 'operator' }),
    );
    await refusalOn('approvals/answer');
    await refusalOn(`approvals/${approvalId}/decision`);

    await waitUntil(() => hub.ledger.get('risky')?.state === 'dead', 10_000);
    expect(existsSync(marker)).toBe(false);
    expect(hub.ledger.get('risky')?.lastError).toMatch(/was not approved/);
    expect(hub.ledger.history('risky').map((e) => e.kind)).not.toContain('approved');
    await swarm.startAgent('testing');
    await stillServing('after-forged-approval');
  });

  it('refuses a forged retained hub/status: task submit still sees the hub online', async () => {
    await setUp();
    await swarm.startAgent('testing');
    const offline = { state: 'offline', since: '2026-01-01T00:00:00Z', reason: 'forged' };
    await forge('hub/status', envelope('hub', 'hub', offline), true);
    await refusalOn('hub/status');

    const submit = await runSheri(
      ['task', 'submit', '--broker', swarm.brokerUrl, '--swarm', swarm.swarm].concat([
        '--type',
        'testing.run',
        '--command',
        'true',
        '--wait',
      ]),
      { cwd: swarm.dir },
    );
    expect(submit.code, submit.stderr).toBe(0);
    expect(submit.stderr).not.toContain('offline');
  });

  it("refuses a hub/query sent with an agent credential: no task's result is answered", async () => {
    await setUp();
    await swarm.startAgent('testing');
    await swarm.submit([
      { task_id: 'secret-task', type: 'testing.run', payload: {}, commands: ['echo top-secret'] },
    ]);
    await waitForComplete(hub, 1, 10_000);
    const query = {
      query_id: 'q-1',
      reply_to: `${swarm.swarm}/hub/replies/mallory`,
      kind: 'task',
      task_id: 'secret-task',
    };
    await forge('hub/query', envelope('mallory', 'testing', query));
    await refusalOn('hub/query');

    // A query the hub answers after it: had it answered mallory's, that reply came first.
    await stillServing('after-forged-query');
    const operator = await swarm.connectAs({ kind: 'operator' });
    const { queryHub } = await import('../../src/cli/hub-client.js');
    await queryHub(operator, swarm.config(), { kind: 'agents' });
    expect(recorder.messages.filter((m) => m.local.startsWith('hub/replies/mallory'))).toEqual([]);
    expect(JSON.stringify(recorder.on('errors'))).not.toContain('top-secret');
  });

  /**
   * A security agent has run `secret` (its output holds a canary); mallory, with its own agent
   * credential, holds task `parent` (nobody else of role testing is there to take it).
   */
  async function malloryHoldsATaskBesideASecret(hubOverrides = {}) {
    await setUp(hubOverrides);
    await swarm.startAgent('security');
    await swarm.submit([
      {
        task_id: 'secret',
        type: 'security.scan',
        payload: {},
        idempotency_key: 'nightly-audit',
        commands: ['echo canary-AKIA-42'],
      },
      { task_id: 'parent', type: 'testing.run', payload: {}, commands: ['true'] },
    ]);
    await waitUntil(() => hub.ledger.get('secret')?.state === 'complete', 10_000);
    const mallory = await swarm.connectAs(MALLORY);
    await mallory.publish('agents/register', { role: 'testing', concurrency: 2, types: [] });
    await mallory.publish('tasks/claim', { free: 2, running: [] });
    await recorder.waitFor(
      () => recorder.on('tasks/assigned/mallory').some((m) => m.payload.task_id === 'parent'),
      10_000,
    );
    await mallory.publish('tasks/claim', { free: 1, running: [{ task_id: 'parent', attempt: 1 }] });
    return mallory;
  }

  /** Everything the bus carried to mallory: its grants and its delegations' outcomes. */
  function toMallory(): string {
    return JSON.stringify(
      recorder.messages.filter((m) => /^tasks\/(assigned|delegated)\/mallory$/.test(m.local)),
    );
  }

  it("refuses a subtask re-using another task's id or idempotency key: mallory never gets that task's result", async () => {
    const mallory = await malloryHoldsATaskBesideASecret();
    const sub = { type: 'testing.run', payload: {}, commands: ['true'], parent_task_id: 'parent' };
    await mallory.publish('tasks/new', { ...sub, task_id: 'secret' });
    await mallory.publish('tasks/new', {
      ...sub,
      task_id: 'parent.sub-1',
      idempotency_key: 'nightly-audit',
    });
    await recorder.waitFor(() => recorder.on('tasks/delegated/mallory').length >= 2, 10_000);
    expect(recorder.on('tasks/delegated/mallory').map((m) => m.payload.state)).toEqual([
      'rejected',
      'rejected',
    ]);
    expect(toMallory()).not.toContain('canary-AKIA-42');
    await mallory.publish('tasks/claim', { free: 0, running: [{ task_id: 'parent', attempt: 1 }] });
    await swarm.startAgent('testing');
    await stillServing('after-duplicates');
  });

  it("refuses a subtask that needs a task outside its parent's subtasks: no grant carries that task's result", async () => {
    const mallory = await malloryHoldsATaskBesideASecret();
    await mallory.publish('tasks/new', {
      task_id: 'parent.sub-2',
      type: 'testing.run',
      payload: {},
      commands: ['true'],
      parent_task_id: 'parent',
      needs: ['secret'],
    });
    const [refusal] = await refusalOn('tasks/new');
    expect(refusal!.payload.reason).toContain('"secret" is not one');
    expect(hub.ledger.get('parent.sub-2')).toBeUndefined();
    await mallory.publish('tasks/claim', { free: 0, running: [{ task_id: 'parent', attempt: 1 }] });
    await swarm.startAgent('testing');
    await stillServing('after-foreign-need');
    expect(toMallory()).not.toContain('canary-AKIA-42');
  });

  it('refuses the subtasks mallory keeps submitting under the one task it holds once security.maxSubtasksPerTask are recorded, finished ones counted', async () => {
    const mallory = await malloryHoldsATaskBesideASecret({
      security: { ...DEFAULTS.security, maxSubtasksPerTask: 3 },
    });
    await mallory.publish('tasks/claim', { free: 0, running: [{ task_id: 'parent', attempt: 1 }] });
    const sub = (n: number) => ({
      task_id: `parent.sub-${n}`,
      type: 'testing.run',
      payload: {},
      commands: ['true'],
      parent_task_id: 'parent',
    });
    for (const n of [1, 2, 3]) await mallory.publish('tasks/new', sub(n));
    // Run to the end by another agent: none of them waits any more, so the queue cap is clear.
    await swarm.startAgent('testing');
    await waitUntil(
      () => [1, 2, 3].every((n) => hub.ledger.get(`parent.sub-${n}`)?.state === 'complete'),
      15_000,
    );
    await mallory.publish('tasks/new', sub(4));
    await recorder.waitFor(
      () => recorder.on('errors').some((m) => m.payload.code === 'QUEUE_FULL'),
      10_000,
    );
    const refusal = recorder.on('errors').find((m) => m.payload.code === 'QUEUE_FULL')!;
    expect(refusal.payload.reason).toBe(
      'task parent already has 3 subtasks (security.maxSubtasksPerTask): an agent delegates no more from one task',
    );
    expect(hub.ledger.get('parent.sub-4')).toBeUndefined();
    expect(hub.ledger.childrenOf('parent')).toHaveLength(3);
  });

  it('refuses 300 tasks of 200 KB under made-up sender ids: the ledger records none', async () => {
    await setUp();
    const big = 'x'.repeat(200 * 1024);
    for (let i = 0; i < 300; i++) {
      const task = { task_id: `flood-${i}`, type: 'testing.run', payload: { big } };
      await forge('tasks/new', envelope(`made-up-${i}`, 'operator', task));
    }
    await refusalOn('tasks/new', 300);
    expect(hub.ledger.counts()).toEqual({
      blocked: 0,
      queued: 0,
      assigned: 0,
      complete: 0,
      dead: 0,
    });
    await swarm.startAgent('testing');
    await stillServing('after-flood');
  });
});

/**
 * On an open broker a credential holder reads `tasks/new` as it goes by, so it knows the envelope
 * id of a submission and can answer it on `errors` — first, while the hub is away. `task submit`
 * takes only the hub's signed word (PROTOCOL §3.9): the forged refusal changes nothing it says or
 * does, and the task is recorded when the hub is back.
 */
describe('task submit on an open broker', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  it('ignores a forged refusal of its submission on errors: no "rejected", exit 0, and the hub records the task', async () => {
    swarm = new TestSwarm();
    swarm.store.add('agent', 'mallory', 'testing');
    await swarm.startBroker({ open: true });
    // A hub that ran and is gone: its persistent session keeps the task for it.
    await (await swarm.startHub()).close();
    const mallory = await mqtt.connectAsync(swarm.brokerUrl, {
      protocolVersion: 4,
      reconnectPeriod: 0,
      clientId: 'mallory',
      ...swarm.login(MALLORY),
    });
    swarm.onClose(() => mallory.endAsync(true));
    let forged = 0;
    mallory.on('message', (_topic, bytes) => {
      const id = /"id"\s*:\s*"([^"]+)"/.exec(bytes.toString('utf8'))?.[1];
      if (!id) return;
      const report = {
        code: 'QUEUE_FULL',
        reason: 'forged: your queue is full, give up',
        topic: `${swarm.swarm}/tasks/new`,
        reporter: 'hub',
        message_id: id,
      };
      forged += 1;
      void mallory.publishAsync(
        `${swarm.swarm}/errors`,
        // Signed as itself (a valid signature: an agent may report errors) with the hub's name
        // in the report: only the sender's kind, checked, says who speaks.
        swarm.sign(MALLORY, 'errors', envelope('mallory', 'testing', report)),
        { qos: 1 },
      );
    });
    await mallory.subscribeAsync(`${swarm.swarm}/tasks/new`, { qos: 1 });

    const submitting = runSheri(
      ['task', 'submit', '--broker', swarm.brokerUrl, '--swarm', swarm.swarm].concat([
        '--type',
        'testing.run',
        '--task-id',
        'not-refused',
        '--command',
        'true',
        '--no-hub-check',
      ]),
      { cwd: swarm.dir },
    );
    await waitUntil(() => forged === 1, 15_000);
    const hub = await swarm.startHub();
    const submit = await submitting;
    expect(submit.code, submit.stderr).toBe(0);
    expect(submit.stdout).toBe('not-refused\n');
    expect(submit.stderr).not.toContain('rejected');
    expect(submit.stderr).not.toContain('forged');
    await waitUntil(() => hub.ledger.get('not-refused')?.state === 'queued', 10_000);
  });
});

describe('the embedded broker keeps no retained message an agent may not leave', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  /** Publish `payload` on `local` as mallory, on a connection of its own: kept, or refused. */
  async function publishAsMallory(
    local: string,
    payload: unknown,
    retain: boolean,
  ): Promise<'accepted' | 'refused'> {
    const client = await mqtt.connectAsync(swarm.brokerUrl, {
      protocolVersion: 4,
      reconnectPeriod: 0,
      clientId: 'mallory',
      ...swarm.login(MALLORY),
    });
    const closed = new Promise<'refused'>((resolve) =>
      client.once('close', () => resolve('refused')),
    );
    const body = payload === '' ? '' : envelope('mallory', 'testing', payload);
    const sent = client
      .publishAsync(
        `${swarm.swarm}/${local}`,
        body === '' ? '' : swarm.sign(MALLORY, local, body),
        {
          qos: 1,
          retain,
        },
      )
      .then(() => 'accepted' as const);
    const verdict = await Promise.race([sent, closed]);
    await client.endAsync(true);
    return verdict;
  }

  /** The retained messages a new subscriber to the whole swarm is given, by local topic. */
  async function retainedTopics(): Promise<string[]> {
    const recorder = await swarm.record();
    await new Promise((resolve) => setTimeout(resolve, 500));
    return recorder.messages
      .filter((m) => m.retained)
      .map((m) => m.local)
      .sort();
  }

  function request(id: string) {
    return {
      approval_id: id,
      task_id: 'rollout',
      attempt: 1,
      command: 'kubectl delete pod x',
      rule: 'kubectl * delete *',
      reason: 'asks',
      deadline: new Date(Date.now() + 600_000).toISOString(),
    };
  }

  it('refuses retain on a topic the table does not keep retained: nothing is left for later subscribers', async () => {
    swarm = new TestSwarm();
    swarm.store.add('agent', 'mallory', 'testing');
    await swarm.startBroker();
    expect(
      await publishAsMallory('tasks/progress', { task_id: 't', attempt: 1, message: 'x' }, true),
    ).toBe('refused');
    expect(await publishAsMallory('code/junk/n1', { big: 'x'.repeat(10_000) }, true)).toBe(
      'refused',
    );
    // The same without retain is an ordinary domain event.
    expect(await publishAsMallory('code/junk/n1', { small: 1 }, false)).toBe('accepted');
    expect(await retainedTopics()).toEqual([]);
  });

  it('keeps at most MAX_PENDING_PER_AGENT retained approval requests of one agent, each under its own id', async () => {
    swarm = new TestSwarm();
    swarm.store.add('agent', 'mallory', 'testing');
    await swarm.startBroker();
    expect(
      await publishAsMallory('approvals/rollout.1.a/pending', request('rollout.1.b'), true),
    ).toBe('refused');
    for (let i = 0; i < MAX_PENDING_PER_AGENT; i++) {
      const id = `rollout.1.n${i}`;
      expect(await publishAsMallory(`approvals/${id}/pending`, request(id), true)).toBe('accepted');
    }
    const over = 'rollout.1.one-too-many';
    expect(await publishAsMallory(`approvals/${over}/pending`, request(over), true)).toBe(
      'refused',
    );
    // Cleared, one makes room for another.
    expect(await publishAsMallory('approvals/rollout.1.n0/pending', '', true)).toBe('accepted');
    expect(await publishAsMallory(`approvals/${over}/pending`, request(over), true)).toBe(
      'accepted',
    );
    expect(await retainedTopics()).toHaveLength(MAX_PENDING_PER_AGENT);
  });
});
