import { mkdirSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { Aedes, type Client } from 'aedes';
import { Level } from 'level';
import type { CredentialStore } from '../auth/credential-store.js';
import type { Logger } from '../logging/logger.js';
import { BrokerAuth, isLoopbackHost } from './broker-auth.js';
import { BatchedLevelPersistence } from './level-persistence.js';
import { corkEachTurn } from '../transport/turn-cork.js';
import { DEFAULTS } from '../config/defaults.js';
import { MAX_REPLY_BYTES } from '../protocol/limits.js';
import {
  limitPacketSizes,
  PRE_LOGIN_PACKET_BYTES,
  PUBLISH_OVERHEAD_BYTES,
} from './packet-limits.js';

export interface EmbeddedBrokerOptions {
  port: number;
  host: string;
  /** Folder for retained messages, persistent sessions and queued QoS 1 messages; none: memory. */
  dataDir?: string;
  logger: Logger;
  /**
   * Authenticate against this credential store and enforce the topic table (PROTOCOL §15.3);
   * none: an open broker, where anyone may do anything.
   */
  auth?: CredentialStore;
  /** Let an open broker listen beyond loopback (refused otherwise, PROTOCOL §15.3). */
  insecure?: boolean;
  /** A TLS listener too (mqtts://): its port (0: any), certificate and key (PEM). */
  tls?: { port: number; cert: Buffer; key: Buffer };
  /** The swarm's message size limit (config `maxPayloadBytes`): the packets it takes follow. */
  maxPayloadBytes?: number;
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
    private readonly servers: Server[],
    private readonly db: Level<string, Buffer> | undefined,
    private readonly persistence: BatchedLevelPersistence | undefined,
    readonly port: number,
    readonly host: string,
    /** The TLS listener's port, when there is one. */
    readonly tlsPort: number | undefined,
    private readonly auth: BrokerAuth | undefined,
  ) {}

  static async start(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
    if (!options.auth && !options.insecure && !isLoopbackHost(options.host)) {
      throw new Error(
        `an open broker (--no-auth) would let anyone on the network run commands on the agents; it listens on ${options.host} only with --insecure (or drop --no-auth, or listen on 127.0.0.1)`,
      );
    }
    const auth = options.auth
      ? new BrokerAuth(
          options.auth,
          options.logger,
          options.maxPayloadBytes ?? DEFAULTS.maxPayloadBytes,
        )
      : undefined;
    let db: Level<string, Buffer> | undefined;
    let persistence: BatchedLevelPersistence | undefined;
    if (options.dataDir) {
      mkdirSync(options.dataDir, { recursive: true });
      db = new Level<string, Buffer>(options.dataDir, { valueEncoding: 'buffer' });
      await db.open();
      persistence = new BatchedLevelPersistence(db, (error) =>
        options.logger.error(
          { err: error instanceof Error ? error.message : String(error), dataDir: options.dataDir },
          'the broker could not write its queue of QoS 1 messages to its store: a restart may lose or resend some',
        ),
      );
    }
    const aedes = await Aedes.createBroker({
      ...(persistence ? { persistence } : {}),
      ...auth?.hooks(),
      preConnect(client, _packet, callback) {
        keepEveryDelivery(client);
        callback(null, true);
      },
    });
    auth?.attach(aedes);
    aedes.on('clientError', (client, error) =>
      options.logger.debug({ clientId: client.id, err: error.message }, 'client error'),
    );
    // Small MQTT packets must not wait for Nagle and delayed ACKs (~40 ms a hop on Linux).
    // What the broker sends one client in a turn goes in one write (turn-cork.ts).
    // No packet longer than the connection may send is buffered (packet-limits.ts); an open
    // broker has no logins, so anyone connected may send what the hub does.
    const connected = new WeakSet<object>();
    aedes.on('client', (client) => connected.add(client.conn));
    const handle = (socket: Socket): void => {
      corkEachTurn(socket);
      limitPacketSizes(
        socket,
        () =>
          connected.has(socket)
            ? (auth?.packetLimitOf(socket) ?? MAX_REPLY_BYTES + PUBLISH_OVERHEAD_BYTES)
            : PRE_LOGIN_PACKET_BYTES,
        () => connected.has(socket),
        (reason) =>
          options.logger.warn(
            { remote: socket.remoteAddress },
            `connection closed: it ${reason} (a sheri message is at most maxPayloadBytes)`,
          ),
      );
      aedes.handle(socket);
    };
    const server = createServer({ noDelay: true }, handle);
    const servers: Server[] = [server];
    try {
      await listen(server, options.port, options.host);
      if (options.tls) {
        const { cert, key, port } = options.tls;
        const secure = createTlsServer({ cert, key }, handle);
        secure.on('secureConnection', (socket) => socket.setNoDelay(true));
        servers.push(secure);
        await listen(secure, port, options.host);
      }
    } catch (error) {
      auth?.close();
      for (const open of servers) if (open.listening) open.close();
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
    const tlsPort = servers[1] ? (servers[1].address() as AddressInfo).port : undefined;
    options.logger.info(
      {
        port,
        host: options.host,
        dataDir: options.dataDir,
        ...(tlsPort ? { tlsPort } : {}),
        auth: auth ? 'credentials' : 'none (open broker)',
      },
      'broker listening',
    );
    return new EmbeddedBroker(aedes, servers, db, persistence, port, options.host, tlsPort, auth);
  }

  get url(): string {
    return `mqtt://${this.host}:${this.port}`;
  }

  /** Stop accepting, disconnect every client, flush and close the store. */
  async close(): Promise<void> {
    this.auth?.close();
    const serversClosed = this.servers.map(
      (server) => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
    await Promise.all(serversClosed);
    await this.persistence?.flush();
    await this.db?.close();
  }
}

async function listen(server: Server, port: number, host: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
