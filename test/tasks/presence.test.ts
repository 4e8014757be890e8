import { afterEach, describe, expect, it } from 'vitest';
import type { Bus } from '../../src/transport/bus.js';
import type { BusRecorder } from '../helpers/bus-recorder.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { waitUntil } from '../helpers/scenarios.js';
import { countRuns, TestSwarm } from '../helpers/swarm.js';
import { requireTool } from '../helpers/tools.js';

/**
 * An agent that claims and never acknowledges what it is granted (PROTOCOL §4.1), with the
 * Last Will real agents have: its retained status cleared.
 */
async function silentAgent(swarm: TestSwarm, name: string): Promise<Bus> {
  const status = `agents/${name}/status`;
  const bus = await swarm.connectAs(
    { kind: 'agent', name, role: 'testing' },
    { will: { topic: status, payload: '', retain: true } },
  );
  await bus.publish(
    status,
    { state: 'online', role: 'testing', since: new Date().toISOString() },
    { retain: true },
  );
  await bus.publish('tasks/claim', { free: 1, running: [] });
  return bus;
}

function grantsTo(recorder: BusRecorder, name: string): number {
  return recorder.on(`tasks/assigned/${name}`).length;
}

describe('presence: Last Wills and deaths', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  it('dead-letters a task that kills its agent before the grant is acknowledged after max_attempts deaths, not max_attempts + 10', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    const recorder = await swarm.record();
    await swarm.submit([{ ...swarm.taskAppending('poison', 'testing.run'), max_attempts: 3 }]);
    let deaths = 0;
    while (hub.ledger.get('poison')?.state !== 'dead' && deaths < 12) {
      const name = `victim-${deaths}`;
      const bus = await silentAgent(swarm, name);
      await recorder.waitFor(() => grantsTo(recorder, name) === 1, 10_000);
      await bus.destroy(); // dies before any word of the attempt: its Will fires
      deaths += 1;
      // The ledger, not memory: the death is decided in memory and recorded in the turn just
      // after, and the loop's test reads the ledger (seen: a fourth victim started, and waited
      // for ever, between the two).
      await waitUntil(
        () => hub.ledger.get('poison')?.state !== 'assigned',
        10_000,
        () => JSON.stringify(hub.ledger.history('poison')),
      );
    }
    expect(deaths).toBe(3);
    expect(hub.ledger.get('poison')).toMatchObject({ state: 'dead', failures: 3, attempt: 3 });
    expect(hub.ledger.history('poison').filter((e) => e.kind === 'ack')).toEqual([]);
  });

  it('does not count against unacknowledged grants the Wills of agents that die together, so a hiccup kills no healthy task', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    const recorder = await swarm.record();
    const buses = [];
    for (let i = 0; i < 3; i++) buses.push(await silentAgent(swarm, `held-${i}`));
    // max_attempts 1: one counted death would kill a task.
    await swarm.submit(
      [0, 1, 2].map((i) => ({
        ...swarm.taskAppending(`healthy-${i}`, 'testing.run'),
        max_attempts: 1,
      })),
    );
    await recorder.waitFor(() => recorder.on('tasks/assigned').length === 3, 10_000);
    await Promise.all(buses.map((bus) => bus.destroy()));
    // The ledger, not memory: the tick decides in memory and its turn records just after.
    await waitUntil(
      () => [0, 1, 2].every((i) => hub.ledger.get(`healthy-${i}`)?.state === 'queued'),
      10_000,
      () => JSON.stringify(hub.ledger.counts()),
    );
    for (const i of [0, 1, 2]) {
      expect(hub.ledger.get(`healthy-${i}`)).toMatchObject({ state: 'queued', failures: 0 });
    }
    expect(recorder.on('tasks/dead')).toEqual([]);
  });

  const haveMosquitto = requireTool('mosquitto');
  it.skipIf(!haveMosquitto)(
    'keeps running tasks on their agents across a mosquitto SIGTERM restart without persistence, its Wills settled from the reconnect',
    async () => {
      swarm = new TestSwarm();
      const first = await startMosquitto(swarm.dir, undefined, false);
      swarm.useBroker(first.url);
      let broker = first;
      swarm.onCloseLast(() => broker.stop());
      const hub = await swarm.startHub({ leaseMs: 10_000 });
      for (let i = 0; i < 3; i++) await swarm.startAgent('testing', { leaseMs: 10_000 });
      const recorder = await swarm.record();
      const ids = [0, 1, 2].map((i) => `across-${i}`);
      await swarm.submit(ids.map((id) => swarm.taskAppending(id, 'testing.run', {}, 'sleep 5; ')));
      await recorder.waitFor(() => recorder.on('tasks/progress').length >= 3, 15_000);

      await first.stop('SIGTERM');
      // Past the 1 s grace: a Will counted from its arrival would be acted on at the reconnect.
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      broker = await startMosquitto(swarm.dir, first.port, false);

      await waitUntil(
        () => hub.ledger.counts().complete === 3,
        30_000,
        () => JSON.stringify(ids.map((id) => hub.ledger.history(id))),
      );
      const runs = countRuns(swarm.executions());
      expect([...runs.values()]).toEqual([1, 1, 1]);
      for (const id of ids) {
        expect(hub.ledger.get(id)).toMatchObject({ attempt: 1, failures: 0 });
        expect(hub.ledger.history(id).filter((e) => e.kind === 'agent_lost')).toEqual([]);
      }
    },
    60_000,
  );
});
