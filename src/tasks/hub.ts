import { hostname } from 'node:os';
import { busSecurity } from '../auth/bus-security.js';
import type { Keyring } from '../auth/keyring.js';
import { loadKeyring, requireSigningKey } from '../auth/load-keyring.js';
import type { Config } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import { fillTopic, TOPICS } from '../protocol/topic-table.js';
import { buildTopic, TOPIC } from '../protocol/topics.js';
import { Bus } from '../transport/bus.js';
import { tlsOf } from '../transport/tls-files.js';
import { withTimeout } from '../util/with-timeout.js';
import { AgentRegistry } from './agent-registry.js';
import { SwarmBudget } from './budget.js';
import type { Outbound } from './decisions.js';
import type { Batch } from './scheduler.js';
import { FlowDesk } from './flow-desk.js';
import { HubHandlers, hubSubscriptions } from './hub-handlers.js';
import { Ledger } from './ledger.js';
import { LeadershipLost, type LedgerStore } from './ledger-store.js';
import { Presence } from './presence.js';
import { Scheduler } from './scheduler.js';

export interface HubOptions {
  config: Config;
  /** SQLite file of the ledger (or `store`). */
  ledgerPath?: string;
  /** A ledger opened by the caller (PostgreSQL, postgres-ledger.ts); closed with the hub. */
  store?: LedgerStore;
  /**
   * The leadership this hub holds among several on one ledger (hub-election.ts): its epoch is
   * said in hub/status, and the hub announces itself only while it still holds it.
   */
  leadership?: { epoch: number; holds(): boolean };
  logger: Logger;
  /** Injected clock, for tests of leases and retries. */
  now?: () => number;
  /** Its keys; default: the credential store of `config.dataDir`, created on first start. */
  keyring?: Keyring;
  /**
   * The hub stopped on its own and will serve no more. A ledger that refuses writes (a full
   * disk) no longer stops it — it stalls and resumes (PROTOCOL §3.9) — so nothing in the hub
   * calls this today; `sheri hub` would exit with an error, for its supervisor to restart it.
   */
  onFatal?: (error: Error) => void;
}

const HUB_ID = 'hub';
/** The hub says it is online again at most this often when it reads otherwise (§2.2). */
const REANNOUNCE_MIN_MS = 1_000;
/**
 * Messages decided in memory while the ledger refuses writes; past this, each is left
 * unacknowledged and unread, for the broker to send again after the ledger recovers (§3.9).
 */
const MAX_UNRECORDED_MESSAGES = 5_000;

/**
 * The swarm's one arbiter of claims (SPEC §3): records every task durably before granting it,
 * grants each attempt to exactly one agent under a lease, and requeues, retries or dead-letters.
 * The Hub owns the session, the clock and the I/O; HubHandlers read the messages, the Scheduler
 * decides about tasks (in memory) and Presence about agents.
 *
 * Each turn of the event loop (PROTOCOL §3.8): the messages that arrived are handled — the
 * scheduler decides at once, in memory — then, once, queued tasks are dispatched, the turn's
 * decisions are recorded in one ledger transaction, the messages that carried them are
 * acknowledged, and only then does anything go out.
 */
export class Hub {
  readonly registry = new AgentRegistry();
  readonly scheduler: Scheduler;
  private readonly budget: SwarmBudget;
  private readonly presence: Presence;
  private readonly handlers: HubHandlers;
  /** Flows, schedules and needs that never come (PROTOCOL §17). */
  readonly flows: FlowDesk;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private failed = false;
  /** Decisions the ledger refused, kept to be recorded with the next turn's (PROTOCOL §3.9). */
  private unrecorded: Batch | undefined;
  private stalledSince = 0;
  /** Messages handled during the stall, and how many were left for the broker to resend. */
  private stalledMessages = 0;
  private withheld = 0;
  private ledgerPath = '';
  private turnPending = false;
  /** The ledger is recording a turn (an asynchronous store): the next one waits behind it. */
  private recording: Promise<void> | undefined;
  /** Messages that came meanwhile, handled in order once it is recorded. */
  private readonly waiting: [string, Buffer][] = [];
  private tickDue = false;
  /** Another hub leads now: this one says and records nothing more. */
  private deposed = false;
  private announcedAt = 0;
  private reannounceTimer: NodeJS.Timeout | undefined;
  /** Armed at the earliest retry's `not_before` (PROTOCOL §5.1), not rounded to the tick. */
  private retryTimer: NodeJS.Timeout | undefined;
  private retryAt = Infinity;
  private prunedAt: number;

  private constructor(
    readonly bus: Bus,
    readonly ledger: LedgerStore,
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly now: () => number,
    private readonly onFatal: (error: Error) => void,
    private readonly leadership: HubOptions['leadership'],
  ) {
    this.budget = new SwarmBudget(config.budget, ledger, this.registry);
    this.scheduler = new Scheduler(ledger, this.registry, config, logger, now, this.budget);
    this.presence = new Presence(this.registry, this.scheduler, config, logger, now);
    this.flows = new FlowDesk(ledger.local, this.scheduler, this.registry, config, logger, now);
    this.handlers = new HubHandlers(
      bus,
      ledger,
      this.registry,
      this.scheduler,
      this.presence,
      this.budget,
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
    const ledger =
      options.store ??
      new Ledger(requireLedgerPath(options.ledgerPath), {
        onCheckpointFallback: (reason) =>
          logger.warn(
            { reason },
            "the ledger's WAL is checkpointed in the hub's own commits from now on, not in a worker thread",
          ),
      });
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
      // A message is acknowledged once what it changed is in the ledger (PROTOCOL §3.8).
      holdAcks: true,
      ...(login ? { username: login.username, password: login.password } : {}),
      ...tlsOf(config),
    });
    // Wired before the first CONNACK: the session's queued messages may come in the same packet.
    const onFatal =
      options.onFatal ?? ((error: Error) => logger.fatal({ err: error }, 'hub stopped'));
    let hub: Hub;
    try {
      hub = new Hub(bus, ledger, config, logger, now, onFatal, options.leadership);
      // Memory from the ledger; no one renewed leases while the hub was down: each gets a fresh one.
      hub.scheduler.load(ledger.unfinished());
      // Then the flows that were running carry on, from what memory now holds; a schedule of
      // the config file that cannot run stops the start (exit 4).
      hub.flows.start();
    } catch (error) {
      await bus.destroy();
      await ledger.close();
      throw error;
    }
    hub.ledgerPath = ledger.location;
    bus.onMessage((topic, bytes) => hub.handle(topic, bytes));
    bus.client.on('connect', () => {
      if (hub.timer) hub.onReconnect();
    });
    bus.client.on('close', () => hub.presence.noteDisconnect(now()));
    try {
      await bus.ready(signal);
    } catch (error) {
      await ledger.close();
      throw error;
    }
    await bus.subscribe(hubSubscriptions());
    await hub.announce();
    hub.timer = setInterval(() => hub.tick(), config.leaseCheckMs);
    logger.info(
      {
        swarm: config.swarm,
        ledger: ledger.location,
        ...(options.leadership ? { epoch: options.leadership.epoch } : {}),
        ...ledger.counts(),
      },
      'hub ready',
    );
    return hub;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // What was decided goes to the ledger (and out) before the hub says goodbye.
    if (!this.failed) {
      await this.recording;
      this.turn();
      await this.recording;
    }
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.reannounceTimer);
    clearTimeout(this.retryTimer);
    // A deposed hub says nothing: the leader's status is the retained one now.
    if (this.bus.connected && !this.deposed) {
      const status = {
        state: 'offline',
        since: new Date(this.now()).toISOString(),
        reason: 'stopped',
      };
      await withTimeout(this.bus.publish(TOPIC.hubStatus, status, { retain: true }), 2_000);
    }
    // A clean DISCONNECT drops the Will, and leaves what was not acknowledged to the session.
    await (this.failed && !this.deposed ? this.bus.destroy() : this.bus.close());
    await this.ledger.close();
  }

  /**
   * Another hub leads now (hub-election.ts): this one stops at once, recording, acknowledging
   * and sending nothing more; what it had not acknowledged the broker gives the new leader.
   */
  depose(reason: Error): void {
    if (this.closed || this.deposed) return;
    this.deposed = true;
    this.fail(reason);
  }

  /**
   * Back on the bus after an outage: no agent could renew a lease meanwhile, so every running
   * attempt gets a fresh one before any can lapse; then say the hub is online.
   */
  private onReconnect(): void {
    if (this.closed || this.leadership?.holds() === false) return;
    this.presence.noteReconnect(this.now());
    this.scheduler.extendLeases();
    void this.announce();
  }

  private async announce(): Promise<void> {
    this.announcedAt = this.now();
    const status = {
      state: 'online',
      since: new Date(this.now()).toISOString(),
      host: hostname(),
      // PROTOCOL §2.2: which leadership of the ledger this is; a higher one is a newer hub.
      ...(this.leadership ? { epoch: this.leadership.epoch } : {}),
    };
    await this.bus.publish(TOPIC.hubStatus, status, { retain: true });
    this.scheduler.publishBudget();
    this.scheduleTurn();
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
    if (this.unrecorded && ++this.stalledMessages > MAX_UNRECORDED_MESSAGES) {
      // Memory holds enough the ledger does not: this one waits at the broker instead.
      this.bus.withholdAck();
      this.withheld += 1;
      return;
    }
    if (this.recording) {
      this.waiting.push([topic, bytes]);
      return;
    }
    this.route(topic, bytes);
    this.scheduleTurn();
  }

  private route(topic: string, bytes: Buffer): void {
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
    // Decided after the turn being recorded, so what it finishes is not forgotten (committed()).
    if (this.recording) {
      this.tickDue = true;
      return;
    }
    if (this.unrecorded) {
      // The ledger refused the last turn: try again. Leases do not lapse meanwhile — results
      // and renewals wait unacknowledged, and the agents are not to blame (PROTOCOL §3.9).
      this.scheduler.extendLeases();
      this.scheduleTurn();
      return;
    }
    const now = this.now();
    try {
      this.scheduler.expireLeases();
      this.presence.settleWills(now);
      this.presence.pruneGone(now);
      this.flows.tick(now);
      this.pruneFinished(now);
    } catch (error) {
      // A write outside the turn (retention's prune) refused: said, and tried again next tick.
      this.logger.error({ err: error }, 'the hub could not finish a tick');
    }
    this.scheduleTurn();
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

  /** Grant what can be granted now, record it and send it (tests; the hub does it every turn). */
  dispatch(): void {
    this.turn();
  }

  /** The end of this turn of the event loop, once: whatever arrived in it is handled by then. */
  private scheduleTurn(): void {
    if (this.turnPending || this.closed) return;
    this.turnPending = true;
    setImmediate(() => this.turn());
  }

  /**
   * Dispatch, then record the turn's decisions in one transaction, acknowledge the messages they
   * came from, and send what follows from them — in that order, so nothing is said or forgotten
   * that the ledger does not hold (PROTOCOL §3.8).
   */
  private turn(): void {
    this.turnPending = false;
    if (this.closed || this.recording || this.failed) return;
    for (const [topic, bytes] of this.waiting.splice(0)) this.route(topic, bytes);
    if (this.tickDue) {
      this.tickDue = false;
      this.tick();
    }
    // No new grant while the ledger cannot record one.
    if (!this.unrecorded) this.scheduler.dispatch();
    // PROTOCOL §4.8: each agent hears which of its results this turn records, once it commits
    // (in its grant of this turn where it has one and reads them there).
    const turnBatch = this.scheduler.takeBatch();
    turnBatch.messages.push(...this.handlers.takeSettlements(turnBatch.messages));
    const batch = this.withUnrecorded(turnBatch);
    // Only the messages handled so far: any that come while an asynchronous store records
    // wait for the next turn, and so do their acknowledgements.
    const acks = this.bus.ackMark();
    let recorded: void | Promise<void>;
    try {
      // The flows' and schedules' changes of the turn with the tasks', in one transaction.
      recorded = this.ledger.apply(batch.decisions, () => this.flows.record());
    } catch (error) {
      if (error instanceof LeadershipLost) return this.fail(error);
      return this.stall(batch, error as Error);
    }
    if (!recorded) return this.recorded(batch, acks);
    this.recording = recorded.then(
      () => {
        this.recording = undefined;
        if (!this.failed) this.recorded(batch, acks);
      },
      (error: unknown) => {
        // PostgreSQL (postgres-ledger.ts): its copy of the ledger went with the refused turn,
        // so the hub stops, and a standby (or this one, restarted) takes over from the database.
        this.recording = undefined;
        this.fail(error as Error);
      },
    );
  }

  /** The turn's decisions are in the ledger: acknowledge what carried them, then send. */
  private recorded(batch: Batch, acks: number): void {
    if (this.unrecorded) this.recovered();
    this.scheduler.committed();
    this.flows.committed();
    this.bus.releaseAcks(acks);
    for (const message of batch.messages) this.send(message);
    // The turn's acknowledgements and messages leave in one write, now rather than a turn later.
    this.bus.flush();
    if (this.waiting.length > 0 || this.tickDue) this.scheduleTurn();
    this.armRetryTimer();
  }

  /**
   * A retry is granted when its backoff ends, to the millisecond the timer allows: one timer at
   * the earliest `not_before`, moved earlier when an earlier one is drawn, so each drawn delay
   * (and its jitter) is kept rather than rounded up to the next tick.
   */
  private armRetryTimer(): void {
    const due = this.scheduler.nextDueAt;
    if (due === Infinity || due >= this.retryAt) return;
    clearTimeout(this.retryTimer);
    this.retryAt = due;
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = undefined;
        this.retryAt = Infinity;
        this.scheduler.wake();
        this.scheduleTurn();
      },
      Math.max(0, due - this.now()),
    );
  }

  private send(message: Outbound): void {
    let topic: string;
    let payload: unknown;
    try {
      topic = fillTopic(message.key, message.params ?? {});
      payload = message.payload();
    } catch (error) {
      this.logger.error({ err: error, key: message.key }, 'hub could not build a message');
      return;
    }
    const { qos, retained } = TOPICS[message.key];
    this.bus
      .publish(topic, payload, {
        qos,
        retain: message.retain ?? retained,
        ...(message.recipient ? { recipient: message.recipient } : {}),
      })
      .catch((err: unknown) => {
        // A grant that is lost lapses unacknowledged, without counting (PROTOCOL §4.2).
        this.logger.error({ err, topic }, 'could not publish');
      });
  }

  private withUnrecorded(batch: Batch): Batch {
    const before = this.unrecorded;
    if (!before) return batch;
    return {
      decisions: [...before.decisions, ...batch.decisions],
      messages: [...before.messages, ...batch.messages],
    };
  }

  /**
   * Another hub leads now, or the PostgreSQL store refused a turn (its in-memory copy holds
   * decisions the database does not): the hub stops at once — nothing of them was sent, and
   * without our acknowledgements the broker keeps the messages for the hub's session, to be
   * decided again by the hub that leads next on the ledger.
   */
  private fail(error: Error): void {
    if (this.failed) return;
    this.failed = true;
    if (error instanceof LeadershipLost) this.deposed = true;
    if (this.deposed) this.logger.warn({ err: error }, 'another hub leads now; this one stands by');
    else this.logger.fatal({ err: error }, 'the ledger could not record decisions; the hub stops');
    void this.close().finally(() => this.onFatal(error));
  }

  /**
   * The ledger refused the turn (a full disk, PROTOCOL §3.9): nothing of it is sent, its messages
   * stay unacknowledged, and its decisions are kept, in order, to be recorded with the next
   * turn's; each tick tries again. Said once per episode, on errors and in the log.
   */
  private stall(batch: Batch, error: Error): void {
    this.unrecorded = batch;
    if (this.stalledSince) return;
    this.stalledSince = this.now();
    this.stalledMessages = 0;
    this.withheld = 0;
    const reason = `the hub cannot record to its ledger (${error.message}); it grants nothing and acknowledges nothing until it can, and tries again every ${this.config.leaseCheckMs} ms — free space for ${this.ledgerPath}`;
    this.logger.error({ err: error, ledger: this.ledgerPath }, reason);
    this.bus.reportError({
      code: 'LEDGER_UNAVAILABLE',
      reason,
      topic: buildTopic(this.config.swarm, 'hub/status'),
    });
  }

  /** The ledger took what it had refused: acknowledge, send, and fetch what was left waiting. */
  private recovered(): void {
    const seconds = ((this.now() - this.stalledSince) / 1000).toFixed(1);
    this.logger.warn(
      { decisions: this.unrecorded?.decisions.length, withheld: this.withheld },
      `the ledger records again after ${seconds} s; the hub carries on`,
    );
    this.unrecorded = undefined;
    this.stalledSince = 0;
    if (this.withheld > 0) {
      // After this turn's acknowledgements are written: the broker resends the rest.
      setImmediate(() => this.bus.redeliver());
    }
  }
}

function requireLedgerPath(path: string | undefined): string {
  if (!path) throw new Error('Hub.start needs a ledgerPath or a store');
  return path;
}
