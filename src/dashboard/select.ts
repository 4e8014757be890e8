import { totalTokens } from '../llm/pricing.js';
import { clock, formatAge, formatBytes, formatCount, formatMs, sandboxCell } from './format.js';
import { tasksPerMinute } from './reduce.js';
import type {
  AgentView,
  ApprovalView,
  DashboardState,
  FeedLine,
  TaskView,
  TaskViewState,
} from './view-model.js';

// What the screen shows, as plain strings: selectors read the state, never change it, and cost
// O(rows shown) without a filter — the indexes are kept in display order, so nothing is sorted
// per frame but the agents (a few hundred at most).

export interface Window {
  /** Case-insensitive substring every row shown must contain; '' shows all. */
  filter?: string;
  offset?: number;
  limit: number;
}

export interface Rows<T> {
  rows: T[];
  /** How many rows match the filter in all. */
  matched: number;
}

const ACTIVE: readonly TaskViewState[] = ['running', 'assigned', 'queued', 'blocked'];

/** Running and waiting tasks first, oldest first; then finished ones, newest first. */
function* tasksInOrder(state: DashboardState): Generator<TaskView> {
  for (const taskState of ACTIVE) {
    for (const id of state.byState[taskState]) yield state.tasks.get(id)!;
  }
  for (const id of state.finished.newestFirst()) {
    const task = state.tasks.get(id);
    // A finished id is in the queue once; a pruned one is gone from the map.
    if (task && (task.state === 'complete' || task.state === 'dead')) yield task;
  }
}

function take<T>(
  all: Iterable<T>,
  window: Window,
  text: (item: T) => string,
  size: number,
): Rows<T> {
  const filter = (window.filter ?? '').toLowerCase();
  const offset = window.offset ?? 0;
  const rows: T[] = [];
  let matched = 0;
  for (const item of all) {
    if (filter && !text(item).toLowerCase().includes(filter)) continue;
    if (matched >= offset && rows.length < window.limit) rows.push(item);
    matched += 1;
    // Without a filter the total is known: stop once the window is full.
    if (!filter && rows.length >= window.limit) return { rows, matched: size };
  }
  return { rows, matched };
}

export function selectTasks(state: DashboardState, window: Window): Rows<TaskView> {
  let size = 0;
  for (const taskState of ACTIVE) size += state.byState[taskState].size;
  size += state.byState.complete.size + state.byState.dead.size;
  return take(tasksInOrder(state), window, taskText, size);
}

function taskText(task: TaskView): string {
  return `${task.taskId} ${task.type} ${task.state} ${task.agentId ?? ''}`;
}

export const TASK_COLUMNS = ['TASK', 'TYPE', 'STATE', 'AGENT', 'TRY', 'AGE', 'PROGRESS'];

export function taskCells(task: TaskView, now: number): string[] {
  // What matters most about the task now: why it died or is retried, else its last progress.
  const percent = task.progress?.percent;
  const progress = task.progress
    ? `${percent === undefined ? '' : `${Math.round(percent)}% `}${task.progress.message}`
    : '';
  const latest =
    (task.state === 'dead' || task.state === 'queued') && task.lastError
      ? task.lastError
      : progress;
  return [
    task.taskId,
    task.type,
    task.state,
    task.agentId ?? '-',
    task.attempt ? String(task.attempt) : '-',
    formatAge(now - task.createdAt),
    latest,
  ];
}

/** Live agents by id, then those that left. */
export function selectAgents(state: DashboardState, window: Window): Rows<AgentView> {
  const agents = [...state.agents.values()].sort(
    (a, b) =>
      Number(a.state === 'gone') - Number(b.state === 'gone') || a.agentId.localeCompare(b.agentId),
  );
  return take(agents, window, agentText, agents.length);
}

function agentText(agent: AgentView): string {
  return `${agent.agentId} ${agent.role} ${agent.state} ${agent.running.join(' ')}`;
}

export const AGENT_COLUMNS = [
  'AGENT',
  'ROLE',
  'STATE',
  'TASK',
  'BEAT',
  'MEM',
  'SANDBOX',
  'TOKENS',
  'COST',
];

export function agentCells(agent: AgentView, now: number): string[] {
  const [first, ...more] = agent.running;
  return [
    agent.agentId,
    agent.role,
    agent.state,
    first ? `${first}${more.length ? ` +${more.length}` : ''}` : '-',
    agent.lastHeartbeatAt === null ? '-' : `${formatAge(now - agent.lastHeartbeatAt)} ago`,
    agent.rssBytes === null ? '-' : formatBytes(agent.rssBytes),
    sandboxCell(agent.sandbox),
    agent.usage ? formatCount(totalTokens(agent.usage)) : '-',
    agent.usage ? `$${agent.usage.cost_usd.toFixed(3)}` : '-',
  ];
}

export function selectApprovals(state: DashboardState): ApprovalView[] {
  return [...state.approvals.values()];
}

export function approvalCells(approval: ApprovalView, now: number): string[] {
  const left = approval.deadline - now;
  return [
    approval.approvalId,
    approval.agentId,
    approval.command,
    `rule "${approval.rule}"`,
    left > 0 ? `${formatMs(left)} left` : 'expired',
  ];
}

/** The newest `limit` feed lines that match, oldest of them first (a log reads downwards). */
export function selectFeed(state: DashboardState, window: Window): FeedLine[] {
  const filter = (window.filter ?? '').toLowerCase();
  const lines: FeedLine[] = [];
  for (const line of state.feed.newestFirst()) {
    if (lines.length >= window.limit) break;
    if (filter && !`${line.topic} ${line.agent} ${line.text}`.toLowerCase().includes(filter)) {
      continue;
    }
    lines.push(line);
  }
  return lines.reverse();
}

export function feedText(line: FeedLine): string {
  return `${clock(line.at)} ${line.topic.padEnd(16)} ${line.agent.padEnd(16)} ${line.text}`;
}

export interface Counters {
  agents: number;
  busy: number;
  queued: number;
  blocked: number;
  running: number;
  done: number;
  failed: number;
  dead: number;
  perMinute: number;
  approvals: number;
}

export function selectCounters(state: DashboardState): Counters {
  let agents = 0;
  let busy = 0;
  for (const agent of state.agents.values()) {
    if (agent.state !== 'gone') agents += 1;
    if (agent.state === 'busy') busy += 1;
  }
  return {
    agents,
    busy,
    queued: state.byState.queued.size,
    blocked: state.byState.blocked.size,
    running: state.byState.running.size + state.byState.assigned.size,
    done: state.counters.complete,
    failed: state.counters.failed,
    dead: state.counters.dead,
    perMinute: tasksPerMinute(state),
    approvals: state.approvals.size,
  };
}
