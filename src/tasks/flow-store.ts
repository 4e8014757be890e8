import type Database from 'better-sqlite3';
import { FlowSubmit, type FlowState } from '../protocol/flow-messages.js';
import type { Ledger } from './ledger.js';

/**
 * Flows in the hub's ledger (PROTOCOL §17.2): one row per flow — its definition as submitted,
 * its state — and one per step, linking it to its task once it has one. A step's task says how
 * it is doing; the step row says what became of a step that has none (skipped, canceled, failed
 * to render).
 */
const FLOW_SQL = `
CREATE TABLE IF NOT EXISTS flows (
  flow_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  definition TEXT NOT NULL,
  state TEXT NOT NULL,
  submitted_by TEXT NOT NULL,
  schedule_name TEXT,
  error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  finished_at INTEGER
);
CREATE INDEX IF NOT EXISTS flows_state ON flows (state);
CREATE INDEX IF NOT EXISTS flows_finished ON flows (finished_at) WHERE finished_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS flow_steps (
  flow_id TEXT NOT NULL,
  step_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  task_id TEXT,
  state TEXT NOT NULL,
  note TEXT,
  PRIMARY KEY (flow_id, step_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS flow_steps_task ON flow_steps (task_id) WHERE task_id IS NOT NULL;
`;

/** What became of a step: waiting for its needs, given a task, or ended without one. */
export type StepRowState = 'waiting' | 'started' | 'skipped' | 'canceled' | 'failed';

export interface FlowRow {
  flowId: string;
  name: string;
  definition: FlowSubmit;
  state: FlowState;
  submittedBy: string;
  scheduleName: string | null;
  error: string | null;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

export interface StepRow {
  flowId: string;
  stepId: string;
  position: number;
  taskId: string | null;
  state: StepRowState;
  note: string | null;
}

interface RawFlow {
  flow_id: string;
  name: string;
  definition: string;
  state: FlowState;
  submitted_by: string;
  schedule_name: string | null;
  error: string | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}

interface RawStep {
  flow_id: string;
  step_id: string;
  position: number;
  task_id: string | null;
  state: StepRowState;
  note: string | null;
}

export class FlowStore {
  private readonly db: Database.Database;
  private readonly statements;

  constructor(ledger: Ledger) {
    this.db = ledger.database;
    this.db.exec(FLOW_SQL);
    const db = this.db;
    this.statements = {
      get: db.prepare<[string], RawFlow>('SELECT * FROM flows WHERE flow_id = ?'),
      insert: db.prepare(
        `INSERT INTO flows (flow_id, name, definition, state, submitted_by, schedule_name,
           created_at, updated_at) VALUES (?, ?, ?, 'running', ?, ?, ?, ?)`,
      ),
      insertStep: db.prepare(
        `INSERT INTO flow_steps (flow_id, step_id, position, state) VALUES (?, ?, ?, 'waiting')`,
      ),
      steps: db.prepare<[string], RawStep>(
        'SELECT * FROM flow_steps WHERE flow_id = ? ORDER BY position',
      ),
      stepOfTask: db.prepare<[string], RawStep>('SELECT * FROM flow_steps WHERE task_id = ?'),
      setStep: db.prepare(
        'UPDATE flow_steps SET state = ?, task_id = COALESCE(?, task_id), note = ? WHERE flow_id = ? AND step_id = ?',
      ),
      finish: db.prepare(
        'UPDATE flows SET state = ?, error = ?, updated_at = ?, finished_at = ? WHERE flow_id = ?',
      ),
      touch: db.prepare('UPDATE flows SET updated_at = ? WHERE flow_id = ?'),
      running: db.prepare<[], { flow_id: string }>(
        `SELECT flow_id FROM flows WHERE state = 'running' ORDER BY created_at`,
      ),
      list: db.prepare<[number], RawFlow>('SELECT * FROM flows ORDER BY created_at DESC LIMIT ?'),
      listState: db.prepare<[string, number], RawFlow>(
        'SELECT * FROM flows WHERE state = ? ORDER BY created_at DESC LIMIT ?',
      ),
      prunable: db.prepare<[number], { flow_id: string }>(
        'SELECT flow_id FROM flows WHERE finished_at IS NOT NULL AND finished_at < ? LIMIT 10000',
      ),
      deleteFlow: db.prepare('DELETE FROM flows WHERE flow_id = ?'),
      deleteSteps: db.prepare('DELETE FROM flow_steps WHERE flow_id = ?'),
      firstGrant: db.prepare<[string], { at: number | null }>(
        `SELECT MIN(at) AS at FROM task_events WHERE task_id = ? AND kind = 'assigned'`,
      ),
      // A retryable failure leaves its result in a 'result' event, a final one in 'failed'.
      lastFailure: db.prepare<[string], { detail: string | null }>(
        `SELECT detail FROM task_events WHERE task_id = ? AND (kind = 'result'
           OR (kind = 'failed' AND detail LIKE '%"result"%')) ORDER BY id DESC LIMIT 1`,
      ),
      canceledAttempts: db.prepare<
        [number],
        { task_id: string; attempt: number; agent_id: string; at: number }
      >(
        `SELECT e.task_id, e.attempt, e.agent_id, e.at FROM flow_steps s
           JOIN task_events e ON e.task_id = s.task_id AND e.kind = 'canceled'
           WHERE s.state = 'canceled' AND e.at >= ? AND e.agent_id IS NOT NULL`,
      ),
    };
  }

  get(flowId: string): FlowRow | undefined {
    const row = this.statements.get.get(flowId);
    return row ? toFlow(row) : undefined;
  }

  /** Record a flow and its steps, all waiting; the caller starts the first in the same transaction. */
  insert(definition: FlowSubmit, submittedBy: string, now: number, scheduleName?: string): void {
    this.statements.insert.run(
      definition.flow_id,
      definition.name,
      JSON.stringify(definition),
      submittedBy,
      scheduleName ?? null,
      now,
      now,
    );
    definition.steps.forEach((step, position) =>
      this.statements.insertStep.run(definition.flow_id, step.id, position),
    );
  }

  steps(flowId: string): StepRow[] {
    return this.statements.steps.all(flowId).map(toStep);
  }

  stepOfTask(taskId: string): StepRow | undefined {
    const row = this.statements.stepOfTask.get(taskId);
    return row ? toStep(row) : undefined;
  }

  setStep(
    flowId: string,
    stepId: string,
    state: StepRowState,
    change: { taskId?: string; note?: string | null },
    now: number,
  ): void {
    this.statements.setStep.run(state, change.taskId ?? null, change.note ?? null, flowId, stepId);
    this.statements.touch.run(now, flowId);
  }

  finish(flowId: string, state: FlowState, error: string | null, now: number): void {
    this.statements.finish.run(state, error, now, now, flowId);
  }

  runningFlowIds(): string[] {
    return this.statements.running.all().map((row) => row.flow_id);
  }

  list(limit: number, state?: FlowState): FlowRow[] {
    const rows = state
      ? this.statements.listState.all(state, limit)
      : this.statements.list.all(limit);
    return rows.map(toFlow);
  }

  /** When the step's task was first granted. */
  startedAt(taskId: string): number | null {
    return this.statements.firstGrant.get(taskId)?.at ?? null;
  }

  /** What the last failed attempt of a task left: its result (commands and their output). */
  lastFailure(taskId: string): unknown {
    const detail = this.statements.lastFailure.get(taskId)?.detail;
    return detail ? (JSON.parse(detail) as unknown) : undefined;
  }

  /** Attempts canceled since `since` whose agents may not have heard (PROTOCOL §17.3). */
  canceledAttempts(
    since: number,
  ): { taskId: string; attempt: number; agentId: string; at: number }[] {
    return this.statements.canceledAttempts.all(since).map((row) => ({
      taskId: row.task_id,
      attempt: row.attempt,
      agentId: row.agent_id,
      at: row.at,
    }));
  }

  /** Finished flows older than `before` go, with their steps (their tasks go by the ledger's own retention). */
  prune(before: number): number {
    return this.db.transaction(() => {
      const ids = this.statements.prunable.all(before).map((row) => row.flow_id);
      for (const id of ids) {
        this.statements.deleteSteps.run(id);
        this.statements.deleteFlow.run(id);
      }
      return ids.length;
    })();
  }
}

function toFlow(row: RawFlow): FlowRow {
  return {
    flowId: row.flow_id,
    name: row.name,
    definition: FlowSubmit.parse(JSON.parse(row.definition)),
    state: row.state,
    submittedBy: row.submitted_by,
    scheduleName: row.schedule_name,
    error: row.error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
  };
}

function toStep(row: RawStep): StepRow {
  return {
    flowId: row.flow_id,
    stepId: row.step_id,
    position: row.position,
    taskId: row.task_id,
    state: row.state,
    note: row.note,
  };
}
