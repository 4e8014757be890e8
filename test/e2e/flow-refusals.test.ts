import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { FlowSubmit } from '../../src/protocol/flow-messages.js';
import { MAX_TASK_DEPTH } from '../../src/protocol/messages.js';
import { MAX_PROGRESS_EVENTS } from '../../src/tasks/hub-handlers.js';
import { envelopeFrom } from '../helpers/identities.js';
import { waitUntil } from '../helpers/scenarios.js';
import { runSheri } from '../helpers/sheri-process.js';
import { TestSwarm } from '../helpers/swarm.js';
import type { Hub } from '../../src/tasks/hub.js';
import type { Bus } from '../../src/transport/bus.js';

/** A flow from someone who does not go through `sheri flow run`: checked again by the hub. */
const CYCLE: FlowSubmit = {
  flow_id: 'loop-1',
  name: 'loop',
  vars: {},
  steps: [
    { id: 'a', type: 'testing.run', payload: {}, needs: ['b'], commands: ['true'] },
    { id: 'b', type: 'testing.run', payload: {}, needs: ['a'], commands: ['true'] },
  ],
};

/**
 * A bare agent client of the swarm, `name` of role testing, holding the queued task `taskId`, as a
 * model's agent holds the task it delegates from: it claims, and the hub grants it that task.
 */
async function holding(swarm: TestSwarm, hub: Hub, name: string, taskId: string): Promise<Bus> {
  const agent = await swarm.connectAs({ kind: 'agent', name, role: 'testing' });
  await agent.subscribe({ [`tasks/assigned/${name}`]: 1 });
  await agent.publish('tasks/claim', { free: 1, running: [] });
  await waitUntil(() => hub.ledger.get(taskId)?.state === 'assigned', 5_000);
  return agent;
}

describe('what the hub refuses of flows (PROTOCOL §17), each said on errors and never recorded', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  it('refuses a flow with a cycle sent straight on the bus, past the CLI', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    const errors = await swarm.record('errors');
    const operator = await swarm.connectAs({ kind: 'operator' });
    await operator.publish('flows/new', CYCLE);
    await errors.waitFor(() => errors.on('errors').length > 0, 5_000);
    expect(errors.on('errors')[0]!.payload).toMatchObject({
      code: 'SCHEMA_INVALID',
      reason:
        'flow loop-1 is refused: steps[0].needs: the steps wait for each other in a cycle: a → b → a',
      flow_id: 'loop-1',
    });
    expect(hub.flows.engine.store.get('loop-1')).toBeUndefined();
    expect(hub.ledger.counts()).toMatchObject({ queued: 0, blocked: 0 });
  });

  it('refuses a task that passes itself off as a flow step', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    const errors = await swarm.record('errors');
    await swarm.submit([
      {
        ...swarm.taskAppending('fake-step', 'testing.run'),
        flow_id: 'deploy-1',
        flow_step: 'deploy',
      },
    ]);
    await errors.waitFor(() => errors.on('errors').length > 0, 5_000);
    expect(errors.on('errors')[0]!.payload).toMatchObject({
      code: 'SCHEMA_INVALID',
      reason: expect.stringMatching(/^payload.flow_id: set by the hub/),
    });
    expect(hub.ledger.get('fake-step')).toBeUndefined();
  });

  it('lets no agent submit a flow', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    const errors = await swarm.record('errors');
    // The embedded broker closes the connection of a refused publish: a client of its own.
    const rogue = { kind: 'agent' as const, name: 'rogue-1', role: 'testing' };
    const client = await mqtt.connectAsync(swarm.brokerUrl, {
      protocolVersion: 4,
      reconnectPeriod: 0,
      clientId: 'rogue-1',
      ...swarm.login(rogue),
    });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const flow = { ...CYCLE, flow_id: 'rogue', steps: [CYCLE.steps[0]!] };
    const body = swarm.sign(rogue, 'flows/new', envelopeFrom(swarm.store, rogue, flow));
    await Promise.race([client.publishAsync(`${swarm.swarm}/flows/new`, body, { qos: 1 }), closed]);
    await client.endAsync(true);
    await errors.waitFor(() => errors.on('errors').length > 0, 5_000);
    expect(errors.on('errors')[0]!.payload).toMatchObject({
      code: 'NOT_AUTHORIZED',
      reporter: 'broker',
    });
    expect(hub.flows.engine.store.get('rogue')).toBeUndefined();
  });

  it("refuses an agent's subtask that would start a service or make an HTTP check", async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    const errors = await swarm.record('errors');
    await swarm.submit([swarm.taskAppending('held', 'testing.run')]);
    const agent = await holding(swarm, hub, 'holder-1', 'held');
    for (const extra of [
      { service: { name: 'x', command: 'npm run deploy:serve' } },
      { http_check: { url: 'http://169.254.169.254/latest/meta-data/' } },
    ]) {
      await agent.publish('tasks/new', {
        task_id: `held.sub-${Object.keys(extra)[0]}`,
        type: 'testing.run',
        parent_task_id: 'held',
        depth: 1,
        ...extra,
      });
    }
    await errors.waitFor(() => errors.on('errors').length >= 2, 5_000);
    expect(errors.on('errors').map((m) => [m.payload.code, m.payload.reason])).toEqual([
      ['NOT_AUTHORIZED', "an agent's subtask may not carry a service: only operators submit those"],
      [
        'NOT_AUTHORIZED',
        "an agent's subtask may not carry an http_check: only operators submit those",
      ],
    ]);
    expect(hub.ledger.get('held.sub-service')).toBeUndefined();
    expect(hub.ledger.get('held.sub-http_check')).toBeUndefined();
  });

  it("sets a subtask's depth from its parent, whatever depth the agent says, and refuses one past the limit", async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    const errors = await swarm.record('errors');
    await swarm.submit([
      swarm.taskAppending('deep', 'testing.run', { depth: 3 }),
      swarm.taskAppending('deepest', 'testing.run', { depth: MAX_TASK_DEPTH }),
    ]);
    for (const [name, parent] of [
      ['holder-1', 'deep'],
      ['holder-2', 'deepest'],
    ] as const) {
      const agent = await holding(swarm, hub, name, parent);
      // A model resetting its depth to 0 would delegate without end, each level a new task.
      await agent.publish('tasks/new', {
        task_id: `${parent}.sub-1`,
        type: 'testing.run',
        parent_task_id: parent,
        depth: 0,
        commands: ['true'],
      });
    }
    await waitUntil(() => hub.ledger.get('deep.sub-1') !== undefined, 5_000);
    expect(hub.ledger.get('deep.sub-1')!.spec.depth).toBe(4);
    await errors.waitFor(() => errors.on('errors').length >= 1, 5_000);
    expect(errors.on('errors')[0]!.payload).toMatchObject({
      code: 'NOT_AUTHORIZED',
      reason: `a subtask ${MAX_TASK_DEPTH + 1} levels below the task its chain started from: delegation goes no deeper than ${MAX_TASK_DEPTH}`,
    });
    expect(hub.ledger.get('deepest.sub-1')).toBeUndefined();
  });

  it('records at most MAX_PROGRESS_EVENTS progress events of an attempt, however many its agent sends', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    await swarm.submit([swarm.taskAppending('chatty', 'testing.run')]);
    const agent = await holding(swarm, hub, 'chatty-1', 'chatty');
    // A model reporting in a loop, or an agent filling the hub's disk, one row a message.
    for (let i = 0; i < MAX_PROGRESS_EVENTS + 50; i++) {
      await agent.publish('tasks/progress', {
        task_id: 'chatty',
        attempt: 1,
        message: `step ${i}`,
      });
    }
    await agent.publish('tasks/complete', {
      task_id: 'chatty',
      attempt: 1,
      duration_ms: 1,
      result: {},
      free: 1,
      running: [],
    });
    await waitUntil(() => hub.ledger.get('chatty')?.state === 'complete', 10_000);
    const progress = hub.ledger.history('chatty').filter((event) => event.kind === 'progress');
    expect(progress).toHaveLength(MAX_PROGRESS_EVENTS);
    expect(progress.at(-1)!.detail).toEqual({ message: `step ${MAX_PROGRESS_EVENTS - 1}` });
  });

  it("leaves an agent's attempt running when a cancel comes from anyone but the hub", async () => {
    swarm = new TestSwarm();
    // An open broker lets anyone publish anywhere: only the signature stands in the way.
    await swarm.startBroker({ open: true });
    const hub = await swarm.startHub();
    const agent = await swarm.startAgent('testing');
    const errors = await swarm.record('errors');
    await swarm.submit([swarm.taskAppending('keep-going', 'testing.run', {}, 'sleep 1.5; ')]);
    await waitUntil(() => hub.ledger.get('keep-going')?.state === 'assigned', 5_000);
    const operator = await swarm.connectAs({ kind: 'operator' });
    await operator.publish(`tasks/cancel/${agent.agentId}`, {
      task_id: 'keep-going',
      attempt: 1,
      reason: 'forged',
    });
    await errors.waitFor(
      () => errors.on('errors').some((m) => m.payload.reporter === agent.agentId),
      5_000,
    );
    expect(
      errors.on('errors').find((m) => m.payload.reporter === agent.agentId)!.payload.code,
    ).toBe('NOT_AUTHORIZED');
    await waitUntil(() => hub.ledger.get('keep-going')?.state === 'complete', 10_000);
    expect(swarm.executions().map((e) => e.taskId)).toEqual(['keep-going']);
  });

  it('ignores a flow submitted twice, saying so', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    const errors = await swarm.record('errors');
    const operator = await swarm.connectAs({ kind: 'operator' });
    const flow: FlowSubmit = {
      ...CYCLE,
      flow_id: 'twice',
      steps: [{ ...CYCLE.steps[0]!, needs: [] }],
    };
    await operator.publish('flows/new', flow);
    await operator.publish('flows/new', flow);
    await errors.waitFor(() => errors.on('errors').length > 0, 5_000);
    expect(errors.on('errors')[0]!.payload).toMatchObject({
      code: 'DUPLICATE_FLOW',
      flow_id: 'twice',
    });
    expect(hub.ledger.list({}).map((task) => task.taskId)).toEqual(['twice.a']);
  });

  it('ends `sheri flow run --wait` with exit 2 and the reason when the hub refuses what the CLI took', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    // The CLI's config knows a type the hub's does not.
    const cliConfig = join(swarm.dir, 'cli.json');
    writeFileSync(cliConfig, JSON.stringify({ taskTypes: { 'lint.run': ['testing'] } }));
    const file = join(swarm.dir, 'lint.yaml');
    writeFileSync(file, 'name: lint\nsteps:\n  lint:\n    type: lint.run\n    commands: "true"\n');
    const run = await runSheri(
      [
        'flow',
        'run',
        file,
        '--wait',
        '--config',
        cliConfig,
        '--broker',
        swarm.brokerUrl,
        '--swarm',
        swarm.swarm,
        '--data-dir',
        swarm.dataDir,
      ],
      // Killed before the test's own timeout, so that a hang shows what the CLI had said.
      { cwd: swarm.dir, timeoutMs: 40_000 },
    );
    expect(run.code, `timed out: ${run.timedOut}; ${run.stderr}`).toBe(2);
    expect(run.stderr).toMatch(
      /rejected by hub: flow lint-[0-9a-f]{8} is refused: steps\[0\]\.type: unknown task type "lint.run"/,
    );
    expect(hub.flows.engine.store.list(10)).toEqual([]);
  });

  it('tells an agent that missed a cancel again, when its heartbeat still lists the attempt', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    // An agent that is away when the cancel goes out: not yet listening on its cancel topic.
    const agent = await swarm.connectAs({ kind: 'agent', name: 'away-1', role: 'testing' });
    await agent.subscribe({ 'tasks/assigned/away-1': 1 });
    const operator = await swarm.connectAs({ kind: 'operator' });
    await operator.publish('flows/new', {
      flow_id: 'missed',
      name: 'missed',
      vars: {},
      steps: [{ id: 'long', type: 'testing.run', payload: {}, needs: [], commands: ['sleep 60'] }],
    });
    await waitUntil(() => hub.ledger.get('missed.long') !== undefined, 5_000);
    await agent.publish('tasks/claim', { free: 1, running: [] });
    await waitUntil(() => hub.ledger.get('missed.long')?.state === 'assigned', 5_000);
    const canceled = hub.flows.answer(
      { query_id: 'q', reply_to: 'x', kind: 'cancel_flow', flow_id: 'missed' },
      'operator',
    );
    expect(canceled).toMatchObject({ ok: true, data: { canceled: 1 } });
    // Back, it listens, and its heartbeat says it still runs the attempt.
    const heard: unknown[] = [];
    agent.onMessage((topic, bytes) => {
      if (topic === 'tasks/cancel/away-1') heard.push(JSON.parse(bytes.toString()).payload);
    });
    await agent.subscribe({ 'tasks/cancel/away-1': 1 });
    const beat = {
      status: 'alive',
      uptime: 1,
      memory: { rss: 1, heapTotal: 1, heapUsed: 1 },
      role: 'testing',
      running: [{ task_id: 'missed.long', attempt: 1 }],
      free: 0,
    };
    await agent.publish('agents/heartbeat', beat, { qos: 0 });
    await waitUntil(() => heard.length > 0, 5_000);
    expect(heard[0]).toMatchObject({
      task_id: 'missed.long',
      attempt: 1,
      reason: 'canceled: flow missed canceled by operator',
    });
  });
});
