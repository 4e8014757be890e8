import type { Priority, TaskSpec } from '../protocol/messages.js';

/**
 * blocked: waits for the tasks it needs · queued: claimable (once `notBefore` has passed) ·
 * assigned: granted to `agentId` under a lease · complete · dead: will not be retried.
 */
export type TaskState = 'blocked' | 'queued' | 'assigned' | 'complete' | 'dead';

export const TASK_STATES: readonly TaskState[] = [
  'blocked',
  'queued',
  'assigned',
  'complete',
  'dead',
];

export interface TaskRecord {
  seq: number;
  taskId: string;
  type: string;
  priority: Priority;
  state: TaskState;
  spec: TaskSpec;
  submittedBy: string;
  parentTaskId: string | null;
  /** Number of grants so far; the current grant's number is the fencing token. */
  attempt: number;
  /** Attempts that failed or whose agent was lost; `maxAttempts` of them make the task dead. */
  failures: number;
  maxAttempts: number;
  agentId: string | null;
  leaseExpiresAt: number | null;
  /** The agent has listed this attempt as running: it received the grant. */
  acked: boolean;
  notBefore: number;
  result: unknown;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface TaskEvent {
  at: number;
  kind: string;
  agentId: string | null;
  attempt: number | null;
  detail: unknown;
}

export const PRIORITY_RANK: Record<Priority, number> = { low: 0, normal: 1, high: 2 };

export function priorityOfRank(rank: number): Priority {
  return rank >= 2 ? 'high' : rank <= 0 ? 'low' : 'normal';
}

/** True when `attempt` by `agentId` is the task's live attempt; anything else is stale (§4.6). */
export function isCurrentAttempt(
  task: TaskRecord | undefined,
  attempt: number,
  agentId: string,
): task is TaskRecord {
  return task?.state === 'assigned' && task.attempt === attempt && task.agentId === agentId;
}
