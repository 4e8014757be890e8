import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedBroker } from '../../src/broker/embedded-broker.js';
import { silentLogger } from '../../src/logging/logger.js';
import { waitUntil } from '../helpers/scenarios.js';

describe('the embedded broker', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'sheri-broker-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  async function start(dataDir: string, port = 0): Promise<EmbeddedBroker> {
    const broker = await EmbeddedBroker.start({
      port,
      host: '127.0.0.1',
      dataDir,
      logger: silentLogger(),
    });
    cleanups.push(() => broker.close());
    return broker;
  }

  it('keeps retained messages and queued QoS 1 messages of a persistent session across a restart', async () => {
    const dir = tempDir();
    const first = await start(dir);
    const port = first.port;
    const session = await mqtt.connectAsync(first.url, {
      clientId: 'keeper',
      clean: false,
      protocolVersion: 4,
    });
    await session.subscribeAsync('s/queued', { qos: 1 });
    await session.endAsync();
    const publisher = await mqtt.connectAsync(first.url, { protocolVersion: 4 });
    await publisher.publishAsync('s/retained', 'still here', { qos: 1, retain: true });
    await publisher.publishAsync('s/queued', 'waited for you', { qos: 1 });
    await publisher.endAsync();
    await first.close();

    const second = await start(dir, port);
    const received: string[] = [];
    const back = mqtt.connect(second.url, { clientId: 'keeper', clean: false, protocolVersion: 4 });
    cleanups.push(() => back.endAsync(true));
    back.on('message', (topic, payload) => received.push(`${topic}=${payload.toString()}`));
    await waitUntil(
      () => received.includes('s/queued=waited for you'),
      5_000,
      () => received.join(),
    );

    const reader = await mqtt.connectAsync(second.url, { protocolVersion: 4 });
    cleanups.push(() => reader.endAsync(true));
    reader.on('message', (topic, payload) => received.push(`${topic}=${payload.toString()}`));
    await reader.subscribeAsync('s/retained', { qos: 1 });
    await waitUntil(
      () => received.includes('s/retained=still here'),
      5_000,
      () => received.join(),
    );
  });

  it('sends again after a restart what a persistent session received but never acknowledged, and only that', async () => {
    const dir = tempDir();
    const first = await start(dir);
    const port = first.port;
    const received: string[] = [];
    const session = await mqtt.connectAsync(first.url, {
      clientId: 'slow-reader',
      clean: false,
      protocolVersion: 4,
    });
    session.on('message', (_topic, payload) => received.push(payload.toString()));
    await session.subscribeAsync('s/work', { qos: 1 });
    const publisher = await mqtt.connectAsync(first.url, { protocolVersion: 4 });
    cleanups.push(() => publisher.endAsync(true));
    await publisher.publishAsync('s/work', 'acknowledged', { qos: 1 });
    await waitUntil(() => received.includes('acknowledged'), 5_000);
    // From now on the reader takes messages but acknowledges none (as a hub that dies before
    // it has recorded them), then vanishes.
    session.handleMessage = () => undefined;
    await publisher.publishAsync('s/work', 'never acknowledged', { qos: 1 });
    await waitUntil(() => received.includes('never acknowledged'), 5_000);
    await session.endAsync(true);
    await publisher.publishAsync('s/work', 'sent while away', { qos: 1 });
    await first.close();

    const second = await start(dir, port);
    const again: string[] = [];
    const back = mqtt.connect(second.url, {
      clientId: 'slow-reader',
      clean: false,
      protocolVersion: 4,
    });
    cleanups.push(() => back.endAsync(true));
    back.on('message', (_topic, payload) => again.push(payload.toString()));
    await waitUntil(
      () => again.length >= 2,
      5_000,
      () => again.join(),
    );
    expect(again.sort()).toEqual(['never acknowledged', 'sent while away']);
  });

  it('says which port is taken when it cannot listen', async () => {
    const broker = await start(tempDir());
    await expect(start(tempDir(), broker.port)).rejects.toThrow(
      `port ${broker.port} on 127.0.0.1 is in use`,
    );
  });

  it('delivers an empty retained message as the Last Will of a client that vanishes', async () => {
    const broker = await start(tempDir());
    const watcher = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    cleanups.push(() => watcher.endAsync(true));
    const seen: number[] = [];
    watcher.on('message', (_topic, payload) => seen.push(payload.length));
    await watcher.subscribeAsync('a/status', { qos: 1 });
    const doomed = await mqtt.connectAsync(broker.url, {
      protocolVersion: 4,
      will: { topic: 'a/status', payload: Buffer.alloc(0), qos: 1, retain: true },
    });
    await doomed.publishAsync('a/status', 'online', { qos: 1, retain: true });
    await doomed.endAsync(true); // no DISCONNECT: the broker must publish the will
    await waitUntil(
      () => seen.length === 2,
      5_000,
      () => seen.join(),
    );
    expect(seen).toEqual([6, 0]);
    // aedes counts the client gone once it has torn the connection down, just after the Will.
    await waitUntil(
      () => broker.aedes.connectedClients === 1,
      5_000,
      () => String(broker.aedes.connectedClients),
    );
  });
});

describe('the embedded broker with its on-disk store', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  it('delivers every QoS 1 message of a burst from many publishers to persistent and clean subscribers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sheri-broker-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const broker = await EmbeddedBroker.start({
      port: 0,
      host: '127.0.0.1',
      dataDir: dir,
      logger: silentLogger(),
    });
    cleanups.push(() => broker.close());
    const seen = { persistent: new Set<string>(), clean: new Set<string>() };
    for (const kind of ['persistent', 'clean'] as const) {
      const client = await mqtt.connectAsync(broker.url, {
        clientId: `sub-${kind}`,
        clean: kind === 'clean',
        protocolVersion: 4,
      });
      cleanups.push(() => client.endAsync(true));
      client.on('message', (_topic, payload) => seen[kind].add(payload.toString()));
      await client.subscribeAsync('burst/#', { qos: 1 });
    }
    const publishers = await Promise.all(
      Array.from({ length: 5 }, () => mqtt.connectAsync(broker.url, { protocolVersion: 4 })),
    );
    cleanups.push(async () => void (await Promise.all(publishers.map((p) => p.endAsync(true)))));
    await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        // Some retained, as agent presence is: their store write is the slow path.
        publishers[i % 5]!.publishAsync(`burst/${i % 7}`, `m${i}`, {
          qos: 1,
          retain: i % 10 === 0,
        }),
      ),
    );
    await waitUntil(
      () => seen.persistent.size === 500 && seen.clean.size === 500,
      10_000,
      () => `persistent ${seen.persistent.size}/500, clean ${seen.clean.size}/500`,
    );
  });
});
