import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logging/logger.js';
import { Bus } from '../../src/transport/bus.js';
import { waitUntil } from '../helpers/scenarios.js';
import { countWrites } from '../helpers/socket-writes.js';
import { TestSwarm } from '../helpers/swarm.js';

describe('a bus corks its socket for a turn of the event loop (issue 10)', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  async function connect(clientId: string): Promise<Bus> {
    const bus = await Bus.connect({
      url: swarm.brokerUrl,
      swarm: swarm.swarm,
      sender: { agentId: clientId, role: 'cli' },
      clientId,
      logger: silentLogger(),
      maxPayloadBytes: 1_000_000,
    });
    swarm.onClose(() => bus.close());
    return bus;
  }

  it('sends the packets of one turn, sent ticks and promises apart, in one write and in order', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker({ open: true });
    const reader = await connect('reader');
    const seen: string[] = [];
    reader.onMessage((_topic, bytes) => seen.push(bytes.toString()));
    await reader.subscribe({ 'tasks/new': 1 });
    const writer = await connect('writer');
    await nextTurn();
    const socket = countWrites(writer.client.stream);

    const sent: Promise<void>[] = [];
    sent.push(writer.publishRaw('tasks/new', 'first'));
    await Promise.resolve();
    sent.push(writer.publishRaw('tasks/new', 'second'));
    await new Promise<void>((resolve) => process.nextTick(resolve));
    sent.push(writer.publishRaw('tasks/new', 'third'));
    await Promise.all(sent);

    expect(socket.writes).toBe(1);
    await waitUntil(() => seen.length === 3, 5_000);
    expect(seen).toEqual(['first', 'second', 'third']);
  });

  it('holds nothing past the turn: what was sent is written before the next turn begins', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker({ open: true });
    const writer = await connect('writer');
    await nextTurn();
    const socket = countWrites(writer.client.stream);

    // QoS 0: nothing comes back from the broker to wake the writer up and flush it by chance.
    void writer.publishRaw('tasks/new', 'alone', { qos: 0 });
    await new Promise<void>((resolve) => process.nextTick(resolve));
    expect(socket.writes).toBe(0);
    await nextTurn();

    expect(socket.writes).toBe(1);
  });

  it('writes at once what the hub flushes at the end of its turn', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker({ open: true });
    const writer = await connect('writer');
    await nextTurn();
    const socket = countWrites(writer.client.stream);

    void writer.publishRaw('tasks/new', 'grant', { qos: 0 });
    writer.flush();
    // mqtt.js's own cork of the packet ends with the current tick, still inside this turn.
    await new Promise<void>((resolve) => process.nextTick(resolve));

    expect(socket.writes).toBe(1);
  });
});
