import type { Config } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import type { ProtocolErrorCode } from '../protocol/codec.js';
import {
  MAX_TASK_DEPTH,
  type DelegatedOutcome,
  type TaskRef,
  type TaskSpec,
} from '../protocol/messages.js';
import { rolesForType } from '../protocol/task-types.js';
import { subscriptionsFor, type PayloadOf, type TopicKey } from '../protocol/topic-table.js';
import { buildTopic } from '../protocol/topics.js';
import type { Bus, Received } from '../transport/bus.js';
import { TopicRouter } from '../transport/topic-router.js';
import type { AgentRegistry } from './agent-registry.js';
import { ApprovalDesk } from './approval-desk.js';
import type { SwarmBudget } from './budget.js';
import { answerQuery } from './hub-queries.js';
import type { LedgerStore } from './ledger-store.js';
import type { Outbound } from './decisions.js';
import type { LiveTask } from './live-tasks.js';
import type { Presence } from './presence.js';
import type { Scheduler } from './scheduler.js';
import { Settlements, type ResultKind } from './settlements.js';
import { SubmissionLimits } from './submission-limits.js';
import { FLOW_CHANGES, FLOW_QUERIES, type FlowDesk } from './flow-desk.js';

/** Room a grant needs beyond its task: envelope, lease fields and (trimmed) inputs. */
const GRANT_ROOM_BYTES = 16_384;
/**
 * Progress events of one attempt the ledger records, at most: the bus carries every one, but an
 * agent (or a model reporting in a loop) must not fill the hub's disk with an attempt's history.
 * A runbook of 100 commands says 200.
 */
export const MAX_PROGRESS_EVENTS = 500;

/** The topics the hub reads, each with its handler (the table says schema, QoS and who sends). */
export const HUB_TOPICS = [
  'tasksNew',
  'tasksClaim',
  'tasksRelease',
  'tasksComplete',
  'tasksFailed',
  'tasksProgress',
  'agentsRegister',
  'agentsShutdown',
  'agentsHeartbeat',
  'agentStatus',
  'hubStatus',
  'hubQuery',
  'approvalsRequest',
  'approvalsAnswer',
  'flowsNew',
] as const satisfies readonly TopicKey[];

/** What the hub does when it reads its own status (HubHandlers.onHubStatus). */
export interface HubSelf {
  /** Say again that it is online (its own Will, or a stale status, says otherwise). */
  reannounce(): void;
}

/**
 * The hub's side of the protocol, one handler per topic of the table: the bus has decoded each
 * message and checked who sent it (PROTOCOL §15.3); each handler refuses what only the hub can
 * judge (said on `<swarm>/errors`, never recorded) and leaves the decision to the Scheduler
 * (tasks) or Presence (agents).
 */
export class HubHandlers {
  private readonly limits: SubmissionLimits;
  private readonly approvals: ApprovalDesk;
  private readonly router: TopicRouter;
  /** Results to confirm to their agents once the turn is recorded (PROTOCOL §4.8). */
  private readonly settlements = new Settlements();

  constructor(
    private readonly bus: Bus,
    private readonly ledger: LedgerStore,
    private readonly registry: AgentRegistry,
    private readonly scheduler: Scheduler,
    private readonly presence: Presence,
    private readonly budget: SwarmBudget,
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly now: () => number,
    private readonly self: HubSelf,
    private readonly flows: FlowDesk,
  ) {
    this.limits = new SubmissionLimits(config.security.rateLimit);
    this.approvals = new ApprovalDesk(
      ledger,
      {
        holds: (taskId, attempt, agentId) =>
          scheduler.attemptOf({ task_id: taskId, attempt }, agentId) !== undefined,
        countRequest: (taskId, attempt, agentId) => {
          const task = scheduler.attemptOf({ task_id: taskId, attempt }, agentId);
          if (!task) return 0;
          if (task.approvalsAsked?.attempt !== attempt) {
            task.approvalsAsked = { attempt, count: 0 };
          }
          return ++task.approvalsAsked.count;
        },
        note: (taskId, event, agentId, attempt, detail) =>
          scheduler.note(taskId, event, agentId, attempt, detail),
      },
      now,
    );
    this.approvals.restore();
    this.router = new TopicRouter(
      bus,
      {
        tasksNew: (message, topic) => this.onNewTask(topic, message),
        tasksClaim: (message, topic) => this.onClaim(topic, message),
        tasksRelease: (message, topic) => this.onRelease(topic, message),
        tasksComplete: (message, topic) => this.onComplete(topic, message),
        tasksFailed: (message, topic) => this.onFailed(topic, message),
        tasksProgress: (message, topic) => this.onProgress(topic, message),
        agentsRegister: (message) =>
          this.presence.recordRegistration(message.sender.name, message.payload),
        agentsShutdown: (message) =>
          this.presence.markGone(
            message.sender.name,
            `agent shut down: ${message.payload.reason}`,
            false,
          ),
        agentsHeartbeat: (message) => {
          const { payload, sender } = message;
          this.presence.recordHeartbeat(sender.name, payload);
          this.scheduler.reportCapacity(sender.name, payload.role, payload.free, payload.running);
          this.flows.remind(sender.name, payload.running);
        },
        agentStatus: (message, _topic, params) =>
          this.presence.recordStatus(params.agent!, message.payload),
        hubStatus: (message) => this.onHubStatus(message),
        hubQuery: (message, topic) => this.onQuery(topic, message),
        approvalsRequest: (message, topic) => this.onApprovalRequest(topic, message),
        approvalsAnswer: (message, topic) => this.onApprovalAnswer(topic, message),
        flowsNew: (message, topic) =>
          this.flows.onFlowNew(message, this.limits, (code, reason, extra = {}) =>
            this.reject(topic, message.envelope.id, code, { reason, ...extra }),
          ),
      },
      {
        // A retained status emptied: the agent's Last Will, or its goodbye (PROTOCOL §4.3).
        empty: { agentStatus: (params) => this.presence.noteWill(params.agent!) },
        // A status refused (forged, unsigned, unreadable) may now be the retained one: set it right.
        refused: { hubStatus: () => this.self.reannounce() },
      },
    );
  }

  route(topic: string, bytes: Buffer): void {
    this.router.handle(topic, bytes);
  }

  /**
   * This turn's confirmations of results (PROTOCOL §4.8): in the turn's grant to an agent that
   * reads them there, else one message per agent (returned).
   */
  takeSettlements(turnMessages: readonly Outbound[]): Outbound[] {
    return this.settlements.take(
      turnMessages,
      (agentId) => this.registry.get(agentId)?.settledInGrant === true,
    );
  }

  private onNewTask(topic: string, message: Received<TaskSpec>): void {
    const { envelope, sender } = message;
    const spec = {
      ...message.payload,
      // The envelope's metadata.priority is the origin's way to say it.
      priority: message.payload.priority ?? envelope.metadata?.priority,
    } as TaskSpec;
    const refuse = (code: ProtocolErrorCode, reason: string, extra = {}): void =>
      this.rejectTask(topic, message, spec, code, reason, extra);
    // An agent submits only subtasks of an attempt it holds (PROTOCOL §14.3, §15.3).
    let parent: LiveTask | undefined;
    if (sender.kind === 'agent') {
      parent = spec.parent_task_id ? this.scheduler.live.get(spec.parent_task_id) : undefined;
      if (!parent || parent.state !== 'assigned' || parent.agentId !== sender.name) {
        return refuse(
          'NOT_AUTHORIZED',
          `an agent submits only subtasks of a task it runs: ${sender.name} does not hold ${spec.parent_task_id ? `task ${spec.parent_task_id}` : 'a parent_task_id'}`,
        );
      }
      // How deep it is the hub says, from its parent: an agent's own word would let a model that
      // resets it to 0 delegate without end (the agent's limit, maxDelegationDepth, reads it).
      spec.depth = (parent.spec.depth ?? 0) + 1;
      if (spec.depth > MAX_TASK_DEPTH) {
        return refuse(
          'NOT_AUTHORIZED',
          `a subtask ${spec.depth} levels below the task its chain started from: delegation goes no deeper than ${MAX_TASK_DEPTH}`,
        );
      }
      // Operators start services and HTTP checks (PROTOCOL §17.4); a model's delegation cannot.
      if (spec.service || spec.http_check) {
        return refuse(
          'NOT_AUTHORIZED',
          `an agent's subtask may not carry ${spec.service ? 'a service' : 'an http_check'}: only operators submit those`,
        );
      }
      // A grant carries the results of its needs (§5): a subtask needing any task would read
      // any task's result. Its needs are its siblings, already submitted.
      const foreign = (spec.needs ?? []).find(
        (need) => this.scheduler.find(need)?.parentTaskId !== spec.parent_task_id,
      );
      if (foreign !== undefined) {
        return refuse(
          'NOT_AUTHORIZED',
          `an agent's subtask needs only subtasks of its parent ${spec.parent_task_id} submitted before it: "${foreign}" is not one`,
        );
      }
      // Finished subtasks leave the queue cap below, not the ledger: without this, one held task
      // would let its agent record tasks at the rate limit for as long as it holds it.
      const most = this.config.security.maxSubtasksPerTask;
      parent.subtasks ??= this.ledger.childrenOf(parent.taskId).length;
      if (parent.subtasks >= most) {
        return refuse(
          'QUEUE_FULL',
          `task ${parent.taskId} already has ${most} subtasks (security.maxSubtasksPerTask): an agent delegates no more from one task`,
        );
      }
    }
    // A flow's steps are the hub's to make (PROTOCOL §17.2): a task may not pass for one.
    if (spec.flow_id !== undefined || spec.flow_step !== undefined) {
      return refuse(
        'SCHEMA_INVALID',
        'payload.flow_id: set by the hub on the tasks of a flow; submit a flow on flows/new instead',
      );
    }
    if (rolesForType(this.config.taskTypes, spec.type).length === 0) {
      const known = Object.keys(this.config.taskTypes).join(', ');
      return refuse(
        'UNKNOWN_TASK_TYPE',
        `payload.type: unknown task type "${spec.type}"; known types: ${known} (add it under "taskTypes" in sheri.config.json)`,
      );
    }
    // Its grant carries the task plus envelope and inputs: keep room so the grant fits the limit.
    const size = Buffer.byteLength(JSON.stringify(spec));
    const limit = this.config.maxPayloadBytes - GRANT_ROOM_BYTES;
    if (size > limit) {
      return refuse(
        'TOO_LARGE',
        `task is ${size} bytes; a task may be at most ${limit} bytes, so that its grant fits the ${this.config.maxPayloadBytes}-byte message limit`,
      );
    }
    const cap = this.config.security.maxQueuedPerSubmitter;
    if (this.scheduler.live.unfinishedBy(sender.name) >= cap) {
      return refuse(
        'QUEUE_FULL',
        `${sender.name} already has ${cap} tasks blocked, queued or assigned (security.maxQueuedPerSubmitter); submit more when some finish`,
      );
    }
    const overRate = this.limits.take(sender.name, size, this.now());
    if (overRate) return refuse('RATE_LIMITED', overRate);
    const outcome = this.scheduler.admit(spec, sender.name);
    if (outcome.inserted) {
      if (parent?.subtasks !== undefined) parent.subtasks++;
      return;
    }
    // A no-op by design (SPEC §3), but said on errors so a waiting submitter is not left hanging.
    const what =
      outcome.reason === 'duplicate task_id'
        ? `task_id "${spec.task_id}" was already submitted`
        : `idempotency_key "${spec.idempotency_key}" was already used by task "${outcome.task.taskId}"`;
    refuse('DUPLICATE_TASK', `${what} (now ${outcome.task.state}); this submission is ignored`, {
      task_id: outcome.task.taskId,
      state: outcome.task.state,
    });
  }

  private onClaim(topic: string, message: Received<PayloadOf<'tasksClaim'>>): void {
    const role = this.roleOf(topic, message);
    if (!role) return;
    const { free, running } = message.payload;
    const { sender } = message;
    if (this.logger.isLevelEnabled('debug')) {
      this.logger.debug(
        { agentId: sender.name, free, running: running.length },
        `claim from ${sender.name}: ${free} free, ${running.length} lease(s) renewed`,
      );
    }
    this.scheduler.reportCapacity(sender.name, role, free, running);
    this.flows.remind(sender.name, running);
  }

  /**
   * An outcome or release that says the agent's capacity after it is also its claim (PROTOCOL
   * §3.2): one message both ends a task and asks for the next.
   */
  private capacityAfter(
    topic: string,
    message: Received<{ free?: number | undefined; running?: TaskRef[] | undefined }>,
  ): void {
    const { free, running } = message.payload;
    if (free === undefined) return;
    const role = this.roleOf(topic, message);
    if (role) this.scheduler.reportCapacity(message.sender.name, role, free, running ?? []);
  }

  private roleOf(topic: string, message: Received<unknown>): string | undefined {
    const role = message.sender.role ?? message.envelope.role;
    if (!role) {
      this.reject(topic, message.envelope.id, 'SCHEMA_INVALID', {
        reason: 'role: required on claims, so the hub knows which task types the agent may run',
      });
    }
    return role;
  }

  private onRelease(topic: string, message: Received<PayloadOf<'tasksRelease'>>): void {
    const task = this.liveAttemptOf(topic, message, 'release');
    if (task) {
      const { payload } = message;
      const kind = payload.refused ? 'refused' : 'released';
      this.scheduler.requeue(
        task,
        `${kind} by ${task.agentId}: ${payload.reason}`,
        payload.refused,
        kind,
      );
    }
    this.capacityAfter(topic, message);
  }

  private onComplete(topic: string, message: Received<PayloadOf<'tasksComplete'>>): void {
    this.recordSpend(message.payload, message.sender.name);
    const task = this.liveAttemptOf(topic, message, 'complete');
    if (task) this.scheduler.complete(task, message.payload.result, message.sender.name);
    this.capacityAfter(topic, message);
  }

  private onFailed(topic: string, message: Received<PayloadOf<'tasksFailed'>>): void {
    this.recordSpend(message.payload, message.sender.name);
    const task = this.liveAttemptOf(topic, message, 'failed');
    if (task) this.scheduler.fail(task, message.payload, message.sender.name);
    this.capacityAfter(topic, message);
  }

  /** What a result says its attempt cost, for the swarm budget (PROTOCOL §14.5). */
  private recordSpend(
    result: { task_id: string; attempt: number; result?: unknown },
    agentId: string,
  ): void {
    if (this.budget.record(result, agentId, this.now())) this.scheduler.publishBudget();
  }

  private onProgress(topic: string, message: Received<PayloadOf<'tasksProgress'>>): void {
    const { payload, sender } = message;
    const task = this.scheduler.attemptOf(payload, sender.name);
    if (!task) {
      // Progress of an old attempt is dropped (PROTOCOL §4.6); of one never granted, refused.
      const known = this.scheduler.find(payload.task_id);
      if (known && !this.ledger.wasGranted(payload.task_id, payload.attempt, sender.name)) {
        this.refuseForeign(topic, message, 'progress');
      }
      return;
    }
    // The first word of the attempt from its agent: it has the grant (PROTOCOL §4.1).
    this.scheduler.renew(sender.name, [payload]);
    if (task.progressNoted?.attempt !== task.attempt) {
      task.progressNoted = { attempt: task.attempt, count: 0 };
    }
    if (task.progressNoted.count >= MAX_PROGRESS_EVENTS) return;
    task.progressNoted.count++;
    const detail = {
      message: payload.message,
      ...(payload.percent === undefined ? {} : { percent: payload.percent }),
    };
    this.scheduler.note(payload.task_id, 'progress', sender.name, payload.attempt, detail);
  }

  /**
   * The live attempt a result or release is about, when its sender holds it. An attempt the
   * sender held once is stale (recorded once, §4.6); one never granted to it is refused, not
   * recorded. Whichever, the result is confirmed to its agent once the turn is recorded (§4.8),
   * and a copy of one judged before — the agent resending what it had no confirmation of — is
   * confirmed again and otherwise ignored: no second stale event, no second report.
   */
  private liveAttemptOf(
    topic: string,
    message: Received<{ task_id: string; attempt: number }>,
    what: ResultKind,
  ): LiveTask | undefined {
    const { payload, sender } = message;
    this.settlements.settle(sender.name, sender.role ?? message.envelope.role, payload);
    const task = this.scheduler.attemptOf(payload, sender.name);
    if (task) {
      this.settlements.judge(what, sender.name, payload);
      return task;
    }
    const history = (): ReturnType<LedgerStore['history']> => this.ledger.history(payload.task_id);
    if (this.settlements.judgedBefore(what, sender.name, payload, history)) {
      this.logger.debug(
        { taskId: payload.task_id, agentId: sender.name, attempt: payload.attempt },
        `${what} sent again, recorded already; confirmed again`,
      );
      return undefined;
    }
    this.settlements.judge(what, sender.name, payload);
    if (
      this.scheduler.find(payload.task_id) &&
      !this.ledger.wasGranted(payload.task_id, payload.attempt, sender.name)
    ) {
      this.refuseForeign(topic, message, what);
      return undefined;
    }
    this.scheduler.recordStale(payload.task_id, sender.name, payload.attempt, what);
    return undefined;
  }

  private refuseForeign(
    topic: string,
    message: Received<{ task_id: string; attempt: number }>,
    what: string,
  ): void {
    const { payload, sender, envelope } = message;
    this.reject(topic, envelope.id, 'NOT_AUTHORIZED', {
      reason: `${what} refused: attempt ${payload.attempt} of task ${payload.task_id} was never granted to ${sender.name}`,
      task_id: payload.task_id,
    });
  }

  private onHubStatus(message: Received<PayloadOf<'hubStatus'>>): void {
    // Our own status said offline while we run: our Will from a connection the broker dropped
    // late, or a status left by an earlier run. Say again that we are online (PROTOCOL §2.2).
    if (message.payload.state === 'offline' && message.sender.kind === 'hub')
      this.self.reannounce();
  }

  private onQuery(topic: string, message: Received<PayloadOf<'hubQuery'>>): void {
    const { payload, envelope, sender } = message;
    const replies = `${this.config.swarm}/hub/replies/`;
    if (!payload.reply_to.startsWith(replies)) {
      return this.reject(topic, envelope.id, 'SCHEMA_INVALID', {
        reason: `payload.reply_to must be under ${replies}`,
      });
    }
    const client = payload.reply_to.slice(replies.length);
    if (!client || /[/+#]/.test(client)) {
      return this.reject(topic, envelope.id, 'SCHEMA_INVALID', {
        reason: `payload.reply_to must be ${replies}<client id>, one level`,
      });
    }
    // A change asked as a query (a flow's cancel, an unschedule) is decided now, in this turn;
    // its reply, like every answer, goes once this turn's decisions are recorded.
    const changed = FLOW_CHANGES.includes(payload.kind)
      ? this.flows.answer(payload, sender.name)
      : undefined;
    this.scheduler.send({
      key: 'hubReply',
      params: { client },
      recipient: { name: sender.name },
      payload: () => {
        const reply =
          changed ??
          (payload.kind === 'prune' || payload.kind === 'approvals'
            ? this.answerItself(payload)
            : FLOW_QUERIES.includes(payload.kind)
              ? this.flows.answer(payload, sender.name)
              : answerQuery(
                  payload,
                  this.ledger,
                  this.registry,
                  this.scheduler,
                  this.now(),
                  this.budgetStatus(),
                ));
        this.logger.debug(
          { kind: payload.kind, from: sender.name, ok: reply.ok },
          'query answered',
        );
        return reply;
      },
    });
  }

  private budgetStatus(): PayloadOf<'hubBudget'> | undefined {
    return this.budget.configured ? this.budget.status(this.now()) : undefined;
  }

  /** Queries the ledger cannot answer: a prune changes it; approvals wait in the desk. */
  private answerItself(query: PayloadOf<'hubQuery'>): PayloadOf<'hubReply'> {
    if (query.kind === 'prune') return this.prune(query);
    return { query_id: query.query_id, ok: true, data: { approvals: this.approvals.list() } };
  }

  /** `sheri tasks prune`: finished tasks older than the query's age, or the configured one. */
  private prune(query: PayloadOf<'hubQuery'>): PayloadOf<'hubReply'> {
    const age = query.older_than_ms ?? this.config.retention.finishedMaxAgeMs;
    const pruned = this.ledger.prune(this.now() - age);
    this.logger.info({ pruned, olderThanMs: age }, 'pruned finished tasks');
    return { query_id: query.query_id, ok: true, data: { pruned, older_than_ms: age } };
  }

  private onApprovalRequest(topic: string, message: Received<PayloadOf<'approvalsRequest'>>): void {
    const verdict = this.approvals.request(message.sender.name, message.payload);
    if (!verdict.ok) {
      this.reject(topic, message.envelope.id, verdict.code, {
        reason: verdict.reason,
        task_id: message.payload.task_id,
      });
    }
  }

  private onApprovalAnswer(topic: string, message: Received<PayloadOf<'approvalsAnswer'>>): void {
    const { payload, sender, envelope } = message;
    const verdict = this.approvals.answer(sender.name, payload);
    this.logger.debug(
      { approvalId: payload.approval_id, approved: payload.approved, from: sender.name },
      verdict.ok ? 'approval answer forwarded' : `approval answer refused: ${verdict.reason}`,
    );
    if (!verdict.ok)
      return this.reject(topic, envelope.id, verdict.code, { reason: verdict.reason });
    const decision = {
      approval_id: payload.approval_id,
      approved: payload.approved,
      approver: sender.name,
      ...(payload.reason ? { reason: payload.reason } : {}),
    };
    const agent = this.registry.get(verdict.pending.agentId);
    this.scheduler.send({
      key: 'approvalDecision',
      params: { id: payload.approval_id },
      recipient: { name: verdict.pending.agentId, ...(agent ? { role: agent.role } : {}) },
      payload: () => decision,
    });
  }

  /** A refused submission: on errors, and to the delegating agent, which waits for it (§14.3). */
  private rejectTask(
    topic: string,
    message: Received<TaskSpec>,
    spec: TaskSpec,
    code: ProtocolErrorCode,
    reason: string,
    extra: { task_id?: string; state?: string },
  ): void {
    this.reject(topic, message.envelope.id, code, { reason, ...extra });
    const { sender } = message;
    if (sender.kind !== 'agent') return;
    const outcome: DelegatedOutcome = {
      task_id: spec.task_id,
      ...(spec.parent_task_id ? { parent_task_id: spec.parent_task_id } : {}),
      state: code === 'DUPLICATE_TASK' && extra.state === 'complete' ? 'complete' : 'rejected',
      code,
      error: reason,
      message_id: message.envelope.id,
    };
    // A duplicate of a subtask of the same parent that finished (the parent's earlier attempt
    // delegated it): its outcome is the one the agent waits for. Of any other task, the agent
    // learns nothing more: its result is not the agent's to read.
    if (outcome.state === 'complete') {
      const existing = this.scheduler.find(extra.task_id ?? spec.task_id);
      if (spec.parent_task_id !== undefined && existing?.parentTaskId === spec.parent_task_id) {
        outcome.result = existing.result;
      } else {
        outcome.state = 'rejected';
      }
    }
    this.scheduler.send({
      key: 'tasksDelegated',
      params: { agent: sender.name },
      recipient: { name: sender.name, ...(sender.role ? { role: sender.role } : {}) },
      payload: () => outcome,
    });
  }

  /** Report a message the hub will not act on, with how to fix it, on `<swarm>/errors`. */
  private reject(
    topic: string,
    messageId: string,
    code: ProtocolErrorCode,
    fields: { reason: string; task_id?: string; state?: string; [key: string]: unknown },
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

/** The hub's subscriptions, from the table: its topics with `+` for each parameter level. */
export function hubSubscriptions(): Record<string, 0 | 1> {
  return subscriptionsFor('hub', HUB_TOPICS);
}
