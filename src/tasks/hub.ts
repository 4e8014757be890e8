import { hostname } from 'node:os';
import { busSecurity } from '../auth/bus-security.js';
import type { Keyring } from '../auth/keyring.js';
import { loadKeyring, requireSigningKey } from '../auth/load-keyring.js';
import type { Config } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import { buildTopic, TOPIC } from '../protocol/topics.js';
import { Bus } from '../transport/bus.js';
import { tlsOf } from '../transport/tls-files.js';
import { withTimeout } from '../util/with-timeout.js';
import { AgentRegistry } from './agent-registry.js';
import { FlowDesk } from './flow-desk.js';
import { HubHandlers, hubSubscriptions } from './hub-handlers.js';
import { Ledger } from './ledger.js';
import { Presence } from './presence.js';
import { Scheduler } from './scheduler.js';

export interface HubOptions {
  config: Config;
  /** SQLite file of the ledger. */
  ledgerPath: string;
  logger: Logger;
  /** Injected clock, for tests of leases and retries. */
  now?: () => number;
  /** Its keys; default: the credential store of `config.dataDir`, created on first start. */
  keyring?: Keyring;
}

const HUB_ID = 'hub';
/** The hub says it is online again at most this often when it reads otherwise (§2.2). */
const REANNOUNCE_MIN_MS = 1_000;

/**
 * The swarm's one arbiter of claims (SPEC §3): records every task durably before granting it,
 * grants each attempt to exactly one agent under a lease, and requeues, retries or dead-letters.
 * The Hub owns the session and the clock; HubHandlers read the messages, the Scheduler decides
 * about tasks and Presence about agents.
 */
export class Hub {
  readonly registry = new AgentRegistry();
  private readonly scheduler: Scheduler;
  private readonly presence: Presence;
  private readonly handlers: HubHandlers;
  /** Flows, schedules and needs that never come (PROTOCOL §17). */
  readonly flows: FlowDesk;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private announcedAt = 0;
  private reannounceTimer: NodeJS.Timeout | undefined;
  private prunedAt: number;

  private constructor(
    readonly bus: Bus,
    readonly ledger: Ledger,
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {
    this.scheduler = new Scheduler(bus, ledger, this.registry, config, logger, now);
    this.presence = new Presence(this.registry, this.scheduler, config, logger, now);
    this.flows = new FlowDesk(bus, ledger, this.scheduler, this.registry, config, logger, now);
    this.handlers = new HubHandlers(
      bus,
      ledger,
      this.registry,
      this.scheduler,
      this.presence,
      config,
      logger,
      now,
      { reannounce: () => this.reannounce() },
      this.flows,
    );
    this.prunedAt = now();
  }

  static async start(options: HubOptions, signal?: AbortSignal): Promise<Hub> {
    const { config, logger } = options;
    const now = options.now ?? Date.now;
    const keyring = options.keyring ?? loadKeyring(config, { kind: 'hub' }, { create: true });
    requireSigningKey(config, keyring, 'the hub');
    const ledger = new Ledger(options.ledgerPath);
    // No one renewed leases while the hub was down: give running attempts a fresh lease.
    ledger.extendAllLeases(now() + config.leaseMs);
    const login = keyring.mqttLogin;
    const bus = Bus.open({
      url: config.broker,
      swarm: config.swarm,
      sender: { agentId: HUB_ID, role: 'hub' },
      // One hub per swarm; its persistent session is how tasks submitted while it is down wait.
      clientId: `sheri-hub-${config.swarm}`,
      clean: false,
      will: {
        topic: TOPIC.hubStatus,
        // No `since`: a will is written when the hub connects, not when it dies.
        envelope: { state: 'offline', reason: 'connection lost' },
        retain: true,
      },
      logger,
      maxPayloadBytes: config.maxPayloadBytes,
      maxJsonDepth: config.maxJsonDepth,
      security: busSecurity(config, keyring, true, now),
      ...(login ? { username: login.username, password: login.password } : {}),
      ...tlsOf(config),
    });
    // Wired before the first CONNACK: the session's queued messages may come in the same packet.
    let hub: Hub;
    try {
      hub = new Hub(bus, ledger, config, logger, now);
      // A schedule of the config file that cannot run stops the start (exit 4).
      hub.flows.start();
    } catch (error) {
      await bus.destroy();
      ledger.close();
      throw error;
    }
    bus.onMessage((topic, bytes) => hub.handle(topic, bytes));
    bus.client.on('connect', () => {
      if (hub.timer) hub.onReconnect();
    });
    try {
      await bus.ready(signal);
    } catch (error) {
      ledger.close();
      throw error;
    }
    await bus.subscribe(hubSubscriptions());
    await hub.announce();
    hub.timer = setInterval(() => hub.tick(), config.leaseCheckMs);
    logger.info(
      { swarm: config.swarm, ledger: options.ledgerPath, ...ledger.counts() },
      'hub ready',
    );
    return hub;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.reannounceTimer);
    this.flows.close();
    if (this.bus.connected) {
      const status = {
        state: 'offline',
        since: new Date(this.now()).toISOString(),
        reason: 'stopped',
      };
      await withTimeout(this.bus.publish(TOPIC.hubStatus, status, { retain: true }), 2_000);
    }
    await this.bus.close();
    this.ledger.close();
  }

  /**
   * Back on the bus after an outage: no agent could renew a lease meanwhile, so every running
   * attempt gets a fresh one before any can lapse; then say the hub is online.
   */
  private onReconnect(): void {
    if (this.closed) return;
    this.ledger.extendAllLeases(this.now() + this.config.leaseMs);
    void this.announce();
  }

  private async announce(): Promise<void> {
    this.announcedAt = this.now();
    const status = { state: 'online', since: new Date(this.now()).toISOString(), host: hostname() };
    await this.bus.publish(TOPIC.hubStatus, status, { retain: true });
    this.scheduler.publishBudget();
  }

  /**
   * Our retained status says otherwise while we run (PROTOCOL §2.2): set it right — at most once
   * a second, so a stream of forged statuses makes no stream of announcements.
   */
  private reannounce(): void {
    if (this.closed || this.reannounceTimer) return;
    const wait = Math.max(0, this.announcedAt + REANNOUNCE_MIN_MS - this.now());
    this.reannounceTimer = setTimeout(() => {
      this.reannounceTimer = undefined;
      if (this.closed) return;
      this.logger.info('hub/status did not say this hub is online; announcing again');
      this.announce().catch((error: unknown) =>
        this.logger.warn({ err: error }, 'could not announce'),
      );
    }, wait);
  }

  /** One message from the bus. Synchronous, so every decision runs before the next message. */
  handle(topic: string, bytes: Buffer): void {
    if (this.closed) return;
    try {
      this.handlers.route(topic, bytes);
    } catch (error) {
      // A bug here must not stop the hub serving; say which message caused it.
      this.logger.error({ err: error, topic }, 'hub failed to handle a message');
      this.bus.reportError({
        code: 'HUB_INTERNAL',
        reason: (error as Error).message,
        topic: buildTopic(this.config.swarm, topic),
      });
    }
  }

  /** Lapsed leases go back to the queue; due retries get dispatched. */
  tick(): void {
    // Cut off from the broker, the hub hears no renewals: lapsing leases now would punish agents
    // for its own outage. onReconnect() renews them all instead.
    if (this.closed || !this.bus.connected) return;
    const now = this.now();
    this.scheduler.expireLeases(now);
    this.presence.settleWills(now);
    this.presence.pruneGone(now);
    this.pruneFinished(now);
    this.flows.tick(now);
    this.scheduler.dispatch();
  }

  /** Retention (PROTOCOL §15.5): finished tasks older than the configured age go. */
  private pruneFinished(now: number): void {
    const { finishedMaxAgeMs, pruneEveryMs } = this.config.retention;
    if (finishedMaxAgeMs === 0 || now - this.prunedAt < pruneEveryMs) return;
    this.prunedAt = now;
    const pruned =
      this.ledger.prune(now - finishedMaxAgeMs) + this.flows.prune(now - finishedMaxAgeMs);
    if (pruned > 0) this.logger.info({ pruned }, 'pruned finished tasks past retention');
  }

  /** Grant queued tasks to agents with free capacity, least recently served agent first. */
  dispatch(): void {
    this.scheduler.dispatch();
  }
}
