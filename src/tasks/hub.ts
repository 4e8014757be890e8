import { hostname } from 'node:os';
import type { Config } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import {
  AgentHeartbeat,
  AgentRegister,
  AgentShutdown,
  AgentStatus,
  ClaimRequest,
  HubQuery,
  TaskComplete,
  TaskFailed,
  TaskProgress,
  TaskRelease,
  TaskSpec,
  type TaskAssigned,
  type TaskDead,
} from '../protocol/messages.js';
import { knownRoles, typesForRole, rolesForType } from '../protocol/task-types.js';
import { encodeMessage } from '../protocol/codec.js';
import { fitJson } from '../protocol/fit-json.js';
import { agentIdOfStatusTopic, buildTopic, TOPIC } from '../protocol/topics.js';
import { Bus, type Subscriptions } from '../transport/bus.js';
import { withTimeout } from '../util/with-timeout.js';
import { AgentRegistry, demandOf, type AgentView } from './agent-registry.js';
import { retryDelayMs } from './backoff.js';
import { answerQuery } from './hub-queries.js';
import { Ledger } from './ledger.js';
import type { TaskRecord } from './task-record.js';

export interface HubOptions {
  config: Config;
  /** SQLite file of the ledger. */
  ledgerPath: string;
  logger: Logger;
  /** Injected clock, for tests of leases and retries. */
  now?: () => number;
}

const HUB_ID = 'hub';
const GONE_AGENT_KEEP_MS = 10 * 60_000;

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
 */
export class Hub {
  readonly registry = new AgentRegistry();
  /** Agents whose Last Will fired, with when; settled by tick() after the grace period. */
  private readonly pendingWills = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    readonly bus: Bus,
    readonly ledger: Ledger,
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

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
          { state: 'offline', since: new Date(now()).toISOString(), reason: 'connection lost' },
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
  }

  /** One message from the bus. Synchronous, so every decision runs before the next message. */
  handle(topic: string, bytes: Buffer): void {
    if (this.closed) return;
    try {
      this.route(topic, bytes);
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

  private route(topic: string, bytes: Buffer): void {
    switch (topic) {
      case TOPIC.tasksNew:
        return this.onNewTask(topic, bytes);
      case TOPIC.tasksClaim: {
        const message = this.bus.decode(topic, bytes, ClaimRequest);
        if (!message) return;
        const { agent_id, role } = message.envelope;
        if (!this.requireRole(topic, message.envelope.id, role)) return;
        this.registry.reportCapacity(
          agent_id,
          role!,
          message.payload.free,
          message.payload.running,
          this.now(),
        );
        this.renewLeases(agent_id, message.payload.running);
        return this.dispatch();
      }
      case TOPIC.agentsHeartbeat: {
        const message = this.bus.decode(topic, bytes, AgentHeartbeat);
        if (!message) return;
        const { agent_id } = message.envelope;
        const { payload } = message;
        const agent = this.registry.reportCapacity(
          agent_id,
          payload.role,
          payload.free,
          payload.running,
          this.now(),
        );
        agent.lastHeartbeatAt = this.now();
        agent.uptimeS = payload.uptime;
        agent.memory = { rss: payload.memory.rss, heapUsed: payload.memory.heapUsed };
        this.renewLeases(agent_id, payload.running);
        return this.dispatch();
      }
      case TOPIC.agentsRegister: {
        const message = this.bus.decode(topic, bytes, AgentRegister);
        if (!message) return;
        const agent = this.registry.touch(
          message.envelope.agent_id,
          message.payload.role,
          this.now(),
        );
        agent.concurrency = message.payload.concurrency;
        this.logger.info({ agentId: agent.agentId, role: agent.role }, 'agent registered');
        return;
      }
      case TOPIC.agentsShutdown: {
        const message = this.bus.decode(topic, bytes, AgentShutdown);
        if (!message) return;
        return this.onAgentGone(
          message.envelope.agent_id,
          `agent shut down: ${message.payload.reason}`,
          false,
        );
      }
      case TOPIC.tasksRelease: {
        const message = this.bus.decode(topic, bytes, TaskRelease);
        if (!message) return;
        const { payload } = message;
        const task = this.ledger.get(payload.task_id);
        if (!this.ledger.isCurrent(task, payload.attempt, message.envelope.agent_id)) {
          return this.recordStale(
            payload.task_id,
            message.envelope.agent_id,
            payload.attempt,
            'release',
          );
        }
        const kind = payload.refused ? 'refused' : 'released';
        this.requeue(task, `${kind} by ${task.agentId}: ${payload.reason}`, payload.refused, kind);
        return this.dispatch();
      }
      case TOPIC.tasksComplete:
        return this.onComplete(topic, bytes);
      case TOPIC.tasksFailed:
        return this.onFailed(topic, bytes);
      case TOPIC.tasksProgress: {
        const message = this.bus.decode(topic, bytes, TaskProgress);
        if (!message) return;
        const { payload, envelope } = message;
        if (
          this.ledger.isCurrent(
            this.ledger.get(payload.task_id),
            payload.attempt,
            envelope.agent_id,
          )
        ) {
          this.ledger.addEvent(
            payload.task_id,
            this.now(),
            'progress',
            envelope.agent_id,
            payload.attempt,
            {
              message: payload.message,
              ...(payload.percent === undefined ? {} : { percent: payload.percent }),
            },
          );
        }
        return;
      }
      case TOPIC.hubQuery: {
        const message = this.bus.decode(topic, bytes, HubQuery);
        if (!message) return;
        if (!message.payload.reply_to.startsWith(`${this.config.swarm}/hub/replies/`)) {
          this.bus.reportError({
            code: 'SCHEMA_INVALID',
            reason: `payload.reply_to must be under ${this.config.swarm}/hub/replies/`,
            topic: buildTopic(this.config.swarm, topic),
            message_id: message.envelope.id,
          });
          return;
        }
        const reply = answerQuery(message.payload, this.ledger, this.registry, this.now());
        const replyTopic = message.payload.reply_to.slice(this.config.swarm.length + 1);
        this.bus.publish(replyTopic, reply, { qos: 0 }).catch((error: unknown) => {
          this.logger.warn({ err: error }, 'could not answer a query');
        });
        return;
      }
      default: {
        const statusOf = agentIdOfStatusTopic(topic);
        if (statusOf !== undefined) return this.onAgentStatus(topic, statusOf, bytes);
      }
    }
  }

  private onNewTask(topic: string, bytes: Buffer): void {
    const message = this.bus.decode(topic, bytes, TaskSpec);
    if (!message) return;
    const { envelope } = message;
    const spec = {
      ...message.payload,
      // The envelope's metadata.priority is the origin's way to say it.
      priority: message.payload.priority ?? envelope.metadata?.priority,
    } as TaskSpec;
    if (rolesForType(this.config.taskTypes, spec.type).length === 0) {
      this.bus.reportError({
        code: 'UNKNOWN_TASK_TYPE',
        reason: `payload.type: unknown task type "${spec.type}"; known types: ${Object.keys(this.config.taskTypes).join(', ')} (add it under "taskTypes" in sheri.config.json)`,
        topic: buildTopic(this.config.swarm, topic),
        message_id: envelope.id,
      });
      return;
    }
    const now = this.now();
    const outcome = this.ledger.insert(spec, envelope.agent_id, this.config.maxAttempts, now);
    if (!outcome.inserted) {
      // A no-op by design (SPEC §3), but said on errors so a waiting submitter is not left hanging.
      const what =
        outcome.reason === 'duplicate task_id'
          ? `task_id "${spec.task_id}" was already submitted`
          : `idempotency_key "${spec.idempotency_key}" was already used by task "${outcome.task.taskId}"`;
      this.bus.reportError({
        code: 'DUPLICATE_TASK',
        reason: `${what} (now ${outcome.task.state}); this submission is ignored`,
        topic: buildTopic(this.config.swarm, topic),
        message_id: envelope.id,
        task_id: outcome.task.taskId,
      });
      return;
    }
    this.logger.info(
      { taskId: spec.task_id, type: spec.type, priority: outcome.task.priority },
      'task recorded',
    );
    if (outcome.task.state === 'blocked') this.settleNeeds(outcome.task);
    this.dispatch();
  }

  private onComplete(topic: string, bytes: Buffer): void {
    const message = this.bus.decode(topic, bytes, TaskComplete);
    if (!message) return;
    const { payload, envelope } = message;
    const task = this.ledger.get(payload.task_id);
    if (!this.ledger.isCurrent(task, payload.attempt, envelope.agent_id)) {
      return this.recordStale(payload.task_id, envelope.agent_id, payload.attempt, 'complete');
    }
    this.ledger.complete(task, payload.result, this.now());
    this.logger.info(
      { taskId: task.taskId, agentId: envelope.agent_id, attempt: task.attempt },
      'task complete',
    );
    for (const dependent of this.ledger.blockedDependents(task.taskId)) this.settleNeeds(dependent);
    this.dispatch();
  }

  private onFailed(topic: string, bytes: Buffer): void {
    const message = this.bus.decode(topic, bytes, TaskFailed);
    if (!message) return;
    const { payload, envelope } = message;
    const task = this.ledger.get(payload.task_id);
    if (!this.ledger.isCurrent(task, payload.attempt, envelope.agent_id)) {
      return this.recordStale(payload.task_id, envelope.agent_id, payload.attempt, 'failed');
    }
    if (!payload.retryable) {
      this.ledger.addEvent(task.taskId, this.now(), 'failed', envelope.agent_id, task.attempt, {
        error: payload.error,
        result: payload.result,
      });
      this.deadLetter(task, payload.error, task.attempt);
    } else {
      this.requeue(task, payload.error, true, 'failed', payload.result);
    }
    this.dispatch();
  }

  private onAgentStatus(topic: string, agentId: string, bytes: Buffer): void {
    if (bytes.length === 0) {
      // The retained status was cleared: the agent's Last Will (or its goodbye) fired. A will can
      // also fire for an agent that lives on — a restarted broker publishes the wills of every
      // connection it lost, a network blip ends a connection the agent then re-opens — so the
      // verdict waits `willGraceMs` for the agent to be heard from (PROTOCOL §4).
      this.pendingWills.set(agentId, this.now());
      return;
    }
    const message = this.bus.decode(topic, bytes, AgentStatus);
    if (!message) return;
    const agent = this.registry.touch(agentId, message.payload.role, this.now());
    agent.state = message.payload.state;
  }

  /**
   * Requeue everything the agent held. A crash counts against a task the agent had acknowledged
   * (it may be what killed the agent: PROTOCOL §4); a goodbye, or a grant never received, does not.
   */
  private onAgentGone(agentId: string, reason: string, crashed: boolean): void {
    const wasGone = this.registry.get(agentId)?.state === 'gone';
    this.registry.markGone(agentId);
    const held = this.ledger.assignedTo(agentId);
    for (const task of held) {
      this.requeue(task, reason, crashed && task.acked, crashed ? 'agent_lost' : 'released');
    }
    if (held.length > 0 || !wasGone) {
      this.logger.info({ agentId, requeued: held.length }, reason);
    }
    this.dispatch();
  }

  private requireRole(topic: string, messageId: string, role: string | undefined): boolean {
    if (role) return true;
    this.bus.reportError({
      code: 'SCHEMA_INVALID',
      reason: 'role: required on claims, so the hub knows which task types the agent may run',
      topic: buildTopic(this.config.swarm, topic),
      message_id: messageId,
    });
    return false;
  }

  private renewLeases(
    agentId: string,
    running: readonly { task_id: string; attempt: number }[],
  ): void {
    const expiresAt = this.now() + this.config.leaseMs;
    for (const ref of running) this.ledger.renewLease(ref.task_id, ref.attempt, agentId, expiresAt);
  }

  private recordStale(taskId: string, agentId: string, attempt: number, what: string): void {
    if (!this.ledger.get(taskId)) return;
    this.ledger.addEvent(taskId, this.now(), 'stale', agentId, attempt, { ignored: what });
    this.logger.warn(
      { taskId, agentId, attempt },
      `stale ${what} ignored: attempt is not the live one`,
    );
  }

  private requeue(
    task: TaskRecord,
    reason: string,
    countFailure: boolean,
    kind: string,
    result?: unknown,
  ): void {
    const failures = task.failures + (countFailure ? 1 : 0);
    const delayMs = countFailure
      ? retryDelayMs(failures, this.config.retryBaseMs, this.config.retryMaxMs)
      : 0;
    if (result !== undefined) {
      this.ledger.addEvent(task.taskId, this.now(), 'result', task.agentId, task.attempt, result);
    }
    const state = this.ledger.requeue(task, { reason, countFailure, delayMs, kind }, this.now());
    if (state === 'dead') this.announceDead(task.taskId, task.attempt, reason);
    else this.logger.info({ taskId: task.taskId, delayMs, reason }, 'task requeued');
  }

  private deadLetter(task: TaskRecord, reason: string, attempts: number): void {
    this.ledger.kill(task, reason, this.now());
    this.announceDead(task.taskId, attempts, reason);
  }

  private announceDead(taskId: string, attempts: number, error: string): void {
    const dead: TaskDead = { task_id: taskId, attempts, error };
    this.logger.warn({ taskId, attempts }, `task dead: ${error}`);
    this.bus
      .publish(TOPIC.tasksDead, dead)
      .catch((err: unknown) => this.logger.error({ err }, 'publish failed'));
    for (const dependent of this.ledger.blockedDependents(taskId)) {
      this.deadLetter(dependent, `needed task ${taskId} is dead: ${error}`, dependent.attempt);
    }
  }

  /** A blocked task becomes queued when all it needs is complete, dead when one need is dead. */
  private settleNeeds(task: TaskRecord): void {
    const needs = this.ledger.needsOf(task.taskId);
    const dead = needs.find((need) => need.state === 'dead');
    if (dead) return this.deadLetter(task, `needed task ${dead.taskId} is dead`, task.attempt);
    if (needs.every((need) => need.state === 'complete')) this.ledger.release(task, this.now());
  }

  /** Lapsed leases go back to the queue; due retries get dispatched. */
  tick(): void {
    // Cut off from the broker, the hub hears no renewals: lapsing leases now would punish agents
    // for its own outage. onReconnect() renews them all instead.
    if (this.closed || !this.bus.connected) return;
    const now = this.now();
    for (const task of this.ledger.expiredLeases(now)) {
      const reason = task.acked
        ? `lease of ${task.agentId} lapsed: attempt ${task.attempt} not renewed for ${this.config.leaseMs} ms`
        : `grant to ${task.agentId} never acknowledged within ${this.config.leaseMs} ms`;
      this.requeue(task, reason, task.acked, 'lease_expired');
      // An agent that lets grants lapse gets no more until it reports its capacity again.
      const agent = task.acked ? undefined : this.registry.get(task.agentId ?? '');
      if (agent) agent.free = 0;
    }
    this.settleWills(now);
    this.registry.prune(now, GONE_AGENT_KEEP_MS);
    this.dispatch();
  }

  private settleWills(now: number): void {
    for (const [agentId, firedAt] of this.pendingWills) {
      if (now - firedAt < this.config.willGraceMs) continue;
      this.pendingWills.delete(agentId);
      const agent = this.registry.get(agentId);
      if (agent && agent.lastSeenAt > firedAt) {
        this.logger.info({ agentId }, 'agent came back after its Last Will; it keeps its tasks');
        continue;
      }
      this.onAgentGone(agentId, 'agent connection lost (Last Will)', true);
    }
  }

  /** Grant queued tasks to agents with free capacity, least recently served agent first. */
  dispatch(): void {
    const now = this.now();
    const agents = this.registry
      .all()
      .filter((agent) => agent.state === 'online' && agent.free > 0)
      .sort((a, b) => a.lastGrantAt - b.lastGrantAt);
    for (const agent of agents) {
      const demand = demandOf(agent, this.assignedRefs(agent));
      if (demand === 0) continue;
      const types = typesForRole(this.config.taskTypes, agent.role);
      for (const task of this.ledger.nextClaimable(types, now, demand))
        this.grant(task, agent, now);
    }
  }

  private assignedRefs(agent: AgentView): { task_id: string; attempt: number }[] {
    return this.ledger
      .assignedTo(agent.agentId)
      .map((task) => ({ task_id: task.taskId, attempt: task.attempt }));
  }

  private grant(task: TaskRecord, agent: AgentView, now: number): void {
    const granted = this.ledger.grant(task.taskId, agent.agentId, now, this.config.leaseMs);
    agent.lastGrantAt = now;
    const results: Record<string, unknown> = {};
    for (const need of this.ledger.needsOf(task.taskId)) results[need.taskId] = need.result;
    // The grant carries the task (itself under the limit) and its inputs: trim the inputs so the
    // whole grant stays under the agents' size limit.
    const room = this.config.maxPayloadBytes - Buffer.byteLength(JSON.stringify(task.spec)) - 8_192;
    const inputs = fitJson(results, Math.max(1_024, room)).value;
    const assigned: TaskAssigned = {
      task_id: task.taskId,
      agent_id: agent.agentId,
      attempt: granted.attempt,
      lease_ms: this.config.leaseMs,
      lease_expires_at: new Date(granted.leaseExpiresAt!).toISOString(),
      task: task.spec,
      inputs,
    };
    this.logger.info(
      { taskId: task.taskId, agentId: agent.agentId, attempt: granted.attempt },
      'task granted',
    );
    this.bus.publish(TOPIC.tasksAssigned, assigned).catch((err: unknown) => {
      this.logger.error(
        { err, taskId: task.taskId },
        'could not publish a grant; its lease will lapse',
      );
    });
  }

  /** Roles the hub knows, for messages and `--help`. */
  roles(): string[] {
    return knownRoles(this.config.taskTypes);
  }
}
