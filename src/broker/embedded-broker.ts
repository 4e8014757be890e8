import { mkdirSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import { Aedes, type AedesOptions, type Client } from 'aedes';
import { Level } from 'level';
import type { Logger } from '../logging/logger.js';

const require = createRequire(import.meta.url);
// The async persistence class is what aedes 1.x wants (its setup() must be async); the package's
// main export wraps it in a callback adapter.
const AsyncLevelPersistence = require('aedes-persistence-level/asyncPersistence.js') as new (
  db: Level<string, Buffer>,
) => { createRetainedStreamCombi(patterns: string[]): Readable };

/**
 * aedes pipes the retained-message stream of a SUBSCRIBE without an error listener; if the store
 * closes while one is still being read (broker shutdown), that would be an uncaught error.
 */
class GuardedLevelPersistence extends AsyncLevelPersistence {
  override createRetainedStreamCombi(patterns: string[]): Readable {
    return super.createRetainedStreamCombi(patterns).on('error', () => undefined);
  }
}

export interface EmbeddedBrokerOptions {
  port: number;
  host: string;
  /** Folder for retained messages, persistent sessions and queued QoS 1 messages; none: memory. */
  dataDir?: string;
  logger: Logger;
  /** Policy hooks (SPEC §6); aedes' defaults allow everything but `$SYS` publishes. */
  hooks?: Pick<
    AedesOptions,
    'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe'
  >;
}

/**
 * aedes drops, as a cluster duplicate, any packet whose broker counter is lower than one it has
 * already delivered to that client. With an on-disk store, QoS 1 publishes finish their store
 * writes out of order, so counters reach clients out of order and whole messages vanish (seen:
 * 6 of 50 tasks/complete lost). One node has no cluster duplicates: keep the watermark at 0.
 * MQTT-3.3.5-1 lets a client with overlapping subscriptions receive a copy per subscription.
 * This stops the loss, not the reordering (PROTOCOL §8.4): the protocol never relies on order.
 */
function keepEveryDelivery(client: Client): void {
  (client as unknown as { duplicates: Record<string, number> }).duplicates = new Proxy(
    {},
    { get: () => 0, set: () => true },
  );
}

/** aedes on TCP with its state on disk, so sessions and retained messages survive a restart. */
export class EmbeddedBroker {
  private constructor(
    readonly aedes: Aedes,
    private readonly server: Server,
    private readonly db: Level<string, Buffer> | undefined,
    readonly port: number,
    readonly host: string,
  ) {}

  static async start(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
    let db: Level<string, Buffer> | undefined;
    let persistence: unknown;
    if (options.dataDir) {
      mkdirSync(options.dataDir, { recursive: true });
      db = new Level<string, Buffer>(options.dataDir, { valueEncoding: 'buffer' });
      await db.open();
      persistence = new GuardedLevelPersistence(db);
    }
    const userPreConnect = options.hooks?.preConnect;
    const aedes = await Aedes.createBroker({
      ...(persistence ? { persistence } : {}),
      ...options.hooks,
      preConnect(client, packet, callback) {
        keepEveryDelivery(client);
        if (userPreConnect) userPreConnect(client, packet, callback);
        else callback(null, true);
      },
    });
    aedes.on('clientError', (client, error) =>
      options.logger.debug({ clientId: client.id, err: error.message }, 'client error'),
    );
    // Small MQTT packets must not wait for Nagle and delayed ACKs (~40 ms a hop on Linux).
    const server = createServer({ noDelay: true }, aedes.handle);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, options.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await db?.close();
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') {
        throw new Error(
          `port ${options.port} on ${options.host} is in use — is another broker running? Use --port to pick another`,
        );
      }
      throw error;
    }
    const { port } = server.address() as AddressInfo;
    options.logger.info({ port, host: options.host, dataDir: options.dataDir }, 'broker listening');
    return new EmbeddedBroker(aedes, server, db, port, options.host);
  }

  get url(): string {
    return `mqtt://${this.host}:${this.port}`;
  }

  /** Stop accepting, disconnect every client, flush and close the store. */
  async close(): Promise<void> {
    const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
    await serverClosed;
    await this.db?.close();
  }
}
