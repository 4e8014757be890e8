import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logging/logger.js';
import { Bus } from '../../src/transport/bus.js';
import { TestSwarm } from '../helpers/swarm.js';

describe('closing a bus', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  it('drops the socket when the broker never acknowledges what is in flight, instead of leaving it open', async () => {
    swarm = new TestSwarm();
    const broker = await swarm.startBroker({ open: true });
    const bus = await Bus.connect({
      url: swarm.brokerUrl,
      swarm: swarm.swarm,
      sender: { agentId: 'closer', role: 'cli' },
      clientId: 'closer',
      logger: silentLogger(),
      maxPayloadBytes: 1_000_000,
    });
    // A broker that takes a QoS 1 message and never answers it (a hung or overloaded one).
    broker.aedes.authorizePublish = () => undefined;
    void bus.publishRaw('tasks/new', 'never acknowledged').catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stream = bus.client.stream as unknown as { destroyed: boolean };

    const started = Date.now();
    await bus.close(200);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(stream.destroyed).toBe(true);
  });
});
