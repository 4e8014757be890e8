import type { HubQuery, HubReply } from '../protocol/messages.js';
import type {
  AgentList,
  AgentSummary,
  TaskDetail,
  TaskList,
  TaskSummary,
} from '../protocol/hub-replies.js';
import type { AgentRegistry } from './agent-registry.js';
import type { BudgetStatus } from './budget.js';
import type { LedgerStore } from './ledger-store.js';
import type { LiveTasks } from './live-tasks.js';
import { SUMMARY_ERROR_CHARS } from '../protocol/limits.js';
import { clip } from '../util/text.js';
import { TASK_STATES, type TaskRecord, type TaskState } from './task-record.js';

export type { AgentSummary, TaskSummary } from '../protocol/hub-replies.js';

/**
 * A task as lists show it; its error cut to SUMMARY_ERROR_CHARS (an agent's may be 100,000
 * characters, and 10,000 of them would make a reply of a gigabyte).
 */
function summarize(task: TaskRecord, errorChars = SUMMARY_ERROR_CHARS): TaskSummary {
  return {
    task_id: task.taskId,
    type: task.type,
    priority: task.priority,
    state: task.state,
    agent_id: task.agentId,
    attempt: task.attempt,
    failures: task.failures,
    parent_task_id: task.parentTaskId,
    created_at: new Date(task.createdAt).toISOString(),
    updated_at: new Date(task.updatedAt).toISOString(),
    last_error: task.lastError === null ? null : clip(task.lastError, errorChars),
  };
}

/** Answer `sheri tasks`, `sheri task show` and `sheri agents` from the hub's own state. */
export function answerQuery(
  query: HubQuery,
  ledger: LedgerStore,
  registry: AgentRegistry,
  /** What the hub holds in memory: which agent runs what. */
  scheduler: { live: LiveTasks },
  now: number,
  /** The swarm budget, where one is configured (PROTOCOL §14.5). */
  budget?: BudgetStatus,
): HubReply {
  const reply = (data: unknown): HubReply => ({ query_id: query.query_id, ok: true, data });
  const fail = (error: string): HubReply => ({ query_id: query.query_id, ok: false, error });
  switch (query.kind) {
    case 'tasks': {
      if (query.state && !TASK_STATES.includes(query.state as TaskState)) {
        return fail(`unknown state "${query.state}"; states are ${TASK_STATES.join(', ')}`);
      }
      const filter = { limit: query.limit ?? 1000, ...(query.state ? { state: query.state } : {}) };
      const list: TaskList = {
        counts: ledger.counts(),
        tasks: ledger.list(filter).map((task) => summarize(task)),
      };
      return reply(list);
    }
    case 'task': {
      if (!query.task_id) return fail('a task query needs task_id');
      const task = ledger.get(query.task_id);
      if (!task) return fail(`no task "${query.task_id}" in the ledger`);
      const detail: TaskDetail = {
        ...summarize(task, Infinity),
        spec: task.spec,
        max_attempts: task.maxAttempts,
        submitted_by: task.submittedBy,
        result: task.result ?? null,
        needs: ledger
          .needsOf(task.taskId)
          .map((need) => ({ task_id: need.taskId, state: need.state })),
        children: ledger.childrenOf(task.taskId).map((task) => summarize(task)),
        history: ledger.history(task.taskId).map((event) => ({
          at: new Date(event.at).toISOString(),
          kind: event.kind,
          agent_id: event.agentId,
          attempt: event.attempt,
          detail: event.detail,
        })),
      };
      return reply(detail);
    }
    case 'agents': {
      const agents: AgentSummary[] = registry
        .all()
        .filter((agent) => agent.state !== 'gone')
        .map((agent) => {
          const running = [...scheduler.live.heldBy(agent.agentId)];
          const idle = agent.state === 'online' ? 'idle' : agent.state;
          return {
            agent_id: agent.agentId,
            role: agent.role,
            state: running.length > 0 ? 'busy' : idle,
            running,
            free: agent.free,
            last_heartbeat: agent.lastHeartbeatAt
              ? new Date(agent.lastHeartbeatAt).toISOString()
              : null,
            last_seen: new Date(agent.lastSeenAt).toISOString(),
            uptime_s: agent.uptimeS,
            rss_bytes: agent.memory?.rss ?? null,
            usage: agent.usage,
            sandbox: agent.sandbox,
          };
        })
        .sort((a, b) => a.agent_id.localeCompare(b.agent_id));
      const list: AgentList = {
        now: new Date(now).toISOString(),
        agents,
        ...(budget ? { budget } : {}),
      };
      return reply(list);
    }
    case 'prune':
      // A change, not a question: the hub's handlers do it (hub-handlers.ts prune).
      return fail('prune is handled by the hub, not answered from its state');
    case 'approvals':
      // The approval desk's, not the ledger's: the hub's handlers answer it.
      return fail('approvals are answered by the hub from its approval desk');
    case 'cancel_flow':
    case 'unschedule':
      // A change, not a question: the hub's handlers do it (hub-handlers.ts).
      return fail(`${query.kind} is handled by the hub, not answered from its state`);
    case 'flows':
    case 'flow':
    case 'schedules':
      // PROTOCOL §17: answered by the flow desk (flow-queries.ts).
      return fail(`${query.kind} is answered by the hub's flow desk`);
  }
}
