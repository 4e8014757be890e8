import { encodeMessage } from '../../src/protocol/codec.js';
import { decodeBusEvent } from '../../src/dashboard/bus-event.js';
import type { DashboardEvent } from '../../src/dashboard/view-model.js';

/** A message as the dashboard receives it: enveloped, encoded, then decoded from bytes. */
export function message(
  local: string,
  payload: unknown,
  at: number,
  sender = 'hub',
  role = sender === 'hub' ? 'hub' : 'testing',
): DashboardEvent {
  const bytes = Buffer.from(encodeMessage({ agentId: sender, role }, payload));
  return { kind: 'message', at, event: decodeBusEvent(local, bytes) };
}

export function raw(local: string, bytes: string, at: number): DashboardEvent {
  return { kind: 'message', at, event: decodeBusEvent(local, Buffer.from(bytes)) };
}

/** The messages of one task's life on one agent, the way a swarm sends them. */
export function taskLife(
  taskId: string,
  agentId: string,
  at: number,
  options: { type?: string; attempt?: number } = {},
): {
  submitted: DashboardEvent;
  assigned: DashboardEvent;
  progress: DashboardEvent;
  complete: DashboardEvent;
} {
  const type = options.type ?? 'testing.run';
  const attempt = options.attempt ?? 1;
  const spec = { task_id: taskId, type, payload: {}, commands: ['echo hi'] };
  return {
    submitted: message('tasks/new', spec, at, 'cli-000001', 'cli'),
    assigned: message(
      `tasks/assigned/${agentId}`,
      {
        task_id: taskId,
        agent_id: agentId,
        attempt,
        lease_ms: 30_000,
        lease_expires_at: new Date(at + 30_000).toISOString(),
        task: spec,
        inputs: {},
      },
      at + 1,
    ),
    progress: message(
      'tasks/progress',
      { task_id: taskId, attempt, message: 'running 1/1: echo hi', percent: 0 },
      at + 2,
      agentId,
    ),
    complete: message(
      'tasks/complete',
      { task_id: taskId, attempt, duration_ms: 5, result: { commands: [{ exit_code: 0 }] } },
      at + 3,
      agentId,
    ),
  };
}

export function heartbeat(
  agentId: string,
  at: number,
  extra: {
    running?: { task_id: string; attempt: number }[];
    usage?: unknown;
    role?: string;
    sandbox?: unknown;
  } = {},
): DashboardEvent {
  return message(
    'agents/heartbeat',
    {
      status: 'alive',
      uptime: 12,
      memory: { rss: 94 * 1048576, heapTotal: 1, heapUsed: 1 },
      role: extra.role ?? 'testing',
      running: extra.running ?? [],
      free: extra.running?.length ? 0 : 1,
      ...(extra.usage ? { usage: extra.usage } : {}),
      ...(extra.sandbox ? { sandbox: extra.sandbox } : {}),
    },
    at,
    agentId,
    extra.role ?? 'testing',
  );
}
