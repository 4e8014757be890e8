import type { KnownEvent } from './bus-event.js';
import type { AgentView, AgentViewState, DashboardState } from './view-model.js';

/** The agent as the dashboard knows it, created on first sight (it may predate the dashboard). */
export function touchAgent(state: DashboardState, agentId: string, at: number): AgentView {
  let agent = state.agents.get(agentId);
  if (!agent) {
    agent = {
      agentId,
      role: '?',
      state: 'idle',
      running: [],
      free: null,
      concurrency: null,
      lastHeartbeatAt: null,
      lastSeenAt: at,
      rssBytes: null,
      usage: null,
      sandbox: null,
    };
    state.agents.set(agentId, agent);
  } else if (agent.state === 'gone') {
    // Back after its Last Will (PROTOCOL §4.3): the hub keeps its tasks, so do we.
    agent.state = 'idle';
  }
  agent.lastSeenAt = Math.max(agent.lastSeenAt, at);
  return agent;
}

function busyOrIdle(agent: AgentView, draining = agent.state === 'draining'): AgentViewState {
  if (draining) return 'draining';
  return agent.running.length > 0 ? 'busy' : 'idle';
}

/** Mark an agent gone (goodbye or Last Will), keeping only the newest `limits.goneAgents`. */
export function markGone(state: DashboardState, agentId: string, at: number): void {
  const agent = state.agents.get(agentId);
  if (!agent || agent.state === 'gone') return;
  agent.state = 'gone';
  agent.running = [];
  agent.lastSeenAt = Math.max(agent.lastSeenAt, at);
  state.gone.push(agentId);
  while (state.gone.size > state.limits.goneAgents) {
    const oldest = state.gone.shift()!;
    if (state.agents.get(oldest)?.state === 'gone') state.agents.delete(oldest);
  }
}

/** Presence, capacity, heartbeats, approvals. Returns false for a message of another kind. */
export function applyAgentMessage(state: DashboardState, event: KnownEvent, at: number): boolean {
  switch (event.kind) {
    case 'agents/register': {
      const agent = touchAgent(state, event.envelope.agent_id, at);
      agent.role = event.payload.role;
      agent.concurrency = event.payload.concurrency;
      agent.sandbox = event.payload.sandbox ?? agent.sandbox;
      agent.state = busyOrIdle(agent, false);
      return true;
    }
    case 'agents/heartbeat': {
      const beat = event.payload;
      const agent = touchAgent(state, event.envelope.agent_id, at);
      agent.role = beat.role;
      agent.lastHeartbeatAt = at;
      agent.rssBytes = beat.memory.rss;
      agent.free = beat.free;
      agent.running = beat.running.map((ref) => ref.task_id);
      agent.usage = beat.usage ?? agent.usage;
      agent.sandbox = beat.sandbox ?? agent.sandbox;
      agent.state = busyOrIdle(agent, beat.status === 'draining');
      return true;
    }
    case 'tasks/claim': {
      const agent = touchAgent(state, event.envelope.agent_id, at);
      if (event.envelope.role) agent.role = event.envelope.role;
      agent.free = event.payload.free;
      agent.running = event.payload.running.map((ref) => ref.task_id);
      agent.state = busyOrIdle(agent);
      return true;
    }
    case 'agents/status': {
      const agent = touchAgent(state, event.subject!, at);
      agent.role = event.payload.role;
      agent.state = busyOrIdle(agent, event.payload.state === 'draining');
      return true;
    }
    case 'agents/shutdown':
      markGone(state, event.envelope.agent_id, at);
      return true;
    case 'approvals/request':
    case 'approvals/pending': {
      const ask = event.payload;
      // A retained request of an agent that died before clearing it: its deadline has passed.
      if (Date.parse(ask.deadline) < at) return true;
      state.approvals.set(ask.approval_id, {
        approvalId: ask.approval_id,
        taskId: ask.task_id,
        attempt: ask.attempt,
        agentId: event.envelope.agent_id,
        command: ask.command,
        rule: ask.rule,
        reason: ask.reason,
        deadline: Date.parse(ask.deadline),
        askedAt: at,
      });
      return true;
    }
    case 'approvals/decision':
      // PROTOCOL §13: the first decision wins; later ones find nothing left to remove.
      state.approvals.delete(event.subject ?? event.payload.approval_id);
      return true;
    case 'hub/status':
      state.hub.status = event.payload.state;
      state.hub.reason = event.payload.reason ?? null;
      return true;
    default:
      return false;
  }
}
