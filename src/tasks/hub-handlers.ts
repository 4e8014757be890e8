import type { Config } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import type { ProtocolErrorCode } from '../protocol/codec.js';
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
} from '../protocol/messages.js';
import { rolesForType } from '../protocol/task-types.js';
import { agentIdOfStatusTopic, buildTopic, TOPIC } from '../protocol/topics.js';
import type { Bus } from '../transport/bus.js';
import type { AgentRegistry } from './agent-registry.js';
import { answerQuery } from './hub-queries.js';
import type { Ledger } from './ledger.js';
import type { Presence } from './presence.js';
import type { Scheduler } from './scheduler.js';

/** Room a grant needs beyond its task: envelope, lease fields and (trimmed) inputs. */
const GRANT_ROOM_BYTES = 16_384;

type Handler = (topic: string, bytes: Buffer) => void;

/**
 * The hub's side of the protocol, one handler per message kind: each decodes its message, refuses
 * what it cannot act on (said on `<swarm>/errors`), and leaves the decision to the Scheduler
 * (tasks) or Presence (agents).
 */
export class HubHandlers {
  /** The handler of each topic the hub subscribes to, but agents' status (a wildcard). */
  private readonly routes = new Map<string, Handler>([
    [TOPIC.tasksNew, (topic, bytes) => this.onNewTask(topic, bytes)],
    [TOPIC.tasksClaim, (topic, bytes) => this.onClaim(topic, bytes)],
    [TOPIC.agentsHeartbeat, (topic, bytes) => this.onHeartbeat(topic, bytes)],
    [TOPIC.agentsRegister, (topic, bytes) => this.onRegister(topic, bytes)],
    [TOPIC.agentsShutdown, (topic, bytes) => this.onShutdown(topic, bytes)],
    [TOPIC.tasksRelease, (topic, bytes) => this.onRelease(topic, bytes)],
    [TOPIC.tasksComplete, (topic, bytes) => this.onComplete(topic, bytes)],
    [TOPIC.tasksFailed, (topic, bytes) => this.onFailed(topic, bytes)],
    [TOPIC.tasksProgress, (topic, bytes) => this.onProgress(topic, bytes)],
    [TOPIC.hubQuery, (topic, bytes) => this.onQuery(topic, bytes)],
  ]);

  constructor(
    private readonly bus: Bus,
    private readonly ledger: Ledger,
    private readonly registry: AgentRegistry,
    private readonly scheduler: Scheduler,
    private readonly presence: Presence,
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  route(topic: string, bytes: Buffer): void {
    const handler = this.routes.get(topic);
    if (handler) return handler(topic, bytes);
    const statusOf = agentIdOfStatusTopic(topic);
    if (statusOf !== undefined) this.onAgentStatus(topic, statusOf, bytes);
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
      const known = Object.keys(this.config.taskTypes).join(', ');
      return this.reject(topic, envelope.id, 'UNKNOWN_TASK_TYPE', {
        reason: `payload.type: unknown task type "${spec.type}"; known types: ${known} (add it under "taskTypes" in sheri.config.json)`,
      });
    }
    // Its grant carries the task plus envelope and inputs: keep room so the grant fits the limit.
    const size = Buffer.byteLength(JSON.stringify(spec));
    const limit = this.config.maxPayloadBytes - GRANT_ROOM_BYTES;
    if (size > limit) {
      return this.reject(topic, envelope.id, 'TOO_LARGE', {
        reason: `task is ${size} bytes; a task may be at most ${limit} bytes, so that its grant fits the ${this.config.maxPayloadBytes}-byte message limit`,
      });
    }
    const outcome = this.scheduler.admit(spec, envelope.agent_id);
    if (outcome.inserted) return;
    // A no-op by design (SPEC §3), but said on errors so a waiting submitter is not left hanging.
    const what =
      outcome.reason === 'duplicate task_id'
        ? `task_id "${spec.task_id}" was already submitted`
        : `idempotency_key "${spec.idempotency_key}" was already used by task "${outcome.task.taskId}"`;
    this.reject(topic, envelope.id, 'DUPLICATE_TASK', {
      reason: `${what} (now ${outcome.task.state}); this submission is ignored`,
      task_id: outcome.task.taskId,
      state: outcome.task.state,
    });
  }

  private onClaim(topic: string, bytes: Buffer): void {
    const message = this.bus.decode(topic, bytes, ClaimRequest);
    if (!message) return;
    const { agent_id, role, id } = message.envelope;
    if (!role) {
      return this.reject(topic, id, 'SCHEMA_INVALID', {
        reason: 'role: required on claims, so the hub knows which task types the agent may run',
      });
    }
    const { free, running } = message.payload;
    this.presence.recordCapacity(agent_id, role, free, running);
    this.scheduler.renewLeases(agent_id, running);
    this.scheduler.dispatch();
  }

  private onHeartbeat(topic: string, bytes: Buffer): void {
    const message = this.bus.decode(topic, bytes, AgentHeartbeat);
    if (!message) return;
    this.presence.recordHeartbeat(message.envelope.agent_id, message.payload);
    this.scheduler.renewLeases(message.envelope.agent_id, message.payload.running);
    this.scheduler.dispatch();
  }

  private onRegister(topic: string, bytes: Buffer): void {
    const message = this.bus.decode(topic, bytes, AgentRegister);
    if (message) this.presence.recordRegistration(message.envelope.agent_id, message.payload);
  }

  private onShutdown(topic: string, bytes: Buffer): void {
    const message = this.bus.decode(topic, bytes, AgentShutdown);
    if (!message) return;
    const reason = `agent shut down: ${message.payload.reason}`;
    this.presence.markGone(message.envelope.agent_id, reason, false);
  }

  private onAgentStatus(topic: string, agentId: string, bytes: Buffer): void {
    if (bytes.length === 0) return this.presence.noteWill(agentId);
    const message = this.bus.decode(topic, bytes, AgentStatus);
    if (message) this.presence.recordStatus(agentId, message.payload);
  }

  private onRelease(topic: string, bytes: Buffer): void {
    const message = this.bus.decode(topic, bytes, TaskRelease);
    if (!message) return;
    const { payload, envelope } = message;
    const task = this.scheduler.findLiveAttempt(payload, envelope.agent_id, 'release');
    if (!task) return;
    const kind = payload.refused ? 'refused' : 'released';
    this.scheduler.requeue(
      task,
      `${kind} by ${task.agentId}: ${payload.reason}`,
      payload.refused,
      kind,
    );
    this.scheduler.dispatch();
  }

  private onComplete(topic: string, bytes: Buffer): void {
    const message = this.bus.decode(topic, bytes, TaskComplete);
    if (!message) return;
    const { payload, envelope } = message;
    this.scheduler.recordSpend(payload, envelope.agent_id);
    const task = this.scheduler.findLiveAttempt(payload, envelope.agent_id, 'complete');
    if (task) this.scheduler.complete(task, payload.result, envelope.agent_id);
  }

  private onFailed(topic: string, bytes: Buffer): void {
    const message = this.bus.decode(topic, bytes, TaskFailed);
    if (!message) return;
    const { payload, envelope } = message;
    this.scheduler.recordSpend(payload, envelope.agent_id);
    const task = this.scheduler.findLiveAttempt(payload, envelope.agent_id, 'failed');
    if (task) this.scheduler.fail(task, payload, envelope.agent_id);
  }

  private onProgress(topic: string, bytes: Buffer): void {
    const message = this.bus.decode(topic, bytes, TaskProgress);
    if (!message) return;
    const { payload, envelope } = message;
    const task = this.ledger.get(payload.task_id);
    if (!this.ledger.isCurrent(task, payload.attempt, envelope.agent_id)) return;
    const detail = {
      message: payload.message,
      ...(payload.percent === undefined ? {} : { percent: payload.percent }),
    };
    const { task_id, attempt } = payload;
    this.ledger.addEvent(task_id, this.now(), 'progress', envelope.agent_id, attempt, detail);
  }

  private onQuery(topic: string, bytes: Buffer): void {
    const message = this.bus.decode(topic, bytes, HubQuery);
    if (!message) return;
    const replies = `${this.config.swarm}/hub/replies/`;
    if (!message.payload.reply_to.startsWith(replies)) {
      return this.reject(topic, message.envelope.id, 'SCHEMA_INVALID', {
        reason: `payload.reply_to must be under ${replies}`,
      });
    }
    const reply = answerQuery(
      message.payload,
      this.ledger,
      this.registry,
      this.now(),
      this.scheduler.budgetStatus(),
    );
    const replyTopic = message.payload.reply_to.slice(this.config.swarm.length + 1);
    this.bus.publish(replyTopic, reply, { qos: 0 }).catch((error: unknown) => {
      this.logger.warn({ err: error }, 'could not answer a query');
    });
  }

  /** Report a message the hub will not act on, with how to fix it, on `<swarm>/errors`. */
  private reject(
    topic: string,
    messageId: string,
    code: ProtocolErrorCode,
    fields: { reason: string; task_id?: string; state?: string },
  ): void {
    const { reason, ...extra } = fields;
    this.bus.reportError({
      code,
      reason,
      topic: buildTopic(this.config.swarm, topic),
      message_id: messageId,
      ...extra,
    });
  }
}
