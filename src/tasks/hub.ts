import { hostname } from 'node:os';
import type { Config } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import { encodeMessage } from '../protocol/codec.js';
import { buildTopic, TOPIC } from '../protocol/topics.js';
import { Bus, type Subscriptions } from '../transport/bus.js';
import { withTimeout } from '../util/with-timeout.js';
import { AgentRegistry } from './agent-registry.js';
import { HubHandlers } from './hub-handlers.js';
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
}

const HUB_ID = 'hub';

// The hub's persistent session queues these while it is down (SPEC §3); heartbeats and queries
// are only useful live.
const SUBSCRIPTIONS: Subscriptions = {
  [TOPIC.tasksNew]: 1,
  [TOPIC.tasksClaim]: 1,
  [TOPIC.tasksRelease]: 1,
  [TOPIC.tasksComplete]: 1,
  [TOPIC.tasksFailed]: 1,
  [TOPIC.tasksProgress]: 0,
  [TOPIC.agentsRegister]: 1,
  [TOPIC.agentsShutdown]: 1,
  [TOPIC.agentsHeartbeat]: 0,
  'agents/+/status': 1,
  [TOPIC.hubQuery]: 0,
};

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
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    readonly bus: Bus,
    readonly ledger: Ledger,
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {
    this.scheduler = new Scheduler(bus, ledger, this.registry, config, logger, now);
    this.presence = new Presence(this.registry, this.scheduler, config, logger, now);
    this.handlers = new HubHandlers(
      bus,
      ledger,
      this.registry,
      this.scheduler,
      this.presence,
      config,
      logger,
      now,
    );
  }

  static async start(options: HubOptions, signal?: AbortSignal): Promise<Hub> {
    const { config, logger } = options;
    const now = options.now ?? Date.now;
    const ledger = new Ledger(options.ledgerPath);
    // No one renewed leases while the hub was down: give running attempts a fresh lease.
    ledger.extendAllLeases(now() + config.leaseMs);
    const bus = Bus.open({
      url: config.broker,
      swarm: config.swarm,
      sender: { agentId: HUB_ID, role: 'hub' },
      // One hub per swarm; its persistent session is how tasks submitted while it is down wait.
      clientId: `sheri-hub-${config.swarm}`,
      clean: false,
      will: {
        topic: TOPIC.hubStatus,
        payload: encodeMessage(
          { agentId: HUB_ID, role: 'hub' },
          // No `since`: a will is written when the hub connects, not when it dies.
          { state: 'offline', reason: 'connection lost' },
        ),
        retain: true,
      },
      logger,
      maxPayloadBytes: config.maxPayloadBytes,
    });
    // Wired before the first CONNACK: the session's queued messages may come in the same packet.
    const hub = new Hub(bus, ledger, config, logger, now);
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
    await bus.subscribe(SUBSCRIPTIONS);
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
    const status = { state: 'online', since: new Date(this.now()).toISOString(), host: hostname() };
    await this.bus.publish(TOPIC.hubStatus, status, { retain: true });
    this.scheduler.publishBudget();
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
    this.scheduler.dispatch();
  }

  /** Grant queued tasks to agents with free capacity, least recently served agent first. */
  dispatch(): void {
    this.scheduler.dispatch();
  }
}
