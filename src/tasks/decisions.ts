import type { TaskSpec } from '../protocol/messages.js';
import type { Recipient } from '../auth/keyring.js';
import type { TopicKey } from '../protocol/topic-table.js';

/**
 * What the scheduler decides, as data (PROTOCOL §3.8). The scheduler changes its memory at once
 * and returns these; the hub records each in the ledger — one method per kind, a turn's batch in
 * one transaction — before it sends anything that follows from them.
 */

/** A task that dies: itself, or a blocked task that needed one that died. */
export interface Death {
  taskId: string;
  /** Its attempt and holder when it died (0 and null for a task never granted). */
  attempt: number;
  agentId: string | null;
  reason: string;
}

export interface Admit {
  kind: 'admit';
  at: number;
  task: {
    seq: number;
    taskId: string;
    type: string;
    priority: number;
    state: 'queued' | 'blocked';
    spec: TaskSpec;
    submittedBy: string;
    idempotencyKey: string | null;
    parentTaskId: string | null;
    maxAttempts: number;
  };
  /** The task ids it needs, once each. */
  needs: string[];
}

/** A submitted task as its `tasks` row, for either store (ledger.ts, postgres-ops.ts). */
export function taskRowOf(task: Admit['task']): Record<string, string | number | null> {
  return {
    seq: task.seq,
    task_id: task.taskId,
    type: task.type,
    priority: task.priority,
    state: task.state,
    spec: JSON.stringify(task.spec),
    submitted_by: task.submittedBy,
    idempotency_key: task.idempotencyKey,
    parent_task_id: task.parentTaskId,
    max_attempts: task.maxAttempts,
  };
}

/** The next attempt of a task to one agent: the attempt number is the fencing token. */
export interface Grant {
  kind: 'grant';
  at: number;
  taskId: string;
  agentId: string;
  attempt: number;
  leaseExpiresAt: number;
}

/** The agent listed the attempt as running: it has the grant (PROTOCOL §4.1). */
export interface Ack {
  kind: 'ack';
  taskId: string;
  agentId: string;
  attempt: number;
}

/** An attempt completed; `unblocked` are the tasks waiting on it that now wait on nothing. */
export interface Complete {
  kind: 'complete';
  at: number;
  taskId: string;
  agentId: string;
  attempt: number;
  result: unknown;
  unblocked: string[];
}

/**
 * An attempt ended without completing and the task goes back to the queue — or, when its
 * failures are used up, dies, with every blocked task that needed it (`deaths`, itself first).
 */
export interface Requeue {
  kind: 'requeue';
  at: number;
  taskId: string;
  agentId: string | null;
  attempt: number;
  /** The history event: failed, released, refused, lease_expired, agent_lost. */
  event: string;
  reason: string;
  failures: number;
  notBefore: number;
  /** What a failed attempt produced, recorded as a `result` event. */
  result?: unknown;
  deaths: Death[];
}

/** Dead at once (a failure retrying cannot mend, a need that died, no budget), with dependents. */
export interface Kill {
  kind: 'kill';
  at: number;
  deaths: Death[];
}

/** An event in a task's history that changes nothing else (progress, stale, failed). */
export interface Note {
  kind: 'note';
  at: number;
  taskId: string;
  event: string;
  agentId: string | null;
  attempt: number | null;
  detail: unknown;
}

export type Decision = Admit | Grant | Ack | Complete | Requeue | Kill | Note;

/**
 * A message that follows from decisions, built once they are recorded (a grant reads the results
 * of the tasks it needs from the ledger then).
 */
export interface Outbound {
  key: TopicKey;
  /** The topic's `{…}` levels. */
  params?: Record<string, string>;
  payload: () => unknown;
  /** Signed for this reader (PROTOCOL §15.4). */
  recipient?: Recipient;
  retain?: boolean;
}
