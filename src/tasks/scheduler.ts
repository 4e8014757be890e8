import type { Logger } from '../logging/logger.js';
import type {
  DelegatedOutcome,
  TaskAssigned,
  TaskFailed,
  TaskRef,
  TaskSpec,
} from '../protocol/messages.js';
import { typesForRole, type TaskTypeTable } from '../protocol/task-types.js';
import { fitJson } from '../protocol/fit-json.js';
import { demandOf, type AgentRegistry, type AgentView } from './agent-registry.js';
import { retryDelayMs } from './backoff.js';
import type { SwarmBudget } from './budget.js';
import type { Death, Decision, Outbound } from './decisions.js';
import { LiveTasks, type LiveTask } from './live-tasks.js';
import { needsCycle } from './needs-guard.js';
import { TaskQueue } from './task-queue.js';
import { isCurrentAttempt, PRIORITY_RANK, type TaskRecord, type TaskState } from './task-record.js';

/** Grants beyond `max_attempts` that may end without counting as a failure. */
const MAX_UNCOUNTED_GRANTS = 10;
/** Superseded attempts remembered, to revoke again when their old holder lists one (§4.7). */
const SUPERSEDED_MEMORY = 10_000;

/**
 * Told when a task is granted or finishes (the flow engine, PROTOCOL §17.2), inside the
 * decision, so what it decides in turn is recorded in the same transaction.
 */
export interface TaskListener {
  onGranted(task: TaskRecord): void;
  onFinished(task: TaskRecord): void;
}

/** What the scheduler reads of the ledger: tasks it no longer holds, and needs' results. */
export interface SchedulerStore {
  get(taskId: string): TaskRecord | undefined;
  withKey(key: string): TaskRecord | undefined;
  stateOf(taskId: string): TaskState | undefined;
  needsOf(taskId: string): { taskId: string; state: TaskState | null; result: unknown }[];
  lastSeq(): number;
}

export interface SchedulerSettings {
  leaseMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  maxPayloadBytes: number;
  taskTypes: TaskTypeTable;
}

export type AdmitOutcome =
  | { inserted: true; task: TaskRecord }
  | {
      inserted: false;
      reason: 'duplicate task_id' | 'duplicate idempotency_key';
      task: TaskRecord;
    };

/** What one turn decided, and what to send once it is recorded. */
export interface Batch {
  decisions: Decision[];
  messages: Outbound[];
}

/**
 * The hub's task decisions (SPEC §3), in memory (PROTOCOL §3.8): every unfinished task, the
 * queue per type and each agent's capacity are held here, rebuilt from the ledger at start, so a
 * claim or heartbeat costs O(1) and a grant O(log Q), whatever the number of agents. It takes
 * events and returns decisions and messages (`takeBatch`); it does no I/O, and reads the ledger
 * only for tasks it no longer holds. Every method is synchronous, so decisions never interleave.
 */
export class Scheduler {
  readonly live = new LiveTasks();
  private readonly queue = new TaskQueue();
  private batch: Batch = { decisions: [], messages: [] };
  /** Finished since the last commit, which the ledger does not say yet. */
  private readonly recent = new Map<string, TaskRecord>();
  private readonly recentKeys = new Map<string, string>();
  private readonly types = new Map<string, string[]>();
  private seq = 0;
  /** `task#attempt` → the agent that held it, for attempts taken back from a live holder. */
  private readonly superseded = new Map<string, string>();
  /** Something changed that may let a grant happen: dispatch has work to look at. */
  private dirty = true;
  listener: TaskListener | undefined;

  constructor(
    private readonly store: SchedulerStore,
    private readonly registry: AgentRegistry,
    private readonly settings: SchedulerSettings,
    private readonly logger: Logger,
    private readonly now: () => number,
    private readonly budget?: SwarmBudget,
  ) {}

  /** Rebuild memory from the ledger's unfinished tasks: running attempts get a fresh lease. */
  load(tasks: readonly TaskRecord[]): void {
    const now = this.now();
    this.seq = this.store.lastSeq();
    const dead: LiveTask[] = [];
    for (const record of tasks) {
      const task: LiveTask = { ...record };
      if (task.state === 'assigned') {
        // No one could renew a lease while the hub was down (PROTOCOL §8.1).
        task.leaseExpiresAt = Math.max(task.leaseExpiresAt ?? 0, now + this.settings.leaseMs);
      }
      if (task.state === 'blocked') {
        const needs = this.store.needsOf(task.taskId);
        if (needs.some((need) => need.state === 'dead')) dead.push(task);
        task.waitingOn = new Set(
          needs.filter((need) => need.state !== 'complete').map((need) => need.taskId),
        );
      }
      this.live.add(task);
      if (task.state === 'queued') this.queue.push(task, now);
    }
    // A need that died before deaths were recorded with their dependents (older ledgers).
    for (const task of dead) this.kill(task, 'a task it needs is dead');
    this.dirty = true;
  }

  /** After an outage: every running attempt gets at least a full lease from now (§8.3). */
  extendLeases(): void {
    const until = this.now() + this.settings.leaseMs;
    for (const task of this.assigned()) {
      task.leaseExpiresAt = Math.max(task.leaseExpiresAt ?? 0, until);
    }
  }

  /** When the earliest retry waiting out its backoff comes due (Infinity: none waits). */
  get nextDueAt(): number {
    return this.queue.nextDueAt;
  }

  /** A retry came due (the hub's timer at `nextDueAt`): the next dispatch looks at the queue. */
  wake(): void {
    this.dirty = true;
  }

  /** Decisions and messages since the last call, for the hub to record and then send. */
  takeBatch(): Batch {
    const batch = this.batch;
    this.batch = { decisions: [], messages: [] };
    return batch;
  }

  /** The hub recorded the last batch: the ledger now knows what finished in it. */
  committed(): void {
    this.recent.clear();
    this.recentKeys.clear();
  }

  /** A task as the hub knows it now: held, finished this turn, or from the ledger. */
  find(taskId: string): TaskRecord | undefined {
    return this.live.get(taskId) ?? this.recent.get(taskId) ?? this.store.get(taskId);
  }

  /** The task whose live attempt `agentId` holds; undefined for any other attempt. */
  attemptOf(ref: { task_id: string; attempt: number }, agentId: string): LiveTask | undefined {
    const task = this.live.get(ref.task_id);
    return isCurrentAttempt(task, ref.attempt, agentId) ? task : undefined;
  }

  /** Record a submitted task; a duplicate is left to the caller to report (PROTOCOL §6). */
  admit(spec: TaskSpec, submittedBy: string): AdmitOutcome {
    const existing = this.find(spec.task_id);
    if (existing) return { inserted: false, reason: 'duplicate task_id', task: existing };
    const key = spec.idempotency_key;
    if (key) {
      const same = this.withKey(key);
      if (same) return { inserted: false, reason: 'duplicate idempotency_key', task: same };
    }
    const now = this.now();
    const needs = [...new Set(spec.needs ?? [])];
    const waiting = new Set<string>();
    let deadNeed: string | undefined;
    for (const need of needs) {
      const state =
        this.live.get(need)?.state ?? this.recent.get(need)?.state ?? this.store.stateOf(need);
      if (state === 'dead') deadNeed ??= need;
      else if (state !== 'complete') waiting.add(need);
    }
    const ready = needs.length === 0 || (waiting.size === 0 && !deadNeed);
    const task: LiveTask = {
      seq: ++this.seq,
      taskId: spec.task_id,
      type: spec.type,
      priority: spec.priority ?? 'normal',
      state: ready ? 'queued' : 'blocked',
      spec,
      submittedBy,
      parentTaskId: spec.parent_task_id ?? null,
      attempt: 0,
      failures: 0,
      maxAttempts: spec.max_attempts ?? this.settings.maxAttempts,
      agentId: null,
      leaseExpiresAt: null,
      acked: false,
      notBefore: 0,
      result: undefined,
      lastError: null,
      createdAt: now,
      updatedAt: now,
      ...(ready ? {} : { waitingOn: waiting }),
    };
    this.decide({
      kind: 'admit',
      at: now,
      task: {
        seq: task.seq,
        taskId: task.taskId,
        type: task.type,
        priority: PRIORITY_RANK[task.priority],
        state: task.state === 'queued' ? 'queued' : 'blocked',
        spec,
        submittedBy,
        idempotencyKey: key ?? null,
        parentTaskId: task.parentTaskId,
        maxAttempts: task.maxAttempts,
      },
      needs,
    });
    this.logger.debug(
      { taskId: task.taskId, type: task.type, priority: task.priority },
      'task recorded',
    );
    this.live.add(task);
    // PROTOCOL §17.8: a task whose needs lead back to it would wait for ever. Only the task
    // admitted now can close a cycle, and every member of one is blocked, so memory holds it.
    const cycle = ready ? undefined : needsCycle(task.taskId, (id) => this.live.get(id)?.waitingOn);
    if (deadNeed) {
      this.kill(task, `needed task ${deadNeed} is dead`);
    } else if (cycle) {
      this.kill(task, `its needs form a cycle: ${cycle.join(' → ')} (each waits for the next)`);
    } else if (ready) {
      if (needs.length > 0) this.note(task.taskId, 'unblocked', null, null, null);
      this.queue.push(task, now);
      this.dirty = true;
    }
    return { inserted: true, task };
  }

  /** A claim, a heartbeat or an outcome said how much room the agent has (PROTOCOL §3.2). */
  reportCapacity(agentId: string, role: string, free: number, running: TaskRef[]): AgentView {
    const agent = this.registry.reportCapacity(agentId, role, free, running, this.now());
    this.renew(agentId, running);
    this.reviseSuperseded(agentId, running);
    this.refreshReady(agent);
    return agent;
  }

  /** Renew and acknowledge each listed attempt the agent holds (PROTOCOL §4.1). O(listed). */
  renew(agentId: string, running: readonly TaskRef[]): void {
    const expiresAt = this.now() + this.settings.leaseMs;
    for (const ref of running) {
      const task = this.attemptOf(ref, agentId);
      if (!task) continue;
      task.leaseExpiresAt = expiresAt;
      if (!task.acked) {
        task.acked = true;
        this.decide({ kind: 'ack', taskId: task.taskId, agentId, attempt: task.attempt });
      }
    }
  }

  /** Whether the agent can take more, from its report and the grants it had not seen then. */
  refreshReady(agent: AgentView): void {
    const ready = this.demand(agent) > 0;
    if (ready && !agent.readySince) this.dirty = true;
    this.registry.setReady(agent, ready);
  }

  complete(task: LiveTask, result: unknown, agentId: string): void {
    const now = this.now();
    this.finish(task, 'complete', { result });
    const unblocked: string[] = [];
    for (const id of [...this.live.waitingFor(task.taskId)]) {
      const dependent = this.live.get(id)!;
      this.live.satisfied(dependent, task.taskId);
      if (dependent.waitingOn?.size) continue;
      dependent.state = 'queued';
      dependent.updatedAt = now;
      this.queue.push(dependent, now);
      unblocked.push(id);
    }
    this.decide({
      kind: 'complete',
      at: now,
      taskId: task.taskId,
      agentId,
      attempt: task.attempt,
      result,
      unblocked,
    });
    this.logger.debug({ taskId: task.taskId, agentId, attempt: task.attempt }, 'task complete');
    this.refreshHolder(agentId);
    this.tellDelegator(task, { state: 'complete', agent_id: agentId, result });
    this.dirty = true;
    this.listener?.onFinished(task);
  }

  /**
   * Dead now with `reason`, its blocked dependents with it: a flow's step canceled, a need
   * never submitted. False when the task is not unfinished any more.
   */
  abandon(taskId: string, reason: string): boolean {
    const task = this.live.get(taskId);
    if (!task) return false;
    this.kill(task, reason);
    return true;
  }

  fail(task: LiveTask, failure: TaskFailed, agentId: string): void {
    if (failure.retryable) {
      this.requeue(task, failure.error, true, 'failed', failure.result);
      return;
    }
    this.note(task.taskId, 'failed', agentId, task.attempt, {
      error: failure.error,
      result: failure.result,
    });
    this.kill(task, failure.error);
  }

  /**
   * The attempt ended without an outcome, or failed: back to the queue after the backoff, or dead
   * when the failures are used up (with every blocked task that needed it).
   */
  requeue(
    task: LiveTask,
    reason: string,
    countFailure: boolean,
    event: string,
    result?: unknown,
  ): void {
    const now = this.now();
    // Grants that never reach an outcome without counting as failures (releases, grants never
    // acknowledged) must not circle for ever either (SPEC §3: nothing requeued forever).
    if (!countFailure && task.attempt >= task.maxAttempts + MAX_UNCOUNTED_GRANTS) {
      this.note(task.taskId, event, task.agentId, task.attempt, { reason });
      this.kill(task, `granted ${task.attempt} times without an outcome (last: ${reason})`);
      return;
    }
    const holder = task.agentId;
    const failures = task.failures + (countFailure ? 1 : 0);
    const delayMs = countFailure
      ? retryDelayMs(failures, this.settings.retryBaseMs, this.settings.retryMaxMs)
      : 0;
    const dead = failures >= task.maxAttempts;
    const deaths: Death[] = [];
    if (dead) {
      deaths.push({ taskId: task.taskId, attempt: task.attempt, agentId: null, reason });
      this.finish(task, 'dead', { failures, lastError: reason });
      this.collectDependents(task.taskId, reason, deaths);
    } else {
      this.live.unhold(task);
      Object.assign(task, {
        state: 'queued',
        agentId: null,
        leaseExpiresAt: null,
        failures,
        lastError: reason,
        notBefore: now + delayMs,
        updatedAt: now,
      });
      this.queue.push(task, now);
      this.dirty = true;
      this.logger.info({ taskId: task.taskId, delayMs, reason }, 'task requeued');
    }
    // PROTOCOL §4.7: taken from a holder that may still run it — it is told to stop.
    if (holder && (event === 'lease_expired' || event === 'agent_lost')) {
      this.revoke(task.taskId, task.attempt, holder, `superseded: ${reason}`);
    }
    this.decide({
      kind: 'requeue',
      at: now,
      taskId: task.taskId,
      agentId: holder,
      attempt: task.attempt,
      event,
      reason,
      failures,
      notBefore: now + delayMs,
      ...(result === undefined ? {} : { result }),
      deaths,
    });
    this.refreshHolder(holder);
    this.announceDeaths(deaths, task.attempt);
  }

  /**
   * Requeue what an agent held (its Last Will, its goodbye); how many. PROTOCOL §4.3, §4.4.
   * `alone`: it died by itself with the broker up, so a grant it had not acknowledged may be
   * what killed it too.
   */
  requeueHeld(agentId: string, reason: string, crashed: boolean, alone = false): number {
    const held = [...this.live.heldBy(agentId)].map((id) => this.live.get(id)!);
    for (const task of held) {
      // A crash counts against a task the agent had acknowledged — it may be what killed it —
      // and against one it had not, when nothing else explains the death.
      const counts = crashed && (task.acked || alone);
      this.requeue(task, reason, counts, crashed ? 'agent_lost' : 'released');
    }
    return held.length;
  }

  /** Lapsed leases go back to the queue (PROTOCOL §4.2); retries that came due get dispatched. */
  expireLeases(): void {
    const now = this.now();
    if (this.queue.nextDueAt <= now) this.dirty = true;
    const lapsed = [...this.assigned()].filter((task) => (task.leaseExpiresAt ?? 0) < now);
    for (const task of lapsed) {
      const agent = task.acked ? undefined : this.registry.get(task.agentId ?? '');
      const reason = task.acked
        ? `lease of ${task.agentId} lapsed: attempt ${task.attempt} not renewed for ${this.settings.leaseMs} ms`
        : `grant to ${task.agentId} never acknowledged within ${this.settings.leaseMs} ms`;
      this.requeue(task, reason, task.acked, 'lease_expired');
      // An agent that lets grants lapse gets no more until it reports its capacity again.
      if (agent) {
        agent.free = agent.reportedFree = 0;
        this.refreshReady(agent);
      }
    }
  }

  /** An event in a task's history that decides nothing (progress, a stale result). */
  note(
    taskId: string,
    event: string,
    agentId: string | null,
    attempt: number | null,
    detail: unknown,
  ): void {
    this.decide({ kind: 'note', at: this.now(), taskId, event, agentId, attempt, detail });
  }

  /** A message about an attempt that is not the live one: recorded, ignored (PROTOCOL §4.6). */
  recordStale(taskId: string, agentId: string, attempt: number, what: string): void {
    if (!this.find(taskId)) return;
    this.note(taskId, 'stale', agentId, attempt, { ignored: what });
    this.logger.warn(
      { taskId, agentId, attempt },
      `stale ${what} ignored: attempt is not the live one`,
    );
  }

  /**
   * Grant queued tasks to agents with room, the agent that has waited longest first, one task at
   * a time round its role's line (PROTOCOL §3.4). Runs once per turn of the hub's event loop,
   * and only when something changed: O(roles) with nothing to grant, O(log Q) per grant.
   */
  dispatch(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const now = this.now();
    this.queue.promote(now);
    for (;;) {
      let best: AgentView | undefined;
      for (const [role, line] of this.registry.readyLines()) {
        const head = line.values().next().value;
        if (!head || !this.queue.hasAny(this.typesOf(role))) continue;
        if (!best || head.readySince < best.readySince) best = head;
      }
      if (!best) return;
      const task = this.queue.take(this.typesOf(best.role))!;
      const allowance = this.budget?.allowance(task.spec, now) ?? { ok: true };
      if (!allowance.ok) {
        // PROTOCOL §14.5: no room left in the swarm budget; said on tasks/dead, not retried.
        this.kill(task, `not started: ${allowance.reason}`);
        this.publishBudget();
        continue;
      }
      this.grant(task, best, now, allowance.maxCostUsd);
    }
  }

  /** A message to send once this turn's decisions are recorded (replies, forwarded answers). */
  send(message: Outbound): void {
    this.batch.messages.push(message);
  }

  /** Retained on `hub/budget`, for the dashboard; only where a budget is configured. */
  publishBudget(): void {
    if (!this.budget?.configured) return;
    const status = this.budget.status(this.now());
    this.batch.messages.push({ key: 'hubBudget', payload: () => status, retain: true });
  }

  /**
   * Tell `agentId` to stop an attempt it held that is no longer the live one (tasks/cancel,
   * reason "superseded: …"); remembered, so the agent is told again if it lists it later.
   */
  private revoke(taskId: string, attempt: number, agentId: string, reason: string): void {
    const key = `${taskId}#${attempt}`;
    this.superseded.set(key, agentId);
    if (this.superseded.size > SUPERSEDED_MEMORY) {
      this.superseded.delete(this.superseded.keys().next().value!);
    }
    this.tellToStop(taskId, attempt, agentId, reason);
  }

  private tellToStop(taskId: string, attempt: number, agentId: string, reason: string): void {
    const agent = this.registry.get(agentId);
    const cancel = { task_id: taskId, attempt, reason };
    this.batch.messages.push({
      key: 'tasksCancel',
      params: { agent: agentId },
      recipient: { name: agentId, ...(agent ? { role: agent.role } : {}) },
      payload: () => cancel,
    });
  }

  /**
   * A claim or heartbeat lists a superseded attempt: the revocation was lost (the agent was cut
   * off, or frozen, when it went) — say it again. O(listed).
   */
  private reviseSuperseded(agentId: string, running: readonly TaskRef[]): void {
    for (const ref of running) {
      const key = `${ref.task_id}#${ref.attempt}`;
      if (this.superseded.get(key) !== agentId) continue;
      this.logger.warn(
        { taskId: ref.task_id, agentId, attempt: ref.attempt },
        'agent still runs a superseded attempt; told again to stop it',
      );
      const reason = `superseded: attempt ${ref.attempt} is no longer the live one`;
      this.tellToStop(ref.task_id, ref.attempt, agentId, reason);
    }
  }

  /** Attempts currently granted. */
  *assigned(): IterableIterator<LiveTask> {
    for (const agentId of this.live.holders()) {
      for (const id of this.live.heldBy(agentId)) yield this.live.get(id)!;
    }
  }

  private demand(agent: AgentView): number {
    if (agent.state !== 'online' || agent.free === 0) return 0;
    const held = this.live.heldBy(agent.agentId);
    if (held.size === 0) return agent.free;
    return demandOf(
      agent,
      [...held].map((id) => ({ task_id: id, attempt: this.live.get(id)!.attempt })),
    );
  }

  private refreshHolder(agentId: string | null): void {
    const agent = agentId ? this.registry.get(agentId) : undefined;
    if (agent) this.refreshReady(agent);
  }

  private typesOf(role: string): string[] {
    let types = this.types.get(role);
    if (!types) {
      types = typesForRole(this.settings.taskTypes, role);
      this.types.set(role, types);
    }
    return types;
  }

  private withKey(key: string): TaskRecord | undefined {
    const recent = this.recentKeys.get(key);
    return this.live.withKey(key) ?? (recent ? this.recent.get(recent) : this.store.withKey(key));
  }

  private grant(task: LiveTask, agent: AgentView, now: number, maxCostUsd?: number): void {
    const { leaseMs } = this.settings;
    Object.assign(task, {
      state: 'assigned',
      attempt: task.attempt + 1,
      agentId: agent.agentId,
      leaseExpiresAt: now + leaseMs,
      acked: false,
      updatedAt: now,
    });
    this.live.hold(task, agent.agentId);
    agent.lastGrantAt = now;
    this.decide({
      kind: 'grant',
      at: now,
      taskId: task.taskId,
      agentId: agent.agentId,
      attempt: task.attempt,
      leaseExpiresAt: now + leaseMs,
    });
    this.logger.debug(
      { taskId: task.taskId, agentId: agent.agentId, attempt: task.attempt },
      'task granted',
    );
    this.listener?.onGranted(task);
    const { attempt, spec } = task;
    this.batch.messages.push({
      // Addressed (SPEC §2): only this agent reads it, signed with its key (PROTOCOL §15.4).
      key: 'tasksAssigned',
      params: { agent: agent.agentId },
      recipient: { name: agent.agentId, role: agent.role },
      payload: (): TaskAssigned => ({
        task_id: spec.task_id,
        agent_id: agent.agentId,
        attempt,
        lease_ms: leaseMs,
        lease_expires_at: new Date(now + leaseMs).toISOString(),
        task: spec,
        inputs: this.inputsOf(spec),
        ...(maxCostUsd === undefined ? {} : { max_cost_usd: maxCostUsd }),
      }),
    });
    // Served: it goes to the back of its role's line if it has room still.
    this.registry.setReady(agent, this.demand(agent) > 0, true);
  }

  /**
   * Results of the tasks this one needs, read once they are recorded; trimmed so the whole grant
   * stays under the agents' size limit (the task itself is under it, PROTOCOL §1.4).
   */
  private inputsOf(spec: TaskSpec): Record<string, unknown> {
    if (!spec.needs?.length) return {};
    const results: Record<string, unknown> = {};
    for (const need of this.store.needsOf(spec.task_id)) results[need.taskId] = need.result;
    const room = this.settings.maxPayloadBytes - Buffer.byteLength(JSON.stringify(spec)) - 8_192;
    return fitJson(results, Math.max(1_024, room)).value;
  }

  /** Dead at once, with every blocked task that needed it. */
  private kill(task: LiveTask, reason: string): void {
    const holder = task.agentId;
    const deaths: Death[] = [
      { taskId: task.taskId, attempt: task.attempt, agentId: holder, reason },
    ];
    this.finish(task, 'dead', { lastError: reason });
    this.collectDependents(task.taskId, reason, deaths);
    this.decide({ kind: 'kill', at: this.now(), deaths });
    this.refreshHolder(holder);
    this.announceDeaths(deaths, task.attempt);
  }

  /** Blocked tasks that needed a dead one die too, transitively, each saying why. */
  private collectDependents(taskId: string, error: string, deaths: Death[]): void {
    for (const id of [...this.live.waitingFor(taskId)]) {
      const dependent = this.live.get(id);
      if (!dependent) continue;
      const reason = `needed task ${taskId} is dead: ${error}`;
      deaths.push({ taskId: id, attempt: dependent.attempt, agentId: null, reason });
      this.finish(dependent, 'dead', { lastError: reason });
      this.collectDependents(id, reason, deaths);
    }
  }

  /** The task leaves memory; until the batch is recorded, `recent` answers for it. */
  private finish(task: LiveTask, state: 'complete' | 'dead', change: Partial<TaskRecord>): void {
    this.live.remove(task);
    Object.assign(task, { ...change, state, leaseExpiresAt: null, updatedAt: this.now() });
    if (state === 'dead') task.agentId = null;
    delete task.waitingOn;
    this.recent.set(task.taskId, task);
    const key = task.spec.idempotency_key;
    if (key) this.recentKeys.set(key, task.taskId);
  }

  private announceDeaths(deaths: readonly Death[], firstAttempts: number): void {
    for (const [i, death] of deaths.entries()) {
      const attempts = i === 0 ? firstAttempts : death.attempt;
      this.logger.warn({ taskId: death.taskId, attempts }, `task dead: ${death.reason}`);
      const dead = { task_id: death.taskId, attempts, error: death.reason };
      this.batch.messages.push({ key: 'tasksDead', payload: () => dead });
      const task = this.recent.get(death.taskId);
      if (task) this.tellDelegator(task, { state: 'dead', attempts, error: death.reason });
    }
    // After every death is decided: a flow that hears of the first sees the others dead too.
    for (const death of deaths) {
      const task = this.recent.get(death.taskId);
      if (task) this.listener?.onFinished(task);
    }
  }

  /**
   * A subtask's outcome goes to the agent that delegated it, on its own topic (PROTOCOL §14.3):
   * agents do not read others' results.
   */
  private tellDelegator(
    task: TaskRecord,
    outcome: Pick<DelegatedOutcome, 'state' | 'agent_id' | 'result' | 'attempts' | 'error'>,
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
      message.result = fitJson(outcome.result, this.settings.maxPayloadBytes - 8_192).value;
    }
    this.batch.messages.push({
      key: 'tasksDelegated',
      params: { agent: delegator.agentId },
      recipient: { name: delegator.agentId, role: delegator.role },
      payload: () => message,
    });
  }

  private decide(decision: Decision): void {
    this.batch.decisions.push(decision);
  }
}
