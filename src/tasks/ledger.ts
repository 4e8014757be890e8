import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { TaskSpec } from '../protocol/messages.js';
import {
  taskRowOf,
  type Ack,
  type Admit,
  type Complete,
  type Death,
  type Decision,
  type Grant,
  type Requeue,
} from './decisions.js';
import { SCHEMA_SQL } from './ledger-schema.js';
import type { ApprovalEvent, LedgerStore, Spend } from './ledger-store.js';
import { WalCheckpointer } from './wal-checkpointer.js';
import {
  isCurrentAttempt,
  priorityOfRank,
  type TaskEvent,
  type TaskRecord,
  type TaskState,
} from './task-record.js';

/** A row of `tasks`, as both stores keep it. */
export interface TaskRow {
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

/** Every row of a ledger, as `importRows` takes them. */
export interface LedgerRows {
  tasks: (TaskRow & { idempotency_key: string | null })[];
  needs: { task_id: string; need_id: string }[];
  events: {
    task_id: string;
    at: number;
    kind: string;
    agent_id: string | null;
    attempt: number | null;
    detail: string | null;
  }[];
  spend: {
    task_id: string;
    attempt: number;
    agent_id: string;
    flow_id: string;
    day: string;
    cost_usd: number;
  }[];
}

export type InsertOutcome =
  | { inserted: true; task: TaskRecord }
  | {
      inserted: false;
      reason: 'duplicate task_id' | 'duplicate idempotency_key';
      task: TaskRecord;
    };

/**
 * The hub's durable record of every task (SPEC §3), in SQLite. The hub decides in memory; what
 * it decided reaches here as decisions (decisions.ts), each kind recorded by its own method, a
 * batch of them in one transaction (`apply`), so a kill -9 leaves all of a decision or none of
 * it (WAL mode). Reads serve queries, restarts and what the hub does not keep in memory.
 */
export class Ledger implements LedgerStore {
  readonly location: string;
  private readonly db: Database.Database;
  private readonly statements;
  private readonly applyAll: (decisions: readonly Decision[], alongside?: () => void) => void;

  private readonly checkpointer: WalCheckpointer | undefined;

  constructor(
    path: string,
    options: {
      /** Why the WAL is checkpointed by SQLite in the hub's own commits after all. */
      onCheckpointFallback?: (reason: string) => void;
    } = {},
  ) {
    this.location = path;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // NORMAL loses no committed transaction on a process crash in WAL mode; only power loss can.
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA_SQL);
    if (path !== ':memory:') {
      // Checkpoints in a worker thread, not in whichever commit passes 1,000 pages.
      this.db.pragma('wal_autocheckpoint = 0');
      this.checkpointer = new WalCheckpointer(path, (reason) => {
        if (this.db.open) this.db.pragma('wal_autocheckpoint = 1000');
        options.onCheckpointFallback?.(reason);
      });
    }
    const db = this.db;
    this.statements = {
      get: db.prepare<[string], TaskRow>('SELECT * FROM tasks WHERE task_id = ?'),
      byKey: db.prepare<[string], TaskRow>('SELECT * FROM tasks WHERE idempotency_key = ?'),
      stateOf: db.prepare<[string], { state: TaskState }>(
        'SELECT state FROM tasks WHERE task_id = ?',
      ),
      unfinished: db.prepare<[], TaskRow>(
        `SELECT * FROM tasks WHERE state IN ('blocked', 'queued', 'assigned') ORDER BY seq`,
      ),
      lastSeq: db.prepare<[], { seq: number }>(
        `SELECT seq FROM sqlite_sequence WHERE name = 'tasks'`,
      ),
      maxSeq: db.prepare<[], { seq: number | null }>('SELECT MAX(seq) AS seq FROM tasks'),
      insert: db.prepare(
        `INSERT INTO tasks (seq, task_id, type, priority, state, spec, submitted_by,
           idempotency_key, parent_task_id, max_attempts, created_at, updated_at)
         VALUES (@seq, @task_id, @type, @priority, @state, @spec, @submitted_by,
           @idempotency_key, @parent_task_id, @max_attempts, @now, @now)`,
      ),
      insertNeed: db.prepare('INSERT OR IGNORE INTO task_needs (task_id, need_id) VALUES (?, ?)'),
      event: db.prepare(
        'INSERT INTO task_events (task_id, at, kind, agent_id, attempt, detail) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      grant: db.prepare(
        `UPDATE tasks SET state = 'assigned', agent_id = ?, lease_expires_at = ?, attempt = ?,
           acked = 0, updated_at = ? WHERE task_id = ?`,
      ),
      ack: db.prepare(
        `UPDATE tasks SET acked = 1 WHERE task_id = ? AND attempt = ? AND agent_id = ?
           AND state = 'assigned'`,
      ),
      complete: db.prepare(
        `UPDATE tasks SET state = 'complete', lease_expires_at = NULL, result = ?, updated_at = ?
           WHERE task_id = ?`,
      ),
      unblock: db.prepare(
        `UPDATE tasks SET state = 'queued', updated_at = ? WHERE task_id = ? AND state = 'blocked'`,
      ),
      requeue: db.prepare(
        `UPDATE tasks SET state = @state, agent_id = NULL, lease_expires_at = NULL,
           failures = @failures, last_error = @last_error, not_before = @not_before,
           updated_at = @now WHERE task_id = @task_id`,
      ),
      kill: db.prepare(
        `UPDATE tasks SET state = 'dead', agent_id = NULL, lease_expires_at = NULL,
           last_error = ?, updated_at = ? WHERE task_id = ?`,
      ),
      needs: db.prepare<
        [string],
        { need_id: string; state: TaskState | null; result: string | null }
      >(
        `SELECT n.need_id, t.state, t.result FROM task_needs n
           LEFT JOIN tasks t ON t.task_id = n.need_id WHERE n.task_id = ?`,
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
    this.applyAll = db.transaction((decisions: readonly Decision[], alongside?: () => void) => {
      for (const decision of decisions) this.recordDecision(decision);
      alongside?.();
    });
  }

  close(): void {
    this.checkpointer?.stop();
    this.db.close();
  }

  /**
   * Fill an empty ledger with rows read from another store, in one transaction: how a hub on
   * PostgreSQL keeps its copy (postgres-ledger.ts). Events keep their order.
   */
  importRows(rows: LedgerRows): void {
    const db = this.db;
    const task = db.prepare(
      `INSERT INTO tasks (seq, task_id, type, priority, state, spec, submitted_by, idempotency_key,
         parent_task_id, attempt, failures, max_attempts, agent_id, lease_expires_at, acked,
         not_before, result, last_error, created_at, updated_at)
       VALUES (@seq, @task_id, @type, @priority, @state, @spec, @submitted_by, @idempotency_key,
         @parent_task_id, @attempt, @failures, @max_attempts, @agent_id, @lease_expires_at, @acked,
         @not_before, @result, @last_error, @created_at, @updated_at)`,
    );
    const spend = db.prepare(
      `INSERT INTO llm_spend (task_id, attempt, agent_id, flow_id, day, cost_usd)
       VALUES (@task_id, @attempt, @agent_id, @flow_id, @day, @cost_usd)`,
    );
    db.transaction(() => {
      for (const row of rows.tasks) task.run(row);
      for (const row of rows.needs) this.statements.insertNeed.run(row.task_id, row.need_id);
      for (const row of rows.events) {
        this.statements.event.run(
          row.task_id,
          row.at,
          row.kind,
          row.agent_id,
          row.attempt,
          row.detail,
        );
      }
      for (const row of rows.spend) spend.run(row);
    })();
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

  /** The task with this idempotency key, if any (PROTOCOL §6). */
  withKey(key: string): TaskRecord | undefined {
    const row = this.statements.byKey.get(key);
    return row ? toRecord(row) : undefined;
  }

  /** A task's state without reading the rest of it; undefined: never submitted (or pruned). */
  stateOf(taskId: string): TaskState | undefined {
    return this.statements.stateOf.get(taskId)?.state;
  }

  /** Every unfinished task (blocked, queued, assigned), oldest first: the hub's memory at start. */
  unfinished(): TaskRecord[] {
    return this.statements.unfinished.all().map(toRecord);
  }

  /** The highest `seq` ever given, so new tasks keep queueing after every recorded one. */
  lastSeq(): number {
    const used = this.statements.lastSeq.get()?.seq ?? 0;
    return Math.max(used, this.statements.maxSeq.get()?.seq ?? 0);
  }

  /**
   * Record decisions (PROTOCOL §3.8) in ONE transaction: all of them or, if any fails, none.
   * Each kind has its own method below; a batch is what the hub decided in one turn.
   * `alongside` writes the flows' and schedules' changes of the turn in the same transaction.
   */
  apply(decisions: readonly Decision[], alongside?: () => void): void {
    if (decisions.length === 0 && !alongside) return;
    this.applyAll(decisions, alongside);
  }

  /** The SQLite ledger that answers reads and holds the flows' tables: this one. */
  get local(): Ledger {
    return this;
  }

  private recordDecision(decision: Decision): void {
    switch (decision.kind) {
      case 'admit':
        return this.recordAdmit(decision);
      case 'grant':
        return this.recordGrant(decision);
      case 'ack':
        return this.recordAck(decision);
      case 'complete':
        return this.recordComplete(decision);
      case 'requeue':
        return this.recordRequeue(decision);
      case 'kill':
        return this.recordDeaths(decision.at, decision.deaths);
      case 'note':
        return this.addEvent(
          decision.taskId,
          decision.at,
          decision.event,
          decision.agentId,
          decision.attempt,
          decision.detail,
        );
    }
  }

  /** A submitted task, its needs and its first history event. */
  private recordAdmit({ task, needs, at }: Admit): void {
    this.statements.insert.run({ ...taskRowOf(task), now: at });
    for (const need of needs) this.statements.insertNeed.run(task.taskId, need);
    this.addEvent(task.taskId, at, 'submitted', task.submittedBy, null, null);
  }

  private recordGrant(grant: Grant): void {
    this.statements.grant.run(
      grant.agentId,
      grant.leaseExpiresAt,
      grant.attempt,
      grant.at,
      grant.taskId,
    );
    this.addEvent(grant.taskId, grant.at, 'assigned', grant.agentId, grant.attempt, null);
  }

  /** Renewals live in the hub's memory (§4.1); only the acknowledgement is recorded. */
  private recordAck(ack: Ack): void {
    this.statements.ack.run(ack.taskId, ack.attempt, ack.agentId);
  }

  /** The completion and the unblocking of what waited on it: one decision (PROTOCOL §7). */
  private recordComplete(done: Complete): void {
    this.statements.complete.run(
      done.result === undefined ? null : JSON.stringify(done.result),
      done.at,
      done.taskId,
    );
    this.addEvent(done.taskId, done.at, 'complete', done.agentId, done.attempt, done.result);
    for (const taskId of done.unblocked) {
      this.statements.unblock.run(done.at, taskId);
      this.addEvent(taskId, done.at, 'unblocked', null, null, null);
    }
  }

  private recordRequeue(requeue: Requeue): void {
    const { taskId, at, agentId, attempt } = requeue;
    if (requeue.result !== undefined) {
      this.addEvent(taskId, at, 'result', agentId, attempt, requeue.result);
    }
    const dead = requeue.deaths[0]?.taskId === taskId;
    this.statements.requeue.run({
      state: dead ? 'dead' : 'queued',
      failures: requeue.failures,
      last_error: requeue.reason,
      not_before: dead ? 0 : requeue.notBefore,
      now: at,
      task_id: taskId,
    });
    this.addEvent(taskId, at, requeue.event, agentId, attempt, { reason: requeue.reason });
    if (!dead) return this.recordDeaths(at, requeue.deaths);
    // Its failures are used up: dead with the reason of the last one, then what needed it.
    this.addEvent(taskId, at, 'dead', null, attempt, { reason: requeue.reason });
    this.recordDeaths(at, requeue.deaths.slice(1));
  }

  private recordDeaths(at: number, deaths: readonly Death[]): void {
    for (const death of deaths) {
      this.statements.kill.run(death.reason, at, death.taskId);
      this.addEvent(death.taskId, at, 'dead', death.agentId, death.attempt, {
        reason: death.reason,
      });
    }
  }

  /** Whether this attempt of the task was ever granted to `agentId` (PROTOCOL §15.3). */
  wasGranted(taskId: string, attempt: number, agentId: string): boolean {
    return this.statements.granted.get(taskId, attempt, agentId) !== undefined;
  }

  /**
   * Delete up to `limit` finished tasks last updated before `before`, with their history, except
   * those an unfinished task needs (PROTOCOL §15.5). One transaction; returns how many went.
   */
  prune(before: number, limit = 10_000): number {
    return this.pruneIds(before, limit).length;
  }

  /** `prune`, saying which tasks went (a copy of another store deletes the same there). */
  pruneIds(before: number, limit = 10_000): string[] {
    return this.db.transaction(() => {
      const ids = this.statements.prunable.all(before, limit).map((row) => row.task_id);
      for (const id of ids) {
        this.statements.deleteEvents.run(id);
        this.statements.deleteNeeds.run(id);
        this.statements.deleteTask.run(id);
      }
      return ids;
    })();
  }

  /** Approval requests and answers of live attempts, oldest first: the hub's pending set at start. */
  approvalEvents(): ApprovalEvent[] {
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
    return isCurrentAttempt(task, attempt, agentId);
  }

  /** Needs of a task with their state; a need never submitted has state null. */
  needsOf(taskId: string): { taskId: string; state: TaskState | null; result: unknown }[] {
    return this.statements.needs.all(taskId).map((row) => ({
      taskId: row.need_id,
      state: row.state,
      result: row.result === null ? undefined : JSON.parse(row.result),
    }));
  }

  list(filter: { state?: string; limit?: number }): TaskRecord[] {
    const limit = filter.limit ?? 1000;
    const rows = filter.state
      ? this.db
          .prepare<[string, number], TaskRow>(
            'SELECT * FROM tasks WHERE state = ? ORDER BY seq DESC LIMIT ?',
          )
          .all(filter.state, limit)
      : this.db
          .prepare<[number], TaskRow>('SELECT * FROM tasks ORDER BY seq DESC LIMIT ?')
          .all(limit);
    return rows.map(toRecord);
  }

  childrenOf(taskId: string): TaskRecord[] {
    return this.db
      .prepare<[string], TaskRow>('SELECT * FROM tasks WHERE parent_task_id = ? ORDER BY seq')
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
  recordSpend(spend: Spend): void {
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
}

function toRecord(row: TaskRow): TaskRecord {
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
