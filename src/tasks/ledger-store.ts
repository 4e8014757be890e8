import type { Decision } from './decisions.js';
import type { Ledger } from './ledger.js';
import type { SchedulerStore } from './scheduler.js';
import type { TaskEvent, TaskRecord, TaskState } from './task-record.js';

/** An approval request or answer of a live attempt, as recorded (approval-desk.ts). */
export interface ApprovalEvent {
  taskId: string;
  attempt: number;
  agentId: string;
  kind: string;
  detail: unknown;
}

/** What one attempt of a prompt task cost (budget.ts). */
export interface Spend {
  taskId: string;
  attempt: number;
  agentId: string;
  flowId: string;
  day: string;
  costUsd: number;
}

/**
 * What the hub needs of its ledger (SPEC §3, PROTOCOL §3.8), whichever database holds it:
 * SQLite (ledger.ts, the embedded default) or PostgreSQL (postgres-ledger.ts, for several hubs).
 *
 * Reads are synchronous: the hub decides in memory, one message at a time, and must not
 * interleave decisions with waiting for a database. A store that lives elsewhere keeps a copy
 * of what it has recorded to answer them. Writes are a turn's decisions in ONE transaction
 * (`apply`); a store may finish it later (a promise), and the hub then holds the turn's
 * acknowledgements and messages, and the next turn, until it has.
 */
export interface LedgerStore extends SchedulerStore {
  /** Where the ledger is, for logs: a file, or a URL without its password. */
  readonly location: string;
  /** Every unfinished task (blocked, queued, assigned), oldest first: the hub's memory at start. */
  unfinished(): TaskRecord[];
  /**
   * Record a turn's decisions, all or none; a rejected promise or a throw: none. `alongside`
   * writes the turn's changes of the flows' and schedules' tables (in `local`), which are
   * recorded in the same transaction.
   */
  apply(decisions: readonly Decision[], alongside?: () => void): void | Promise<void>;
  /**
   * The SQLite ledger that answers the reads: this one, or a store's copy. The flows and
   * schedules keep their tables in it (flow-store.ts, schedules.ts).
   */
  readonly local: Ledger;
  /** Whether this attempt of the task was ever granted to `agentId` (PROTOCOL §15.3). */
  wasGranted(taskId: string, attempt: number, agentId: string): boolean;
  /** Delete finished tasks past retention, except needed ones (PROTOCOL §15.5); how many. */
  prune(before: number, limit?: number): number;
  approvalEvents(): ApprovalEvent[];
  list(filter: { state?: string; limit?: number }): TaskRecord[];
  childrenOf(taskId: string): TaskRecord[];
  history(taskId: string): TaskEvent[];
  counts(): Record<TaskState, number>;
  recordSpend(spend: Spend): void;
  spent(filter: { day: string } | { flowId: string }): number;
  hasSpend(taskId: string, attempt: number): boolean;
  close(): void | Promise<void>;
}

/**
 * The ledger refused a write because another hub has led since (a higher epoch): this hub is
 * deposed and must stand by (hub-election.ts). Not a failure of the ledger.
 */
export class LeadershipLost extends Error {
  readonly code = 'LEADERSHIP_LOST';
}
