import type { Config } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import type {
  DelegatedOutcome,
  TaskAssigned,
  TaskDead,
  TaskFailed,
  TaskSpec,
} from '../protocol/messages.js';
import { typesForRole } from '../protocol/task-types.js';
import { fitJson } from '../protocol/fit-json.js';
import { TOPIC } from '../protocol/topics.js';
import type { Bus } from '../transport/bus.js';
import { demandOf, type AgentRegistry, type AgentView } from './agent-registry.js';
import { retryDelayMs } from './backoff.js';
import { SwarmBudget, type BudgetStatus } from './budget.js';
import type { InsertOutcome, Ledger } from './ledger.js';
import { needsCycle } from './needs-guard.js';
import type { TaskRecord } from './task-record.js';

/**
 * The hub's task decisions (SPEC §3): records each task before granting it, grants each attempt
 * to exactly one agent under a lease, and requeues, retries or dead-letters the attempts that end
 * without completing. Every method is synchronous, so decisions never interleave.
 */
/** Grants beyond `max_attempts` that may end without counting as a failure. */
const MAX_UNCOUNTED_GRANTS = 10;

/** Told when a task is granted or finishes (the flow engine, PROTOCOL §17.2). */
export interface TaskListener {
  onGranted(task: TaskRecord): void;
  onFinished(task: TaskRecord): void;
}

export class Scheduler {
  private readonly budget: SwarmBudget;
  listener: TaskListener | undefined;

  constructor(
    private readonly bus: Bus,
    private readonly ledger: Ledger,
    private readonly registry: AgentRegistry,
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {
    this.budget = new SwarmBudget(config.budget, ledger, registry);
  }

  /** What a result says its attempt cost, for the swarm budget (PROTOCOL §14.5). */
  recordSpend(
    result: { task_id: string; attempt: number; result?: unknown },
    agentId: string,
  ): void {
    if (this.budget.record(result, agentId, this.now())) this.publishBudget();
  }

  budgetStatus(): BudgetStatus | undefined {
    return this.budget.configured ? this.budget.status(this.now()) : undefined;
  }

  /** Retained on `hub/budget`, for the dashboard; only where a budget is configured. */
  publishBudget(): void {
    const status = this.budgetStatus();
    if (!status) return;
    this.bus
      .publish(TOPIC.hubBudget, status, { retain: true })
      .catch((err: unknown) => this.logger.warn({ err }, 'could not publish the budget'));
  }

  /** Record a submitted task; a duplicate is left to the caller to report. */
  admit(spec: TaskSpec, submittedBy: string): InsertOutcome {
    const outcome = this.ledger.insert(spec, submittedBy, this.config.maxAttempts, this.now());
    if (!outcome.inserted) return outcome;
    this.logger.info(
      { taskId: spec.task_id, type: spec.type, priority: outcome.task.priority },
      'task recorded',
    );
    // PROTOCOL §17.8: a task whose needs lead back to it would wait for ever.
    const cycle =
      outcome.task.state === 'blocked' ? needsCycle(this.ledger, spec.task_id) : undefined;
    if (cycle)
      this.abandon(
        outcome.task,
        `its needs form a cycle: ${cycle.join(' → ')} (each waits for the next)`,
      );
    else if (outcome.task.state === 'blocked') this.settleNeeds(outcome.task);
    this.dispatch();
    return outcome;
  }

  /** Dead now, with `reason`, its blocked dependents with it: canceled, or never runnable. */
  abandon(task: TaskRecord, reason: string): void {
    this.deadLetter(task, reason, task.attempt);
  }

  /** The task whose live attempt `agentId` holds; a message about any other attempt is stale. */
  findLiveAttempt(
    ref: { task_id: string; attempt: number },
    agentId: string,
    what: string,
  ): TaskRecord | undefined {
    const task = this.ledger.get(ref.task_id);
    if (this.ledger.isCurrent(task, ref.attempt, agentId)) return task;
    this.recordStale(ref.task_id, agentId, ref.attempt, what);
    return undefined;
  }

  complete(task: TaskRecord, result: unknown, agentId: string): void {
    this.ledger.complete(task, result, this.now());
    this.logger.info({ taskId: task.taskId, agentId, attempt: task.attempt }, 'task complete');
    this.listener?.onFinished({ ...task, state: 'complete', result });
    this.tellDelegator(task, { state: 'complete', agent_id: agentId, result });
    for (const dependent of this.ledger.blockedDependents(task.taskId)) this.settleNeeds(dependent);
    this.dispatch();
  }

  fail(task: TaskRecord, failure: TaskFailed, agentId: string): void {
    if (!failure.retryable) {
      this.ledger.addEvent(task.taskId, this.now(), 'failed', agentId, task.attempt, {
        error: failure.error,
        result: failure.result,
      });
      this.deadLetter(task, failure.error, task.attempt);
    } else {
      this.requeue(task, failure.error, true, 'failed', failure.result);
    }
    this.dispatch();
  }

  renewLeases(agentId: string, running: readonly { task_id: string; attempt: number }[]): void {
    const expiresAt = this.now() + this.config.leaseMs;
    for (const ref of running) this.ledger.renewLease(ref.task_id, ref.attempt, agentId, expiresAt);
  }

  /** Lapsed leases go back to the queue. */
  expireLeases(now: number): void {
    for (const task of this.ledger.expiredLeases(now)) {
      const reason = task.acked
        ? `lease of ${task.agentId} lapsed: attempt ${task.attempt} not renewed for ${this.config.leaseMs} ms`
        : `grant to ${task.agentId} never acknowledged within ${this.config.leaseMs} ms`;
      this.requeue(task, reason, task.acked, 'lease_expired');
      // An agent that lets grants lapse gets no more until it reports its capacity again.
      const agent = task.acked ? undefined : this.registry.get(task.agentId ?? '');
      if (agent) agent.free = 0;
    }
  }

  /**
   * Requeue everything the agent held, and say how many. A crash counts against a task the agent
   * had acknowledged (it may be what killed the agent: PROTOCOL §4); a goodbye, or a grant never
   * received, does not.
   */
  requeueHeld(agentId: string, reason: string, crashed: boolean): number {
    const held = this.ledger.assignedTo(agentId);
    for (const task of held) {
      this.requeue(task, reason, crashed && task.acked, crashed ? 'agent_lost' : 'released');
    }
    return held.length;
  }

  requeue(
    task: TaskRecord,
    reason: string,
    countFailure: boolean,
    kind: string,
    result?: unknown,
  ): void {
    // Grants that never reach an outcome without counting as failures (releases, grants never
    // acknowledged) must not circle for ever either (SPEC §3: nothing requeued forever).
    if (!countFailure && task.attempt >= task.maxAttempts + MAX_UNCOUNTED_GRANTS) {
      this.ledger.addEvent(task.taskId, this.now(), kind, task.agentId, task.attempt, { reason });
      return this.deadLetter(
        task,
        `granted ${task.attempt} times without an outcome (last: ${reason})`,
        task.attempt,
      );
    }
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
      for (const task of this.ledger.nextClaimable(types, now, demand)) {
        const allowance = this.budget.allowance(task.spec, now);
        if (!allowance.ok) {
          // PROTOCOL §14.5: no room left in the swarm budget; said on tasks/dead, not retried.
          this.deadLetter(task, `not started: ${allowance.reason}`, task.attempt);
          this.publishBudget();
          continue;
        }
        this.grant(task, agent, now, allowance.maxCostUsd);
      }
    }
  }

  private assignedRefs(agent: AgentView): { task_id: string; attempt: number }[] {
    return this.ledger
      .assignedTo(agent.agentId)
      .map((task) => ({ task_id: task.taskId, attempt: task.attempt }));
  }

  private grant(task: TaskRecord, agent: AgentView, now: number, maxCostUsd?: number): void {
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
      ...(maxCostUsd === undefined ? {} : { max_cost_usd: maxCostUsd }),
    };
    this.logger.info(
      { taskId: task.taskId, agentId: agent.agentId, attempt: granted.attempt },
      'task granted',
    );
    this.listener?.onGranted(granted);
    // Addressed (SPEC §2): only this agent reads it, signed with its key (PROTOCOL §15.4).
    const topic = `${TOPIC.tasksAssigned}/${agent.agentId}`;
    const recipient = { name: agent.agentId, role: agent.role };
    this.bus.publish(topic, assigned, { recipient }).catch((err: unknown) => {
      this.logger.error(
        { err, taskId: task.taskId },
        'could not publish a grant; its lease will lapse',
      );
    });
  }

  private recordStale(taskId: string, agentId: string, attempt: number, what: string): void {
    if (!this.ledger.get(taskId)) return;
    this.ledger.addEvent(taskId, this.now(), 'stale', agentId, attempt, { ignored: what });
    this.logger.warn(
      { taskId, agentId, attempt },
      `stale ${what} ignored: attempt is not the live one`,
    );
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
    const task = this.ledger.get(taskId);
    if (task) this.tellDelegator(task, { state: 'dead', attempts, error });
    if (task) this.listener?.onFinished(task);
    for (const dependent of this.ledger.blockedDependents(taskId)) {
      this.deadLetter(dependent, `needed task ${taskId} is dead: ${error}`, dependent.attempt);
    }
  }

  /**
   * A subtask's outcome goes to the agent that delegated it, on its own topic (PROTOCOL §14.3):
   * agents do not read others' results.
   */
  private tellDelegator(
    task: TaskRecord,
    outcome: {
      state: DelegatedOutcome['state'];
      agent_id?: string;
      result?: unknown;
      attempts?: number;
      error?: string;
    },
  ): void {
    if (!task.parentTaskId) return;
    const delegator = this.registry.get(task.submittedBy);
    if (!delegator) return; // submitted by an operator, or an agent long gone
    const message: DelegatedOutcome = {
      task_id: task.taskId,
      parent_task_id: task.parentTaskId,
      ...outcome,
    };
    if (outcome.result !== undefined) {
      // Room for the envelope: the result itself was under the limit when the agent sent it.
      message.result = fitJson(outcome.result, this.config.maxPayloadBytes - 8_192).value;
    }
    this.bus
      .publish(`tasks/delegated/${delegator.agentId}`, message, {
        recipient: { name: delegator.agentId, role: delegator.role },
      })
      .catch((err: unknown) => this.logger.warn({ err }, 'could not tell a delegator'));
  }

  /** A blocked task becomes queued when all it needs is complete, dead when one need is dead. */
  private settleNeeds(task: TaskRecord): void {
    const needs = this.ledger.needsOf(task.taskId);
    const dead = needs.find((need) => need.state === 'dead');
    if (dead) return this.deadLetter(task, `needed task ${dead.taskId} is dead`, task.attempt);
    if (needs.every((need) => need.state === 'complete')) this.ledger.unblock(task, this.now());
  }
}
