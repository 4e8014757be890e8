import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { CredentialStore } from '../../src/auth/credential-store.js';
import { EmbeddedBroker } from '../../src/broker/embedded-broker.js';
import { silentLogger } from '../../src/logging/logger.js';
import { loginFor } from '../helpers/identities.js';
import { requireTool } from '../helpers/tools.js';

describe.skipIf(!requireTool('openssl'))('the embedded broker over TLS', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('takes mqtts:// logins on its TLS listener, from a client that trusts its certificate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sheri-tls-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const [cert, key] = [join(dir, 'server.crt'), join(dir, 'server.key')];
    execFileSync(
      'openssl',
      [
        ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
        ...['-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'],
        ...['-addext', 'subjectAltName=IP:127.0.0.1'],
      ],
      { stdio: 'ignore' },
    );
    const store = CredentialStore.openOrCreate(join(dir, '.sheri'));
    const broker = await EmbeddedBroker.start({
      port: 0,
      host: '127.0.0.1',
      logger: silentLogger(),
      auth: store,
      tls: { port: 0, cert: readFileSync(cert), key: readFileSync(key) },
    });
    cleanups.push(() => broker.close());
    const url = `mqtts://127.0.0.1:${broker.tlsPort}`;
    // Not trusting the certificate: refused by the client itself.
    await expect(
      mqtt.connectAsync(url, {
        protocolVersion: 4,
        reconnectPeriod: 0,
        ...loginFor(store, { kind: 'operator' }),
      }),
    ).rejects.toThrow(/self.signed|certificate/);
    const client = await mqtt.connectAsync(url, {
      protocolVersion: 4,
      reconnectPeriod: 0,
      ca: readFileSync(cert),
      clientId: 'sheri-cli-tls',
      ...loginFor(store, { kind: 'operator' }),
    });
    cleanups.push(() => client.endAsync(true));
    expect(client.connected).toBe(true);
    // The same rules as on TCP: a wrong password is refused.
    await expect(
      mqtt.connectAsync(url, {
        protocolVersion: 4,
        reconnectPeriod: 0,
        ca: readFileSync(cert),
        username: 'operator',
        password: 'guess',
      }),
    ).rejects.toThrow(/Bad username or password/);
  });
});
