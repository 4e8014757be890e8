import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedBroker } from '../../src/broker/embedded-broker.js';
import { silentLogger } from '../../src/logging/logger.js';
import { connectMqtt } from '../../src/transport/mqtt-connect.js';
import { requireTool } from '../helpers/tools.js';

const loaded = (name: string): boolean => {
  const cache = createRequire(import.meta.url).cache;
  return Object.keys(cache).some((file) => file.includes(`/node_modules/${name}/`));
};

/** The arguments of the client's next `event`. */
function next(client: MqttClient, event: 'connect' | 'error' | 'message'): Promise<unknown[]> {
  return new Promise((resolve) => client.once(event, (...args: unknown[]) => resolve(args)));
}

const base = { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5_000 } as const;

describe('connectMqtt', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  function track(client: MqttClient): MqttClient {
    cleanups.push(() => client.endAsync(true));
    return client;
  }

  async function openBroker(tls?: { cert: Buffer; key: Buffer }): Promise<EmbeddedBroker> {
    const broker = await EmbeddedBroker.start({
      port: 0,
      host: '127.0.0.1',
      logger: silentLogger(),
      ...(tls ? { tls: { port: 0, ...tls } } : {}),
    });
    cleanups.push(() => broker.close());
    return broker;
  }

  it('connects to mqtt:// and carries messages without loading mqtt.js WebSocket or SOCKS transport', async () => {
    expect(loaded('ws')).toBe(false);
    const broker = await openBroker();
    const client = track(connectMqtt(broker.url, { ...base, clientId: 'plain-tcp' }));
    await next(client, 'connect');
    await client.subscribeAsync('t/1', { qos: 1 });
    const got = next(client, 'message');
    await client.publishAsync('t/1', 'hello', { qos: 1 });
    const [topic, payload] = (await got) as [string, Buffer];
    expect([topic, payload.toString()]).toEqual(['t/1', 'hello']);
    expect(loaded('ws')).toBe(false);
    expect(loaded('socks')).toBe(false);
  });

  it('reconnects through the same builder after the broker drops it', async () => {
    const broker = await openBroker();
    const client = track(
      connectMqtt(broker.url, { ...base, reconnectPeriod: 50, clientId: 'reconnects' }),
    );
    await next(client, 'connect');
    client.stream.destroy();
    await next(client, 'connect');
    expect(client.connected).toBe(true);
  });

  it.skipIf(!requireTool('openssl'))(
    'connects to mqtts:// only to a broker whose certificate it trusts',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sheri-mqtt-tls-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const [certFile, keyFile] = [join(dir, 'server.crt'), join(dir, 'server.key')];
      execFileSync(
        'openssl',
        [
          ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'],
          ...['-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=x'],
          ...['-addext', 'subjectAltName=IP:127.0.0.1'],
        ],
        { stdio: 'ignore' },
      );
      const cert = readFileSync(certFile);
      const broker = await openBroker({ cert, key: readFileSync(keyFile) });
      const url = `mqtts://127.0.0.1:${broker.tlsPort}`;
      const untrusting = track(connectMqtt(url, { ...base, clientId: 'untrusting' }));
      const [error] = (await next(untrusting, 'error')) as [Error];
      expect(error.message).toMatch(/self.signed|certificate/);
      expect(untrusting.connected).toBe(false);
      const trusting = track(connectMqtt(url, { ...base, ca: cert, clientId: 'trusting' }));
      await next(trusting, 'connect');
      expect(trusting.connected).toBe(true);
      expect(loaded('ws')).toBe(false);
    },
  );

  it("hands a ws:// URL to mqtt.js's own connect(), WebSocket transport and all", async () => {
    const client = track(connectMqtt('ws://127.0.0.1:9/mqtt', { ...base, clientId: 'ws' }));
    expect(client).toBeDefined();
    expect(loaded('ws')).toBe(true);
  });
});
