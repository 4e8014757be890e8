import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logging/logger.js';
import { Bus } from '../../src/transport/bus.js';
import { waitUntil } from '../helpers/scenarios.js';
import { TestSwarm } from '../helpers/swarm.js';

describe('a bus that holds its acknowledgements (the hub)', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  async function hubBus(): Promise<{ bus: Bus; seen: string[] }> {
    const seen: string[] = [];
    const bus = Bus.open({
      url: swarm.brokerUrl,
      swarm: swarm.swarm,
      sender: { agentId: 'hub', role: 'hub' },
      clientId: 'persistent-reader',
      clean: false,
      logger: silentLogger(),
      maxPayloadBytes: 1_000_000,
      holdAcks: true,
    });
    bus.onMessage((_topic, bytes) => seen.push(bytes.toString()));
    swarm.onClose(() => bus.destroy());
    await bus.ready();
    await bus.subscribe({ 'tasks/new': 1 });
    return { bus, seen };
  }

  it('gets again a message it never acknowledged, when it dies before recording it', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker({ open: true });
    const first = await hubBus();
    const publisher = await swarm.connectAs({ kind: 'operator' }, { signing: false });
    await publisher.publishRaw('tasks/new', 'recorded');
    await waitUntil(() => first.seen.includes('recorded'), 5_000);
    first.bus.releaseAcks();
    await publisher.publishRaw('tasks/new', 'not recorded');
    await waitUntil(() => first.seen.includes('not recorded'), 5_000);
    // Killed before its turn ended: the second message's acknowledgement never left.
    await first.bus.destroy();

    const second = await hubBus();
    await waitUntil(() => second.seen.length > 0, 5_000);
    await publisher.publishRaw('tasks/new', 'marker');
    await waitUntil(() => second.seen.includes('marker'), 5_000);
    expect(second.seen).toEqual(['not recorded', 'marker']);
  });
});
