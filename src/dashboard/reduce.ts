import type { AgentSummary, TaskSummary } from '../tasks/hub-queries.js';
import { applyAgentMessage, markGone, touchAgent } from './agent-reducer.js';
import type { BusEvent, EventKind } from './bus-event.js';
import { summarizeEvent } from './summarize.js';
import { addTask, applyTaskMessage, newTask } from './task-reducer.js';
import type { DashboardEvent, DashboardState } from './view-model.js';
import type { FlowUpdate } from '../protocol/flow-messages.js';

/** Too frequent to be news: heartbeats (every agent, every 10 s), claims, hub queries, receipts. */
const NOT_IN_FEED = new Set<BusEvent['kind'] | EventKind>([
  'agents/heartbeat',
  'tasks/claim',
  'hub/query',
  'hub/replies',
  // The retained twin of approvals/request (PROTOCOL §13), and its clearing.
  'approvals/pending',
  'approval-cleared',
  // Shown in the header; a new state after every priced result.
  'hub/budget',
  // The hub's receipt for every result (PROTOCOL §4.8): the result itself is the news.
  'tasks/settled',
]);

const MINUTE_MS = 60_000;

/**
 * The dashboard's reducer: fold one event into the state and return it (updated in place, see
 * `DashboardState`). Every message costs O(1) apart from the few small per-agent lists it touches.
 */
export function reduce(state: DashboardState, event: DashboardEvent): DashboardState {
  state.now = Math.max(state.now, event.at);
  state.version += 1;
  switch (event.kind) {
    case 'message':
      applyMessage(state, event.event, event.at);
      break;
    case 'snapshot':
      applySnapshot(state, event.tasks, event.counts, event.agents, event.at);
      state.budget = event.budget ?? state.budget;
      // Oldest first, so the newest stay when the bound drops some.
      for (const flow of [...(event.flows ?? [])].reverse()) {
        if (!state.flows.has(flow.flow_id)) keepFlow(state, flow);
      }
      break;
    case 'snapshot-failed':
      state.hub.snapshot = 'unavailable';
      state.hub.note = event.reason;
      state.feed.push({ at: event.at, topic: '-', agent: '-', text: event.reason, level: 'warn' });
      break;
    case 'broker':
      state.broker = event.connected ? 'connected' : 'disconnected';
      break;
    case 'note':
      state.feed.push({
        at: event.at,
        topic: '-',
        agent: 'you',
        text: event.text,
        level: event.level,
      });
      break;
    case 'tick':
      expire(state, event.at);
      break;
  }
  return state;
}

function applyMessage(state: DashboardState, event: BusEvent, at: number): void {
  let text: string | undefined;
  if (!NOT_IN_FEED.has(event.kind)) {
    const summary = summarizeEvent(event);
    text = summary.text;
    state.feed.push({ at, topic: event.local, agent: summary.agent, text, level: summary.level });
  }
  switch (event.kind) {
    case 'agent-cleared':
      markGone(state, event.agentId, at);
      return;
    case 'approval-cleared':
      state.approvals.delete(event.approvalId);
      return;
    case 'invalid':
      state.counters.invalid += 1;
      return;
    case 'other':
      return;
    case 'hub/budget':
      state.budget = event.payload;
      return;
    case 'flows/update':
      // Only the hub publishes here (the topic table); the bus checked what it could.
      keepFlow(state, event.payload);
      return;
    case 'flows/new':
      return;
  }
  if (applyAgentMessage(state, event, at)) return;
  const task = applyTaskMessage(state, event, at);
  if (task && text !== undefined) {
    task.history.push({ at, text });
    if (task.history.length > state.limits.historyPerTask) task.history.shift();
  }
}

/**
 * The hub's view at start (PROTOCOL §10). It comes first: the monitor holds live messages until
 * it is applied, then replays them, and moves count transitions only, so nothing counts twice.
 */
function applySnapshot(
  state: DashboardState,
  tasks: TaskSummary[],
  counts: Partial<Record<string, number>>,
  agents: AgentSummary[],
  at: number,
): void {
  state.hub.snapshot = 'loaded';
  state.counters.complete += counts.complete ?? 0;
  state.counters.dead += counts.dead ?? 0;
  // Newest first from the hub; inserted oldest first so the indexes keep age order.
  for (let i = tasks.length - 1; i >= 0; i--) {
    const summary = tasks[i]!;
    if (state.tasks.has(summary.task_id)) continue;
    addTask(
      state,
      newTask(summary.task_id, Date.parse(summary.created_at), {
        type: summary.type,
        priority: summary.priority,
        state: summary.state,
        agentId: summary.agent_id,
        attempt: summary.attempt,
        updatedAt: Date.parse(summary.updated_at),
        lastError: summary.last_error,
      }),
    );
  }
  for (const summary of agents) {
    const agent = touchAgent(state, summary.agent_id, at);
    agent.role = summary.role;
    agent.state =
      summary.state === 'draining' ? 'draining' : summary.state === 'busy' ? 'busy' : 'idle';
    agent.running = [...summary.running];
    agent.free = summary.free;
    agent.rssBytes = summary.rss_bytes;
    agent.usage = summary.usage ?? agent.usage;
    agent.sandbox = summary.sandbox ?? agent.sandbox;
    agent.lastHeartbeatAt = summary.last_heartbeat ? Date.parse(summary.last_heartbeat) : null;
  }
}

/** Once a second: approvals past their deadline (the agent denies them), the tasks/min window. */
function expire(state: DashboardState, now: number): void {
  for (const [id, approval] of state.approvals) {
    if (approval.deadline < now) state.approvals.delete(id);
  }
  while ((state.completions.peek() ?? Infinity) < now - MINUTE_MS) state.completions.shift();
}

/** The flow's latest description, newest last; past the bound the oldest finished one goes. */
function keepFlow(state: DashboardState, flow: FlowUpdate): void {
  state.flows.delete(flow.flow_id);
  state.flows.set(flow.flow_id, flow);
  while (state.flows.size > state.limits.flows) {
    const oldest =
      [...state.flows.values()].find((candidate) => candidate.state !== 'running') ??
      state.flows.values().next().value!;
    state.flows.delete(oldest.flow_id);
  }
}

/** Completions in the last minute (of those the dashboard saw live). */
export function tasksPerMinute(state: DashboardState): number {
  let count = 0;
  for (const at of state.completions.newestFirst()) {
    if (at < state.now - MINUTE_MS) break;
    count += 1;
  }
  return count;
}
