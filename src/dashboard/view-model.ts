import type { SandboxReport, Usage } from '../protocol/messages.js';
import type { AgentSummary, TaskSummary } from '../tasks/hub-queries.js';
import type { BudgetStatus } from '../tasks/budget.js';
import type { FlowUpdate } from '../protocol/flow-messages.js';
import type { TaskState } from '../tasks/task-record.js';
import type { BusEvent } from './bus-event.js';
import { Queue } from './queue.js';
import type { Level } from './summarize.js';

/** The hub's states, plus `running`: assigned, and the agent has reported progress. */
export type TaskViewState = TaskState | 'running';
export const TASK_VIEW_STATES: readonly TaskViewState[] = [
  'running',
  'assigned',
  'queued',
  'blocked',
  'complete',
  'dead',
];

export interface TaskView {
  taskId: string;
  type: string;
  priority: string;
  state: TaskViewState;
  agentId: string | null;
  attempt: number;
  /** When the dashboard first learned of it (the hub's created_at for snapshot tasks). */
  createdAt: number;
  updatedAt: number;
  progress: { message: string; percent?: number } | null;
  lastError: string | null;
  needs: string[];
  /** What it runs, when its tasks/new was seen: commands joined, or the prompt. */
  work: string | null;
  /** The last few things that happened to it, for the detail view. */
  history: { at: number; text: string }[];
}

export type AgentViewState = 'idle' | 'busy' | 'draining' | 'gone';

export interface AgentView {
  agentId: string;
  role: string;
  state: AgentViewState;
  running: string[];
  free: number | null;
  concurrency: number | null;
  lastHeartbeatAt: number | null;
  lastSeenAt: number;
  rssBytes: number | null;
  /** Summed over the agent's LLM tasks, from its heartbeats (PROTOCOL §14). */
  usage: Usage | null;
  /** Its OS sandbox, from register, heartbeat or the hub's snapshot. */
  sandbox: SandboxReport | null;
}

export interface ApprovalView {
  approvalId: string;
  taskId: string;
  attempt: number;
  agentId: string;
  command: string;
  rule: string;
  reason: string;
  deadline: number;
  askedAt: number;
}

export interface FeedLine {
  at: number;
  topic: string;
  agent: string;
  text: string;
  level: Level;
}

export interface Limits {
  /** Lines of the event feed kept (a ring buffer). */
  feedLines: number;
  /** Complete and dead tasks kept for display; older ones are dropped, counters keep them. */
  finishedTasks: number;
  /** Agents that left, kept (greyed) for display. */
  goneAgents: number;
  /** Lines of history kept per task for its detail view. */
  historyPerTask: number;
  /** Flows kept for display, the newest (PROTOCOL §17). */
  flows: number;
}

export const DEFAULT_LIMITS: Limits = {
  feedLines: 1_000,
  finishedTasks: 2_000,
  goneAgents: 100,
  historyPerTask: 12,
  flows: 50,
};

/**
 * What the dashboard knows. `reduce` updates it in place and returns it: a copy per event would
 * cost O(tasks), and the dashboard must take thousands of events a second at 10,000 tasks. It is
 * still a reducer in every other way: no I/O, no clock (time comes in the events), deterministic.
 */
export interface DashboardState {
  readonly limits: Limits;
  /** Time of the latest event; ages are measured against it. */
  now: number;
  /** Bumped on every change, so the screen redraws only when there is something new. */
  version: number;
  broker: 'connected' | 'disconnected';
  hub: {
    status: 'unknown' | 'online' | 'offline';
    reason: string | null;
    snapshot: 'loading' | 'loaded' | 'unavailable';
    note: string | null;
  };
  tasks: Map<string, TaskView>;
  /** Task ids by state, each in the order they entered it: rows without sorting. */
  byState: Record<TaskViewState, Set<string>>;
  /** Finished task ids, oldest first, bounded by `limits.finishedTasks`. */
  finished: Queue<string>;
  /** need → tasks blocked on it, so a completion can unblock them without a scan. */
  blockedOn: Map<string, Set<string>>;
  agents: Map<string, AgentView>;
  gone: Queue<string>;
  approvals: Map<string, ApprovalView>;
  feed: Queue<FeedLine>;
  counters: { complete: number; failed: number; dead: number; invalid: number };
  /** The swarm budget, from the hub's snapshot and its retained `hub/budget` (PROTOCOL §14.5). */
  budget: BudgetStatus | null;
  /** Times of completions in the last minute, for tasks/min. */
  completions: Queue<number>;
  /** Flows as the hub last described them (`flows/update`, PROTOCOL §17.2), by id. */
  flows: Map<string, FlowUpdate>;
}

export type DashboardEvent =
  | { kind: 'message'; at: number; event: BusEvent }
  | {
      kind: 'snapshot';
      at: number;
      tasks: TaskSummary[];
      counts: Partial<Record<TaskState, number>>;
      agents: AgentSummary[];
      budget?: BudgetStatus;
      flows?: FlowUpdate[];
    }
  | { kind: 'snapshot-failed'; at: number; reason: string }
  | { kind: 'broker'; at: number; connected: boolean }
  /** Something the dashboard itself did or failed to do, for the feed. */
  | { kind: 'note'; at: number; text: string; level: Level }
  | { kind: 'tick'; at: number };

export function createState(limits: Partial<Limits> = {}, now = 0): DashboardState {
  const all = { ...DEFAULT_LIMITS, ...limits };
  return {
    limits: all,
    now,
    version: 0,
    broker: 'connected',
    hub: { status: 'unknown', reason: null, snapshot: 'loading', note: null },
    tasks: new Map(),
    byState: Object.fromEntries(TASK_VIEW_STATES.map((s) => [s, new Set<string>()])) as Record<
      TaskViewState,
      Set<string>
    >,
    finished: new Queue(),
    blockedOn: new Map(),
    agents: new Map(),
    gone: new Queue(),
    approvals: new Map(),
    feed: new Queue(all.feedLines),
    counters: { complete: 0, failed: 0, dead: 0, invalid: 0 },
    budget: null,
    completions: new Queue(),
    flows: new Map(),
  };
}
