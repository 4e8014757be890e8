import type Database from 'better-sqlite3';
import type { Logger } from '../logging/logger.js';
import type { Ledger } from './ledger.js';
import type { TaskRecord } from './task-record.js';

/**
 * PROTOCOL §17.8: plain tasks' `needs` that can never be met. A task whose needs lead back to
 * itself is dead as soon as it is recorded; a task that needs a task id nobody submitted is dead
 * once it has waited `missingNeedTimeoutMs`. Before, both stayed blocked for ever, unreported.
 */

/** How far the search for a cycle goes: a dependency graph larger than this is not walked. */
const MAX_VISITED = 10_000;

/**
 * The cycle through `taskId` as `[taskId, …, taskId]`, or undefined. Only a task recorded just
 * now can close one: every other member needed it before it existed. `waitingOn` gives the needs
 * a blocked task still waits on (a need that completed, or a task not blocked, ends a path).
 */
export function needsCycle(
  taskId: string,
  waitingOn: (taskId: string) => ReadonlySet<string> | undefined,
): string[] | undefined {
  // Depth first from the task along its needs, remembering how each node was reached.
  const cameFrom = new Map<string, string>();
  const stack = [taskId];
  while (stack.length > 0 && cameFrom.size < MAX_VISITED) {
    const node = stack.pop()!;
    for (const need of waitingOn(node) ?? []) {
      if (need === taskId) {
        const path = [taskId];
        for (let at = node; at !== taskId; at = cameFrom.get(at)!) path.splice(1, 0, at);
        return [...path, taskId];
      }
      if (cameFrom.has(need)) continue;
      cameFrom.set(need, node);
      stack.push(need);
    }
  }
  return undefined;
}

/** Blocked tasks that have waited too long for a need never submitted. */
export class MissingNeeds {
  private readonly overdue: Database.Statement<
    [number, number],
    { task_id: string; need_id: string }
  >;
  private checkedAt = 0;

  constructor(
    private readonly ledger: Ledger,
    /** 0: wait for ever. */
    private readonly timeoutMs: number,
    private readonly logger: Logger,
    /** How often to look, in ms. */
    private readonly everyMs = 1_000,
  ) {
    this.overdue = ledger.database.prepare(
      `SELECT t.task_id, n.need_id FROM tasks t JOIN task_needs n ON n.task_id = t.task_id
         LEFT JOIN tasks m ON m.task_id = n.need_id
         WHERE t.state = 'blocked' AND m.task_id IS NULL AND t.created_at <= ?
         ORDER BY t.seq LIMIT ?`,
    );
  }

  /** The tasks to give up on now, each with the reason. */
  sweep(now: number): { task: TaskRecord; reason: string }[] {
    if (this.timeoutMs === 0 || now - this.checkedAt < this.everyMs) return [];
    this.checkedAt = now;
    const found: { task: TaskRecord; reason: string }[] = [];
    const seen = new Set<string>();
    for (const row of this.overdue.all(now - this.timeoutMs, 1_000)) {
      if (seen.has(row.task_id)) continue;
      seen.add(row.task_id);
      const task = this.ledger.get(row.task_id);
      if (task?.state !== 'blocked') continue;
      const reason = `needed task ${row.need_id} was never submitted: waited ${Math.round(this.timeoutMs / 1000)} s for it (missingNeedTimeoutMs)`;
      this.logger.warn({ taskId: task.taskId, need: row.need_id }, reason);
      found.push({ task, reason });
    }
    return found;
  }
}
