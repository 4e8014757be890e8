import type Database from 'better-sqlite3';
import type { Logger } from '../logging/logger.js';
import { ScheduleTiming, type FlowDefinition, type FlowSubmit } from '../protocol/flow-messages.js';
import type { TaskSpec } from '../protocol/messages.js';
import type { Ledger } from './ledger.js';
import { describeTiming, nextSlot, slotId, slotsIn } from './schedule-slots.js';

/**
 * Recurring tasks and flows, run by the hub (PROTOCOL §17.7). Each schedule remembers in the
 * ledger the last slot it dealt with; a slot's task (or flow) has an id made of the schedule's
 * name and the slot's time, so recording it twice is a no-op; the slot is recorded in the same
 * transaction as its task or flow (the hub's turn), so a hub killed at any point has recorded
 * both or neither: one run per slot, restart or not. Slots that passed while the hub was not running are "missed": `latest` runs
 * the newest of them once, `skip` runs none; either way the others are counted, not run.
 */
export const SCHEDULE_SQL = `
CREATE TABLE IF NOT EXISTS schedules (
  name TEXT PRIMARY KEY,
  source TEXT NOT NULL,
  timing TEXT NOT NULL,
  target TEXT NOT NULL,
  submitted_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_slot INTEGER,
  last_run_id TEXT,
  skipped INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL
);
`;

/** What a slot runs: a task (its spec without an id) or a flow (its definition without an id). */
export type ScheduleTarget = { task: Record<string, unknown> } | { flow: FlowDefinition };

export interface ScheduleRow {
  name: string;
  /** `config`: the hub's config file (re-read at each start); `flow`: registered by a flow file. */
  source: 'config' | 'flow';
  timing: ScheduleTiming;
  target: ScheduleTarget;
  submittedBy: string;
  createdAt: number;
  lastSlot: number | null;
  lastRunId: string | null;
  skipped: number;
}

/** What the hub does with a slot that is due: why it did not start the run, if it did not. */
export interface SlotRunner {
  runTask(spec: TaskSpec, by: string): string | undefined;
  runFlow(flow: FlowSubmit, by: string, scheduleName: string): string | undefined;
}

/**
 * Schedules `sheri flow run` may register, at most (a config's are the operator's own file): each
 * is a row the hub reads every tick and a source of runs for ever.
 */
export const MAX_FLOW_SCHEDULES = 100;

interface Raw {
  name: string;
  source: 'config' | 'flow';
  timing: string;
  target: string;
  submitted_by: string;
  created_at: number;
  last_slot: number | null;
  last_run_id: string | null;
  skipped: number;
}

/** A slot dealt with this turn, recorded with the turn's task or flow (PROTOCOL §3.8). */
interface Mark {
  slot: number;
  runId: string | null;
  skipped: number;
  at: number;
}

export class Schedules {
  private readonly db: Database.Database;
  private readonly statements;
  private readonly marks = new Map<string, Mark>();

  constructor(
    ledger: Ledger,
    private readonly runner: SlotRunner,
    private readonly logger: Logger,
    /** A slot this late when the hub first gets to it was missed, not due (a tick or two). */
    private readonly graceMs: number,
  ) {
    this.db = ledger.database;
    this.db.exec(SCHEDULE_SQL);
    const db = this.db;
    this.statements = {
      all: db.prepare<[], Raw>('SELECT * FROM schedules ORDER BY name'),
      get: db.prepare<[string], Raw>('SELECT * FROM schedules WHERE name = ?'),
      upsert: db.prepare(
        `INSERT INTO schedules (name, source, timing, target, submitted_by, created_at, updated_at)
           VALUES (@name, @source, @timing, @target, @by, @now, @now)
         ON CONFLICT (name) DO UPDATE SET source = @source, timing = @timing, target = @target,
           submitted_by = @by, updated_at = @now`,
      ),
      remove: db.prepare('DELETE FROM schedules WHERE name = ?'),
      mark: db.prepare(
        `UPDATE schedules SET last_slot = ?, last_run_id = COALESCE(?, last_run_id),
           skipped = skipped + ?, updated_at = ? WHERE name = ?`,
      ),
    };
  }

  list(): ScheduleRow[] {
    return this.statements.all.all().map((raw) => this.marked(toRow(raw)));
  }

  get(name: string): ScheduleRow | undefined {
    const row = this.statements.get.get(name);
    return row ? this.marked(toRow(row)) : undefined;
  }

  /**
   * The slots dealt with this turn, in the hub's transaction of the turn: with the task or flow
   * each ran, so a hub killed before it records neither and runs the slot again at its start.
   */
  record(): void {
    for (const [name, mark] of this.marks) {
      this.statements.mark.run(mark.slot, mark.runId, mark.skipped, mark.at, name);
    }
  }

  committed(): void {
    this.marks.clear();
  }

  /** A row with this turn's mark, which the table does not hold yet. */
  private marked(row: ScheduleRow): ScheduleRow {
    const mark = this.marks.get(row.name);
    if (!mark) return row;
    return {
      ...row,
      lastSlot: mark.slot,
      lastRunId: mark.runId ?? row.lastRunId,
      skipped: row.skipped + mark.skipped,
    };
  }

  /**
   * The config file's schedules, at the hub's start: added or updated (keeping the last slot, so
   * a restart runs nothing twice), and those no longer in the file removed.
   */
  syncConfig(
    entries: readonly { name: string; timing: ScheduleTiming; target: ScheduleTarget }[],
    now: number,
  ): void {
    this.db.transaction(() => {
      const wanted = new Set(entries.map((entry) => entry.name));
      for (const row of this.list()) {
        if (row.source === 'config' && !wanted.has(row.name)) this.statements.remove.run(row.name);
      }
      for (const entry of entries)
        this.upsert(entry.name, 'config', entry.timing, entry.target, 'hub', now);
    })();
  }

  /** A flow file's schedule (`sheri flow run` of a file with `schedule:`); refused over a config one. */
  register(
    name: string,
    timing: ScheduleTiming,
    target: ScheduleTarget,
    by: string,
    now: number,
  ): { ok: true } | { ok: false; reason: string; code: 'SCHEMA_INVALID' | 'QUEUE_FULL' } {
    const existing = this.get(name);
    if (existing?.source === 'config') {
      return {
        ok: false,
        code: 'SCHEMA_INVALID',
        reason: `schedule "${name}" comes from the hub's config file; rename the flow or change it there`,
      };
    }
    if (!existing) {
      const registered = this.list().filter((row) => row.source === 'flow').length;
      if (registered >= MAX_FLOW_SCHEDULES) {
        return {
          ok: false,
          code: 'QUEUE_FULL',
          reason: `${registered} schedules registered by flows already, the most the hub keeps; remove one first (sheri schedule remove NAME)`,
        };
      }
    }
    this.upsert(name, 'flow', timing, target, by, now);
    this.logger.info(
      { schedule: name, by },
      `schedule ${name} registered (${describeTiming(timing)})`,
    );
    return { ok: true };
  }

  unregister(name: string): { ok: true } | { ok: false; reason: string } {
    const existing = this.get(name);
    if (!existing) return { ok: false, reason: `no schedule "${name}"` };
    if (existing.source === 'config') {
      return {
        ok: false,
        reason: `schedule "${name}" comes from the hub's config file: remove it there`,
      };
    }
    this.statements.remove.run(name);
    return { ok: true };
  }

  /** On the hub's tick: run each schedule's due slot, count its missed ones. */
  tick(now: number): void {
    for (const schedule of this.list()) {
      try {
        this.advance(schedule, now);
      } catch (error) {
        // One bad schedule must not stop the others, nor the hub.
        this.logger.error({ err: error, schedule: schedule.name }, 'schedule failed to run');
      }
    }
  }

  /** When the schedule runs next. */
  nextRun(schedule: ScheduleRow, now: number): number | undefined {
    return nextSlot(schedule.timing, Math.max(now, schedule.lastSlot ?? 0));
  }

  private advance(schedule: ScheduleRow, now: number): void {
    // A new schedule runs from its creation on, not the slots before it.
    const after = schedule.lastSlot ?? schedule.createdAt;
    const window = slotsIn(schedule.timing, after, now);
    if (window.count === 0 || window.newest === undefined) return;
    const slot = window.newest;
    const due = now - slot <= this.graceMs;
    const run = due || schedule.timing.missed === 'latest';
    const missed = window.count - (run ? 1 : 0);
    let runId = run ? `${schedule.name}.${slotId(slot)}` : null;
    let skipped = missed;
    if (runId) {
      const by = `schedule:${schedule.name}`;
      const refused =
        'task' in schedule.target
          ? this.runner.runTask({ ...schedule.target.task, task_id: runId } as TaskSpec, by)
          : this.runner.runFlow({ ...schedule.target.flow, flow_id: runId }, by, schedule.name);
      if (refused) {
        this.logger.warn(
          { schedule: schedule.name, runId },
          `schedule ${schedule.name}: its run ${runId} is not started: ${refused}`,
        );
        runId = null;
        skipped++;
      }
    }
    const earlier = this.marks.get(schedule.name);
    this.marks.set(schedule.name, {
      slot,
      runId: runId ?? earlier?.runId ?? null,
      skipped: skipped + (earlier?.skipped ?? 0),
      at: now,
    });
    if (missed > 0) {
      this.logger.warn(
        { schedule: schedule.name, skipped: missed },
        `schedule ${schedule.name}: ${missed} slot(s) passed while the hub was not running; ${run ? `ran the latest (${new Date(slot).toISOString()}) once` : 'ran none (missed: skip)'}`,
      );
    }
  }

  private upsert(
    name: string,
    source: 'config' | 'flow',
    timing: ScheduleTiming,
    target: ScheduleTarget,
    by: string,
    now: number,
  ): void {
    this.statements.upsert.run({
      name,
      source,
      timing: JSON.stringify(timing),
      target: JSON.stringify(target),
      by,
      now,
    });
  }
}

function toRow(raw: Raw): ScheduleRow {
  return {
    name: raw.name,
    source: raw.source,
    timing: ScheduleTiming.parse(JSON.parse(raw.timing)),
    target: JSON.parse(raw.target) as ScheduleTarget,
    submittedBy: raw.submitted_by,
    createdAt: raw.created_at,
    lastSlot: raw.last_slot,
    lastRunId: raw.last_run_id,
    skipped: raw.skipped,
  };
}
