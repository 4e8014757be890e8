import type Database from 'better-sqlite3';
import { FlowSubmit, type FlowState } from '../protocol/flow-messages.js';
import type { Ledger } from './ledger.js';

/**
 * Flows in the hub's ledger (PROTOCOL §17.2): one row per flow — its definition as submitted,
 * its state — and one per step, linking it to its task once it has one. A step's task says how
 * it is doing; the step row says what became of a step that has none (skipped, canceled, failed
 * to render).
 *
 * Like the scheduler's, the flow engine's decisions change memory at once and reach the tables
 * with the turn's other decisions, in its one transaction (PROTOCOL §3.8): a change is held
 * here, read before the tables, until the hub records the turn (`record`, then `committed`).
 */
export const FLOW_SQL = `
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

/** A flow changed this turn: its row, its steps that changed (all of them when inserted). */
interface HeldFlow {
  flow: FlowRow;
  steps: Map<string, StepRow>;
  inserted: boolean;
  changed: Set<string>;
}

export class FlowStore {
  private readonly db: Database.Database;
  private readonly statements;
  private readonly held = new Map<string, HeldFlow>();
  /** Task id → its step, for the steps given a task this turn. */
  private readonly heldTasks = new Map<string, { flowId: string; stepId: string }>();

  constructor(ledger: Ledger) {
    this.db = ledger.database;
    this.db.exec(FLOW_SQL);
    const db = this.db;
    this.statements = {
      get: db.prepare<[string], RawFlow>('SELECT * FROM flows WHERE flow_id = ?'),
      insert: db.prepare(
        `INSERT INTO flows (flow_id, name, definition, state, submitted_by, schedule_name, error,
           created_at, updated_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertStep: db.prepare(
        `INSERT INTO flow_steps (flow_id, step_id, position, task_id, state, note)
           VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      steps: db.prepare<[string], RawStep>(
        'SELECT * FROM flow_steps WHERE flow_id = ? ORDER BY position',
      ),
      stepOfTask: db.prepare<[string], RawStep>('SELECT * FROM flow_steps WHERE task_id = ?'),
      setStep: db.prepare(
        'UPDATE flow_steps SET state = ?, task_id = ?, note = ? WHERE flow_id = ? AND step_id = ?',
      ),
      update: db.prepare(
        'UPDATE flows SET state = ?, error = ?, updated_at = ?, finished_at = ? WHERE flow_id = ?',
      ),
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
    const held = this.held.get(flowId);
    if (held) return held.flow;
    const row = this.statements.get.get(flowId);
    return row ? toFlow(row) : undefined;
  }

  /** Record a flow and its steps, all waiting; the caller starts the first in the same turn. */
  insert(definition: FlowSubmit, submittedBy: string, now: number, scheduleName?: string): void {
    const flow: FlowRow = {
      flowId: definition.flow_id,
      name: definition.name,
      definition,
      state: 'running',
      submittedBy,
      scheduleName: scheduleName ?? null,
      error: null,
      createdAt: now,
      updatedAt: now,
      finishedAt: null,
    };
    const steps = new Map<string, StepRow>();
    definition.steps.forEach((step, position) =>
      steps.set(step.id, {
        flowId: flow.flowId,
        stepId: step.id,
        position,
        taskId: null,
        state: 'waiting',
        note: null,
      }),
    );
    this.held.set(flow.flowId, { flow, steps, inserted: true, changed: new Set() });
  }

  steps(flowId: string): StepRow[] {
    const held = this.held.get(flowId);
    if (held?.inserted) return [...held.steps.values()];
    const rows = this.statements.steps.all(flowId).map(toStep);
    return held ? rows.map((row) => held.steps.get(row.stepId) ?? row) : rows;
  }

  stepOfTask(taskId: string): StepRow | undefined {
    const ref = this.heldTasks.get(taskId);
    if (ref) return this.held.get(ref.flowId)?.steps.get(ref.stepId);
    const row = this.statements.stepOfTask.get(taskId);
    if (!row) return undefined;
    return this.held.get(row.flow_id)?.steps.get(row.step_id) ?? toStep(row);
  }

  setStep(
    flowId: string,
    stepId: string,
    state: StepRowState,
    change: { taskId?: string; note?: string | null },
    now: number,
  ): void {
    const held = this.hold(flowId);
    const step = held.steps.get(stepId) ?? this.steps(flowId).find((row) => row.stepId === stepId);
    if (!step) throw new Error(`flow ${flowId} has no step ${stepId}`);
    const next = {
      ...step,
      state,
      taskId: change.taskId ?? step.taskId,
      note: change.note ?? null,
    };
    held.steps.set(stepId, next);
    held.changed.add(stepId);
    if (next.taskId) this.heldTasks.set(next.taskId, { flowId, stepId });
    held.flow = { ...held.flow, updatedAt: now };
  }

  finish(flowId: string, state: FlowState, error: string | null, now: number): void {
    const held = this.hold(flowId);
    held.flow = { ...held.flow, state, error, updatedAt: now, finishedAt: now };
  }

  /** Write what changed since the last turn; inside the hub's transaction of the turn. */
  record(): void {
    for (const { flow, steps, inserted, changed } of this.held.values()) {
      if (inserted) {
        this.statements.insert.run(
          flow.flowId,
          flow.name,
          JSON.stringify(flow.definition),
          flow.state,
          flow.submittedBy,
          flow.scheduleName,
          flow.error,
          flow.createdAt,
          flow.updatedAt,
          flow.finishedAt,
        );
        for (const step of steps.values()) {
          this.statements.insertStep.run(
            step.flowId,
            step.stepId,
            step.position,
            step.taskId,
            step.state,
            step.note,
          );
        }
        continue;
      }
      this.statements.update.run(
        flow.state,
        flow.error,
        flow.updatedAt,
        flow.finishedAt,
        flow.flowId,
      );
      for (const stepId of changed) {
        const step = steps.get(stepId)!;
        this.statements.setStep.run(step.state, step.taskId, step.note, flow.flowId, stepId);
      }
    }
  }

  /** The turn is recorded: the tables say what memory held. */
  committed(): void {
    this.held.clear();
    this.heldTasks.clear();
  }

  /** A flow about to change this turn, held in memory (with the steps that change) till recorded. */
  private hold(flowId: string): HeldFlow {
    let held = this.held.get(flowId);
    if (!held) {
      const flow = this.get(flowId);
      if (!flow) throw new Error(`no flow ${flowId}`);
      held = { flow, steps: new Map(), inserted: false, changed: new Set() };
      this.held.set(flowId, held);
    }
    return held;
  }

  runningFlowIds(): string[] {
    return this.statements.running.all().map((row) => row.flow_id);
  }

  /** Newest first; what changed this turn included (queries are answered after it, mostly). */
  list(limit: number, state?: FlowState): FlowRow[] {
    const rows = state
      ? this.statements.listState.all(state, limit)
      : this.statements.list.all(limit);
    if (this.held.size === 0) return rows.map(toFlow);
    const byId = new Map(rows.map((row) => [row.flow_id, toFlow(row)]));
    for (const { flow } of this.held.values()) byId.set(flow.flowId, flow);
    return [...byId.values()]
      .filter((flow) => state === undefined || flow.state === state)
      .sort((a, b) => b.createdAt - a.createdAt)
      .slice(0, limit);
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
