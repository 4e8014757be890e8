import { connect, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import {
  limitPacketSizes,
  PacketMeter,
  PRE_LOGIN_TOTAL_BYTES,
} from '../../src/broker/packet-limits.js';
import { waitForComplete } from '../helpers/scenarios.js';
import { TestSwarm } from '../helpers/swarm.js';

/** MQTT's remaining length of `n`: 7 bits a byte, the high bit saying more follow. */
function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 128;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

/** A fixed header announcing a packet of type `type` and `length` bytes. */
function header(type: number, length: number): Buffer {
  return Buffer.concat([Buffer.from([type]), remainingLength(length)]);
}

describe('the packet meter', () => {
  it('follows packets across chunks and stops at the first longer than the limit', () => {
    const meter = new PacketMeter();
    const limit = () => 1_000;
    const stream = Buffer.concat([
      header(0x30, 999),
      Buffer.alloc(999),
      header(0xc0, 0),
      header(0x30, 1_000),
      Buffer.alloc(1_000),
      header(0x30, 1_001),
    ]);
    // One byte at a time: every state is crossed at a chunk's edge.
    let refusal: string | undefined;
    for (let i = 0; i < stream.length && !refusal; i++) {
      refusal = meter.feed(stream.subarray(i, i + 1), limit);
      if (refusal) expect(i).toBe(stream.length - 1);
    }
    expect(refusal).toBe('a packet of 1001 bytes, more than the 1000 this connection may send');
  });

  it('stops a length of more than 4 bytes, which MQTT does not have', () => {
    expect(
      new PacketMeter().feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), () => 1e9),
    ).toBe('a packet length of more than 4 bytes (malformed)');
  });
});

describe('a connection that sends too much before its login', () => {
  const sockets: Socket[] = [];
  afterEach(() => {
    for (const socket of sockets) socket.destroy();
  });

  it(`is closed once it has sent ${PRE_LOGIN_TOTAL_BYTES} bytes, however small its packets`, async () => {
    const refused: string[] = [];
    const server = createServer((socket) => {
      sockets.push(socket);
      limitPacketSizes(
        socket,
        () => 1_000,
        () => false,
        (reason) => refused.push(reason),
      );
      socket.on('readable', () => {
        while (socket.read() !== null);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
    sockets.push(client);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.on('error', () => undefined);
    // PINGREQs, two bytes each: 512 KiB of them.
    client.write(Buffer.alloc(512 * 1024, Buffer.from([0xc0, 0x00])));
    await closed;
    server.close();
    expect(refused).toEqual([
      expect.stringMatching(/^sent \d+ bytes before its login was accepted/),
    ]);
  });
});

describe('the embedded broker', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  /** A raw TCP connection to the broker, and when it was closed (the bytes sent by then). */
  async function rawConnection(): Promise<{ socket: Socket; closed: Promise<void> }> {
    const { port } = new URL(swarm.brokerUrl);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    return { socket, closed };
  }

  /** Write `total` bytes of filler until the socket closes; how many went out. */
  async function writeUntilClosed(socket: Socket, total: number): Promise<number> {
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    let sent = 0;
    while (sent < total && !socket.destroyed) {
      const more = socket.write(chunk);
      sent += chunk.length;
      if (!more) {
        await new Promise<void>((resolve) => {
          socket.once('drain', resolve);
          socket.once('close', resolve);
        });
      }
    }
    return sent;
  }

  it.each([
    { open: false, name: 'as sheri up runs it' },
    { open: true, name: 'open (--no-auth)' },
  ])(
    'closes a connection announcing a CONNECT of 200 MB before holding it, $name, and serves on',
    async ({ open }) => {
      swarm = new TestSwarm();
      await swarm.startBroker({ open, inMemory: true });
      const hub = await swarm.startHub();
      await swarm.startAgent('testing');
      const { socket, closed } = await rawConnection();
      socket.write(header(0x10, 200 * 1024 * 1024));
      const sent = await writeUntilClosed(socket, 200 * 1024 * 1024);
      await closed;
      // Before the fix the broker read all 200 MB (and held them).
      expect(sent).toBeLessThan(16 * 1024 * 1024);
      await swarm.submit([swarm.taskAppending('after-huge-connect', 'testing.run')]);
      await waitForComplete(hub, 1, 15_000);
    },
  );

  it("closes an agent's connection at a PUBLISH longer than maxPayloadBytes allows, before holding it", async () => {
    swarm = new TestSwarm();
    swarm.store.add('agent', 'mallory', 'testing');
    await swarm.startBroker({ inMemory: true });
    await swarm.startHub();
    const client = await mqtt.connectAsync(swarm.brokerUrl, {
      protocolVersion: 4,
      reconnectPeriod: 0,
      clientId: 'mallory',
      ...swarm.login({ kind: 'agent', name: 'mallory', role: 'testing' }),
    });
    const socket = client.stream as Socket;
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    // A PUBLISH of 100 MB on a topic mallory may use, sent as raw bytes after the login.
    const topic = Buffer.from(`${swarm.swarm}/tasks/progress`);
    const length = 2 + topic.length + 2 + 100 * 1024 * 1024;
    socket.write(
      Buffer.concat([
        header(0x32, length),
        Buffer.from([0, topic.length]),
        topic,
        Buffer.from([0, 1]),
      ]),
    );
    const sent = await writeUntilClosed(socket, 100 * 1024 * 1024);
    await closed;
    expect(sent).toBeLessThan(16 * 1024 * 1024);
    await client.endAsync(true);
  });
});
