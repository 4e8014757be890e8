import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { TaskSpec } from '../protocol/messages.js';
import { SCHEMA_SQL } from './ledger-schema.js';
import {
  PRIORITY_RANK,
  priorityOfRank,
  type TaskEvent,
  type TaskRecord,
  type TaskState,
} from './task-record.js';

interface Row {
  seq: number;
  task_id: string;
  type: string;
  priority: number;
  state: TaskState;
  spec: string;
  submitted_by: string;
  parent_task_id: string | null;
  attempt: number;
  failures: number;
  max_attempts: number;
  agent_id: string | null;
  lease_expires_at: number | null;
  acked: number;
  not_before: number;
  result: string | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}

export type InsertOutcome =
  | { inserted: true; task: TaskRecord }
  | {
      inserted: false;
      reason: 'duplicate task_id' | 'duplicate idempotency_key';
      task: TaskRecord;
    };

/**
 * The hub's durable record of every task (SPEC §3), in SQLite. Every method is one synchronous
 * transaction, so the hub's decisions are serialised and survive a kill -9 (WAL mode).
 */
export class Ledger {
  private readonly db: Database.Database;
  private readonly statements;
  private readonly claimable = new Map<number, Database.Statement<unknown[], Row>>();

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // NORMAL loses no committed transaction on a process crash in WAL mode; only power loss can.
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA_SQL);
    const db = this.db;
    this.statements = {
      get: db.prepare<[string], Row>('SELECT * FROM tasks WHERE task_id = ?'),
      byKey: db.prepare<[string], Row>('SELECT * FROM tasks WHERE idempotency_key = ?'),
      insert: db.prepare(
        `INSERT INTO tasks (task_id, type, priority, state, spec, submitted_by, idempotency_key,
           parent_task_id, max_attempts, created_at, updated_at)
         VALUES (@task_id, @type, @priority, @state, @spec, @submitted_by, @idempotency_key,
           @parent_task_id, @max_attempts, @now, @now)`,
      ),
      insertNeed: db.prepare('INSERT OR IGNORE INTO task_needs (task_id, need_id) VALUES (?, ?)'),
      event: db.prepare(
        'INSERT INTO task_events (task_id, at, kind, agent_id, attempt, detail) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      setState: db.prepare(
        `UPDATE tasks SET state = @state, agent_id = @agent_id, lease_expires_at = @lease,
           not_before = @not_before, failures = @failures, last_error = @last_error,
           result = @result, attempt = @attempt, acked = @acked, updated_at = @now
         WHERE task_id = @task_id`,
      ),
      renew: db.prepare(
        `UPDATE tasks SET lease_expires_at = ?, acked = 1 WHERE task_id = ? AND attempt = ?
           AND agent_id = ? AND state = 'assigned'`,
      ),
      assignedTo: db.prepare<[string], Row>(
        `SELECT * FROM tasks WHERE state = 'assigned' AND agent_id = ?`,
      ),
      expired: db.prepare<[number], Row>(
        `SELECT * FROM tasks WHERE state = 'assigned' AND lease_expires_at < ?`,
      ),
      extendLeases: db.prepare(
        `UPDATE tasks SET lease_expires_at = MAX(lease_expires_at, ?) WHERE state = 'assigned'`,
      ),
      needs: db.prepare<
        [string],
        { need_id: string; state: TaskState | null; result: string | null }
      >(
        `SELECT n.need_id, t.state, t.result FROM task_needs n
           LEFT JOIN tasks t ON t.task_id = n.need_id WHERE n.task_id = ?`,
      ),
      dependents: db.prepare<[string], Row>(
        `SELECT t.* FROM task_needs n JOIN tasks t ON t.task_id = n.task_id
           WHERE n.need_id = ? AND t.state = 'blocked'`,
      ),
      history: db.prepare<
        [string],
        {
          at: number;
          kind: string;
          agent_id: string | null;
          attempt: number | null;
          detail: string | null;
        }
      >(
        'SELECT at, kind, agent_id, attempt, detail FROM task_events WHERE task_id = ? ORDER BY id',
      ),
      counts: db.prepare<[], { state: TaskState; n: number }>(
        'SELECT state, COUNT(*) AS n FROM tasks GROUP BY state',
      ),
      granted: db.prepare<[string, number, string], { one: number }>(
        `SELECT 1 AS one FROM task_events WHERE kind = 'assigned' AND task_id = ? AND attempt = ?
           AND agent_id = ? LIMIT 1`,
      ),
      unfinishedBy: db.prepare<[string, number], { n: number }>(
        `SELECT COUNT(*) AS n FROM (SELECT 1 FROM tasks WHERE submitted_by = ?
           AND state IN ('blocked', 'queued', 'assigned') LIMIT ?)`,
      ),
      prunable: db.prepare<[number, number], { task_id: string }>(
        `SELECT t.task_id FROM tasks t WHERE t.state IN ('complete', 'dead') AND t.updated_at < ?
           AND NOT EXISTS (SELECT 1 FROM task_needs n JOIN tasks d ON d.task_id = n.task_id
             WHERE n.need_id = t.task_id AND d.state IN ('blocked', 'queued', 'assigned'))
           LIMIT ?`,
      ),
      deleteTask: db.prepare('DELETE FROM tasks WHERE task_id = ?'),
      deleteEvents: db.prepare('DELETE FROM task_events WHERE task_id = ?'),
      deleteNeeds: db.prepare('DELETE FROM task_needs WHERE task_id = ?'),
      approvalEvents: db.prepare<
        [],
        { task_id: string; attempt: number; agent_id: string; kind: string; detail: string }
      >(
        `SELECT e.task_id, e.attempt, e.agent_id, e.kind, e.detail FROM task_events e
           JOIN tasks t ON t.task_id = e.task_id AND t.state = 'assigned' AND t.attempt = e.attempt
           WHERE e.kind IN ('approval_requested', 'approved', 'denied') ORDER BY e.id`,
      ),
    };
  }

  close(): void {
    this.db.close();
  }

  /** The SQLite handle, for the stores that keep their own tables beside the tasks (flows). */
  get database(): Database.Database {
    return this.db;
  }

  /** `body` in one transaction (nested ones become savepoints). */
  transaction<T>(body: () => T): T {
    return this.db.transaction(body)();
  }

  get(taskId: string): TaskRecord | undefined {
    const row = this.statements.get.get(taskId);
    return row ? toRecord(row) : undefined;
  }

  /** Record a submitted task; a task id or idempotency key seen before makes it a no-op. */
  insert(spec: TaskSpec, submittedBy: string, maxAttempts: number, now: number): InsertOutcome {
    return this.db.transaction((): InsertOutcome => {
      const existing = this.statements.get.get(spec.task_id);
      if (existing)
        return { inserted: false, reason: 'duplicate task_id', task: toRecord(existing) };
      if (spec.idempotency_key) {
        const same = this.statements.byKey.get(spec.idempotency_key);
        if (same)
          return { inserted: false, reason: 'duplicate idempotency_key', task: toRecord(same) };
      }
      const needs = [...new Set(spec.needs ?? [])];
      this.statements.insert.run({
        task_id: spec.task_id,
        type: spec.type,
        priority: PRIORITY_RANK[spec.priority ?? 'normal'],
        state: needs.length > 0 ? 'blocked' : 'queued',
        spec: JSON.stringify(spec),
        submitted_by: submittedBy,
        idempotency_key: spec.idempotency_key ?? null,
        parent_task_id: spec.parent_task_id ?? null,
        max_attempts: spec.max_attempts ?? maxAttempts,
        now,
      });
      for (const need of needs) this.statements.insertNeed.run(spec.task_id, need);
      this.addEvent(spec.task_id, now, 'submitted', submittedBy, null, null);
      return { inserted: true, task: this.get(spec.task_id)! };
    })();
  }

  /** Queued tasks of these types whose retry time has come, best priority first, then oldest. */
  nextClaimable(types: readonly string[], now: number, limit: number): TaskRecord[] {
    if (types.length === 0 || limit <= 0) return [];
    // Called on every dispatch: one prepared statement per number of types, kept.
    let statement = this.claimable.get(types.length);
    if (!statement) {
      const marks = types.map(() => '?').join(',');
      statement = this.db.prepare<unknown[], Row>(
        `SELECT * FROM tasks WHERE state = 'queued' AND not_before <= ? AND type IN (${marks})
           ORDER BY priority DESC, seq ASC LIMIT ?`,
      );
      this.claimable.set(types.length, statement);
    }
    return statement.all(now, ...types, limit).map(toRecord);
  }

  /** Grant the next attempt to `agentId`; the new attempt number is the fencing token. */
  grant(taskId: string, agentId: string, now: number, leaseMs: number): TaskRecord {
    const task = this.mustGet(taskId);
    const change = {
      state: 'assigned' as const,
      agentId,
      leaseExpiresAt: now + leaseMs,
      attempt: task.attempt + 1,
      acked: false,
    };
    this.update(task, change, now);
    this.addEvent(taskId, now, 'assigned', agentId, change.attempt, null);
    return { ...task, ...change, updatedAt: now };
  }

  /** Renewal by the agent also acknowledges the grant: it has the task. */
  renewLease(taskId: string, attempt: number, agentId: string, expiresAt: number): void {
    this.statements.renew.run(expiresAt, taskId, attempt, agentId);
  }

  /** After a hub restart: give every running attempt a fresh lease, since no one could renew it. */
  extendAllLeases(expiresAt: number): void {
    this.statements.extendLeases.run(expiresAt);
  }

  assignedTo(agentId: string): TaskRecord[] {
    return this.statements.assignedTo.all(agentId).map(toRecord);
  }

  expiredLeases(now: number): TaskRecord[] {
    return this.statements.expired.all(now).map(toRecord);
  }

  /** Whether this attempt of the task was ever granted to `agentId` (PROTOCOL §15.3). */
  wasGranted(taskId: string, attempt: number, agentId: string): boolean {
    return this.statements.granted.get(taskId, attempt, agentId) !== undefined;
  }

  /** A submitter's tasks blocked, queued or assigned, counted up to `cap` (PROTOCOL §15.5). */
  unfinishedBy(submitter: string, cap: number): number {
    return this.statements.unfinishedBy.get(submitter, cap)?.n ?? 0;
  }

  /**
   * Delete up to `limit` finished tasks last updated before `before`, with their history, except
   * those an unfinished task needs (PROTOCOL §15.5). One transaction; returns how many went.
   */
  prune(before: number, limit = 10_000): number {
    return this.db.transaction(() => {
      const ids = this.statements.prunable.all(before, limit).map((row) => row.task_id);
      for (const id of ids) {
        this.statements.deleteEvents.run(id);
        this.statements.deleteNeeds.run(id);
        this.statements.deleteTask.run(id);
      }
      return ids.length;
    })();
  }

  /** Approval requests and answers of live attempts, oldest first: the hub's pending set at start. */
  approvalEvents(): {
    taskId: string;
    attempt: number;
    agentId: string;
    kind: string;
    detail: unknown;
  }[] {
    return this.statements.approvalEvents.all().map((row) => ({
      taskId: row.task_id,
      attempt: row.attempt,
      agentId: row.agent_id,
      kind: row.kind,
      detail: JSON.parse(row.detail) as unknown,
    }));
  }

  /** True when `attempt` by `agentId` is the task's live attempt; anything else is stale. */
  isCurrent(task: TaskRecord | undefined, attempt: number, agentId: string): task is TaskRecord {
    return task?.state === 'assigned' && task.attempt === attempt && task.agentId === agentId;
  }

  complete(task: TaskRecord, result: unknown, now: number): void {
    this.update(task, { state: 'complete', leaseExpiresAt: null, result }, now);
    this.addEvent(task.taskId, now, 'complete', task.agentId, task.attempt, result);
  }

  /** Back to the queue after `delayMs`, or dead when `countFailure` uses up the attempts. */
  requeue(
    task: TaskRecord,
    change: { reason: string; countFailure: boolean; delayMs: number; kind: string },
    now: number,
  ): 'queued' | 'dead' {
    const failures = task.failures + (change.countFailure ? 1 : 0);
    const dead = failures >= task.maxAttempts;
    this.update(
      task,
      {
        state: dead ? 'dead' : 'queued',
        agentId: null,
        leaseExpiresAt: null,
        failures,
        lastError: change.reason,
        notBefore: dead ? 0 : now + change.delayMs,
      },
      now,
    );
    this.addEvent(task.taskId, now, change.kind, task.agentId, task.attempt, {
      reason: change.reason,
    });
    if (dead)
      this.addEvent(task.taskId, now, 'dead', null, task.attempt, { reason: change.reason });
    return dead ? 'dead' : 'queued';
  }

  /** Dead at once: a failure retrying cannot mend, or a task whose need died. */
  kill(task: TaskRecord, reason: string, now: number): void {
    this.update(
      task,
      { state: 'dead', agentId: null, leaseExpiresAt: null, lastError: reason },
      now,
    );
    this.addEvent(task.taskId, now, 'dead', task.agentId, task.attempt, { reason });
  }

  /** Needs of a task with their state; a need never submitted has state null. */
  needsOf(taskId: string): { taskId: string; state: TaskState | null; result: unknown }[] {
    return this.statements.needs.all(taskId).map((row) => ({
      taskId: row.need_id,
      state: row.state,
      result: row.result === null ? undefined : JSON.parse(row.result),
    }));
  }

  blockedDependents(taskId: string): TaskRecord[] {
    return this.statements.dependents.all(taskId).map(toRecord);
  }

  unblock(task: TaskRecord, now: number): void {
    this.update(task, { state: 'queued' }, now);
    this.addEvent(task.taskId, now, 'unblocked', null, null, null);
  }

  list(filter: { state?: string; limit?: number }): TaskRecord[] {
    const limit = filter.limit ?? 1000;
    const rows = filter.state
      ? this.db
          .prepare<[string, number], Row>(
            'SELECT * FROM tasks WHERE state = ? ORDER BY seq DESC LIMIT ?',
          )
          .all(filter.state, limit)
      : this.db.prepare<[number], Row>('SELECT * FROM tasks ORDER BY seq DESC LIMIT ?').all(limit);
    return rows.map(toRecord);
  }

  childrenOf(taskId: string): TaskRecord[] {
    return this.db
      .prepare<[string], Row>('SELECT * FROM tasks WHERE parent_task_id = ? ORDER BY seq')
      .all(taskId)
      .map(toRecord);
  }

  history(taskId: string): TaskEvent[] {
    return this.statements.history.all(taskId).map((row) => ({
      at: row.at,
      kind: row.kind,
      agentId: row.agent_id,
      attempt: row.attempt,
      detail: row.detail === null ? null : JSON.parse(row.detail),
    }));
  }

  /**
   * What one attempt of a prompt task cost (the swarm budget, budget.ts); a redelivered result
   * of the same attempt is counted once.
   */
  recordSpend(spend: {
    taskId: string;
    attempt: number;
    agentId: string;
    flowId: string;
    day: string;
    costUsd: number;
  }): void {
    this.db
      .prepare(
        `INSERT OR IGNORE INTO llm_spend (task_id, attempt, agent_id, flow_id, day, cost_usd)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(spend.taskId, spend.attempt, spend.agentId, spend.flowId, spend.day, spend.costUsd);
  }

  /** Dollars recorded for a UTC day (`2026-11-21`), or for a flow (its root task id). */
  spent(filter: { day: string } | { flowId: string }): number {
    const row =
      'day' in filter
        ? this.db
            .prepare<[string], { total: number | null }>(
              'SELECT SUM(cost_usd) AS total FROM llm_spend WHERE day = ?',
            )
            .get(filter.day)
        : this.db
            .prepare<[string], { total: number | null }>(
              'SELECT SUM(cost_usd) AS total FROM llm_spend WHERE flow_id = ?',
            )
            .get(filter.flowId);
    return row?.total ?? 0;
  }

  /** Whether the attempt's cost is recorded already (so its heartbeat figure is not counted too). */
  hasSpend(taskId: string, attempt: number): boolean {
    return (
      this.db
        .prepare('SELECT 1 FROM llm_spend WHERE task_id = ? AND attempt = ? LIMIT 1')
        .get(taskId, attempt) !== undefined
    );
  }

  counts(): Record<TaskState, number> {
    const counts: Record<TaskState, number> = {
      blocked: 0,
      queued: 0,
      assigned: 0,
      complete: 0,
      dead: 0,
    };
    for (const row of this.statements.counts.all()) counts[row.state] = row.n;
    return counts;
  }

  addEvent(
    taskId: string,
    at: number,
    kind: string,
    agentId: string | null,
    attempt: number | null,
    detail: unknown,
  ): void {
    const json = detail === null || detail === undefined ? null : JSON.stringify(detail);
    this.statements.event.run(taskId, at, kind, agentId, attempt, json);
  }

  private mustGet(taskId: string): TaskRecord {
    const task = this.get(taskId);
    if (!task) throw new Error(`no task ${taskId} in the ledger`);
    return task;
  }

  private update(task: TaskRecord, change: Partial<TaskRecord>, now: number): void {
    const next = { ...task, ...change };
    this.statements.setState.run({
      task_id: task.taskId,
      state: next.state,
      agent_id: next.agentId,
      lease: next.leaseExpiresAt,
      not_before: next.notBefore,
      failures: next.failures,
      last_error: next.lastError,
      result: next.result === undefined ? null : JSON.stringify(next.result),
      attempt: next.attempt,
      acked: next.acked ? 1 : 0,
      now,
    });
  }
}

function toRecord(row: Row): TaskRecord {
  return {
    seq: row.seq,
    taskId: row.task_id,
    type: row.type,
    priority: priorityOfRank(row.priority),
    state: row.state,
    spec: JSON.parse(row.spec) as TaskSpec,
    submittedBy: row.submitted_by,
    parentTaskId: row.parent_task_id,
    attempt: row.attempt,
    failures: row.failures,
    maxAttempts: row.max_attempts,
    agentId: row.agent_id,
    leaseExpiresAt: row.lease_expires_at,
    acked: row.acked === 1,
    notBefore: row.not_before,
    result: row.result === null ? undefined : JSON.parse(row.result),
    lastError: row.last_error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
