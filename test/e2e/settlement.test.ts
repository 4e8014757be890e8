import type { AedesPublishPacket, Client } from 'aedes';
import { afterEach, describe, expect, it } from 'vitest';
import type { BusRecorder } from '../helpers/bus-recorder.js';
import { waitUntil } from '../helpers/scenarios.js';
import { TestSwarm } from '../helpers/swarm.js';
import type { EmbeddedBroker } from '../../src/broker/embedded-broker.js';
import { topicFor } from '../../src/protocol/topic-table.js';
import type { Hub } from '../../src/tasks/hub.js';

/**
 * PROTOCOL §4.8: the broker acknowledged a result (PUBACK) and then lost it before the hub's
 * session had it — mosquitto killed -9 between autosaves, or stopped with `persistence false`.
 * Here the embedded broker loses it for real: its forward hook drops the copy for one client,
 * and aedes then clears the message from that session's store, as a broker that died would.
 */
function loseForwards(
  broker: EmbeddedBroker,
  lose: (clientId: string, topic: string) => boolean,
): { lost: string[] } {
  const lost: string[] = [];
  const forward = broker.aedes.authorizeForward.bind(broker.aedes);
  broker.aedes.authorizeForward = (client: Client, packet: AedesPublishPacket) => {
    if (client && lose(client.id, packet.topic)) {
      lost.push(`${client.id} ${packet.topic}`);
      return null as unknown as AedesPublishPacket;
    }
    return forward(client, packet);
  };
  return { lost };
}

describe('results confirmed end to end (PROTOCOL §4.8)', () => {
  let swarm: TestSwarm;
  let broker: EmbeddedBroker;
  let hub: Hub;
  let recorder: BusRecorder;
  afterEach(async () => swarm.close());

  async function setUp(): Promise<void> {
    swarm = new TestSwarm();
    broker = await swarm.startBroker();
    hub = await swarm.startHub();
    recorder = await swarm.record();
  }

  const hubClient = (): string => `sheri-hub-${swarm.swarm}`;

  it('resends a result the broker acknowledged but never delivered to the hub: recorded once, the task granted once', async () => {
    await setUp();
    let dropped = 0;
    const { lost } = loseForwards(broker, (clientId, topic) => {
      if (clientId !== hubClient() || topic !== `${swarm.swarm}/tasks/complete`) return false;
      return dropped++ === 0;
    });
    const agent = await swarm.startAgent('testing');
    await swarm.submit([swarm.taskAppending('lost-result', 'testing.run')]);

    await waitUntil(
      () => hub.ledger.get('lost-result')?.state === 'complete',
      15_000,
      () => JSON.stringify(hub.ledger.history('lost-result').map((event) => event.kind)),
    );
    expect(lost).toEqual([`${hubClient()} ${swarm.swarm}/tasks/complete`]);
    // Sent twice (the first lost on the way to the hub), recorded once, on the first grant.
    expect(
      recorder.on('tasks/complete').filter((m) => m.payload.task_id === 'lost-result'),
    ).toHaveLength(2);
    const kinds = hub.ledger.history('lost-result').map((event) => event.kind);
    expect(kinds.filter((kind) => kind === 'assigned')).toHaveLength(1);
    expect(kinds.filter((kind) => kind === 'complete')).toHaveLength(1);
    expect(kinds).not.toContain('lease_expired');
    expect(kinds).not.toContain('stale');
    expect(hub.ledger.get('lost-result')).toMatchObject({ attempt: 1, agentId: agent.agentId });
    expect(swarm.executions().filter((run) => run.taskId === 'lost-result')).toHaveLength(1);
    // The hub's confirmation reached the agent: nothing more is resent.
    await recorder.waitFor(() => recorder.on(`tasks/settled/${agent.agentId}`).length >= 1, 5_000);
    await waitUntil(() => agent.outbox.size === 0, 5_000);
    expect(recorder.on('errors')).toEqual([]);
  });

  it('confirms again a resend of a result already recorded, adding no stale event and no errors report', async () => {
    await setUp();
    const agent = await swarm.startAgent('testing');
    let dropped = 0;
    const settledTopic = `${swarm.swarm}/${topicFor('tasksSettled', { agent: agent.agentId })}`;
    loseForwards(broker, (clientId, topic) => {
      if (clientId !== agent.agentId || topic !== settledTopic) return false;
      return dropped++ === 0;
    });
    await swarm.submit([swarm.taskAppending('settled-late', 'testing.run')]);

    // The first confirmation is lost: the agent sends the result again, the hub confirms again.
    await recorder.waitFor(
      () => recorder.on(`tasks/settled/${agent.agentId}`).length >= 2,
      10_000,
      () => `two confirmations; outbox ${agent.outbox.keys().join(', ')}`,
    );
    await waitUntil(() => agent.outbox.size === 0, 5_000);
    const confirmations = recorder.on(`tasks/settled/${agent.agentId}`);
    for (const confirmation of confirmations) {
      expect(confirmation.payload.results).toEqual([{ task_id: 'settled-late', attempt: 1 }]);
    }
    expect(
      recorder.on('tasks/complete').filter((m) => m.payload.task_id === 'settled-late').length,
    ).toBeGreaterThanOrEqual(2);
    const kinds = hub.ledger.history('settled-late').map((event) => event.kind);
    expect(kinds.filter((kind) => kind === 'complete')).toHaveLength(1);
    expect(kinds).not.toContain('stale');
    expect(recorder.on('errors')).toEqual([]);
    expect(swarm.executions().filter((run) => run.taskId === 'settled-late')).toHaveLength(1);
  });

  it('waits, when stopping, for the hub to confirm the outcome it sent last', async () => {
    await setUp();
    const agent = await swarm.startAgent('testing');
    const settledTopic = `${swarm.swarm}/${topicFor('tasksSettled', { agent: agent.agentId })}`;
    let dropped = 0;
    loseForwards(
      broker,
      (clientId, topic) => clientId === agent.agentId && topic === settledTopic && dropped++ === 0,
    );
    await swarm.submit([swarm.taskAppending('last-one', 'testing.run')]);
    await recorder.waitFor(() => recorder.on(`tasks/settled/${agent.agentId}`).length >= 1, 10_000);
    expect(agent.outbox.keys()).toEqual(['last-one#1']);

    await agent.stop('test over');
    expect(agent.outbox.size).toBe(0);
    expect(recorder.on(`tasks/settled/${agent.agentId}`).length).toBeGreaterThanOrEqual(2);
    expect(hub.ledger.history('last-one').map((event) => event.kind)).not.toContain('stale');
  });

  it('confirms a busy agent’s results in its next grants: no confirmation message of their own, no result sent twice', async () => {
    await setUp();
    const agent = await swarm.startAgent('testing');
    const ids = ['busy-1', 'busy-2', 'busy-3', 'busy-4', 'busy-5'];
    await swarm.submit(ids.map((id) => swarm.taskAppending(id, 'testing.run')));

    await waitUntil(
      () => ids.every((id) => hub.ledger.get(id)?.state === 'complete'),
      20_000,
      () => ids.map((id) => `${id} ${hub.ledger.get(id)?.state}`).join(', '),
    );
    await waitUntil(() => agent.outbox.size === 0, 5_000);
    const grants = recorder.on(`tasks/assigned/${agent.agentId}`);
    expect(grants.map((grant) => grant.payload.task_id).sort()).toEqual(ids);
    type Ref = { task_id: string; attempt: number };
    const inGrants = grants.flatMap((grant) => (grant.payload.settled as Ref[] | undefined) ?? []);
    const alone = recorder
      .on(`tasks/settled/${agent.agentId}`)
      .flatMap((message) => message.payload.results as Ref[]);
    // Every result confirmed exactly once; those followed by a grant, in that grant.
    expect([...inGrants, ...alone].map((ref) => ref.task_id).sort()).toEqual(ids);
    expect(inGrants.length).toBeGreaterThanOrEqual(3);
    expect(grants[0]!.payload.settled).toBeUndefined();
    for (const id of ids) {
      expect(recorder.on('tasks/complete').filter((m) => m.payload.task_id === id)).toHaveLength(1);
    }
    expect(recorder.on('errors')).toEqual([]);
  });

  it('confirms on tasks/settled, never in a grant, to an agent whose registration did not say it reads them there', async () => {
    await setUp();
    const identity = { kind: 'agent', name: 'older-agent', role: 'testing' } as const;
    const bus = await swarm.connectAs(identity, { clientId: 'older-agent' });
    await bus.subscribe({ 'tasks/assigned/older-agent': 1, 'tasks/settled/older-agent': 1 });
    // A registration as an agent before PROTOCOL §4.8's grants that confirm: no settled_in_grant.
    await bus.publish('agents/register', { role: 'testing', concurrency: 1, types: [] });
    await swarm.submit([
      swarm.taskAppending('older-1', 'testing.run'),
      swarm.taskAppending('older-2', 'testing.run'),
    ]);
    await bus.publish('tasks/claim', { free: 1, running: [] });
    await recorder.waitFor(() => recorder.on('tasks/assigned/older-agent').length === 1, 10_000);
    const first = recorder.on('tasks/assigned/older-agent')[0]!.payload;
    await bus.publish('tasks/complete', {
      task_id: first.task_id,
      attempt: first.attempt,
      duration_ms: 1,
      result: {},
      free: 1,
      running: [],
    });

    await recorder.waitFor(
      () =>
        recorder.on('tasks/assigned/older-agent').length === 2 &&
        recorder.on('tasks/settled/older-agent').length === 1,
      10_000,
    );
    const second = recorder.on('tasks/assigned/older-agent')[1]!.payload;
    expect(second.settled).toBeUndefined();
    expect(recorder.on('tasks/settled/older-agent')[0]!.payload.results).toEqual([
      { task_id: first.task_id, attempt: first.attempt },
    ]);
    expect(recorder.on('errors')).toEqual([]);
  });

  it('records a result of a superseded attempt stale once however often it is sent, and confirms each send', async () => {
    await setUp();
    const identity = { kind: 'agent', name: 'slow-agent', role: 'testing' } as const;
    const bus = await swarm.connectAs(identity, { clientId: 'slow-agent' });
    await bus.subscribe({ [`tasks/assigned/slow-agent`]: 1 });
    await swarm.submit([swarm.taskAppending('superseded-result', 'testing.run')]);
    // It takes the grant, acknowledges it, then falls silent past its lease (5 s in tests).
    await bus.publish('tasks/claim', { free: 1, running: [] });
    await waitUntil(() => hub.ledger.get('superseded-result')?.state === 'assigned', 10_000);
    await bus.publish('tasks/claim', {
      free: 0,
      running: [{ task_id: 'superseded-result', attempt: 1 }],
    });
    await waitUntil(() => hub.ledger.get('superseded-result')?.state === 'queued', 15_000);

    const late = { task_id: 'superseded-result', attempt: 1, duration_ms: 5, result: 'late' };
    for (let send = 1; send <= 3; send++) {
      await bus.publish('tasks/complete', late);
      await recorder.waitFor(() => recorder.on('tasks/settled/slow-agent').length >= send, 5_000);
    }
    const history = hub.ledger.history('superseded-result');
    expect(history.filter((event) => event.kind === 'stale')).toEqual([
      expect.objectContaining({
        agentId: 'slow-agent',
        attempt: 1,
        detail: { ignored: 'complete' },
      }),
    ]);
    expect(history.map((event) => event.kind)).not.toContain('complete');
    expect(recorder.on('errors')).toEqual([]);
  });
});
