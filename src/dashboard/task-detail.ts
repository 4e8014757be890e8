import { clock, formatMs } from './format.js';
import type { DashboardState } from './view-model.js';

/** What `sheri task show` returns, as far as the detail view uses it (PROTOCOL §10). */
export interface HubTaskDetail {
  failures?: number;
  max_attempts?: number;
  submitted_by?: string;
  history?: { at: string; kind: string; agent_id: string | null; attempt: number | null }[];
  result?: unknown;
  spec?: { commands?: string[]; prompt?: string };
  last_error?: string | null;
}

const MAX_LINE = 400;

/**
 * One task's detail: what the dashboard saw, then, once the hub has answered, its full history
 * from the ledger (the dashboard keeps only the last few events of each task).
 */
export function taskDetailLines(
  state: DashboardState,
  taskId: string,
  hub?: HubTaskDetail | string,
): string[] {
  const task = state.tasks.get(taskId);
  if (!task) return [`task ${taskId}: no longer in view (finished long ago, or never seen)`];
  const lines = [
    `task      ${task.taskId}`,
    `type      ${task.type}   priority ${task.priority}`,
    `state     ${task.state}${task.agentId ? ` on ${task.agentId}` : ''}   attempt ${task.attempt || '-'}`,
    `age       ${formatMs(Math.max(0, state.now - task.createdAt))}   updated ${formatMs(Math.max(0, state.now - task.updatedAt))} ago`,
  ];
  if (task.needs.length) lines.push(`needs     ${task.needs.join(', ')}`);
  if (task.work) lines.push(`runs      ${cut(task.work)}`);
  if (task.progress) lines.push(`progress  ${cut(task.progress.message)}`);
  if (task.lastError) lines.push(`error     ${cut(task.lastError)}`);
  const approvals = [...state.approvals.values()].filter((a) => a.taskId === taskId);
  for (const approval of approvals) {
    lines.push(
      `approval  ${approval.approvalId}: \`${cut(approval.command)}\` (a approve, d deny)`,
    );
  }
  lines.push('', 'seen on the bus:');
  for (const event of task.history) lines.push(`  ${clock(event.at)}  ${cut(event.text)}`);
  if (task.history.length === 0) lines.push('  (nothing since the dashboard started)');
  lines.push('');
  if (hub === undefined) {
    lines.push('history from the hub: asking...');
  } else if (typeof hub === 'string') {
    lines.push(`history from the hub: ${hub}`);
  } else {
    const failures = hub.max_attempts ? `   failures ${hub.failures ?? 0}/${hub.max_attempts}` : '';
    const work = hub.spec?.prompt ?? hub.spec?.commands?.join(' && ');
    if (work && !task.work) lines.push(`runs      ${cut(work)}`);
    if (hub.last_error && !task.lastError) lines.push(`error     ${cut(hub.last_error)}`);
    lines.push(`history from the hub (submitted by ${hub.submitted_by ?? '?'})${failures}:`);
    for (const event of hub.history ?? []) {
      const who = [event.agent_id, event.attempt ? `#${event.attempt}` : ''].filter(Boolean);
      lines.push(`  ${clock(Date.parse(event.at))}  ${event.kind.padEnd(13)} ${who.join(' ')}`);
    }
    if (hub.result !== undefined && hub.result !== null) {
      lines.push('', 'result:', ...JSON.stringify(hub.result, null, 2).split('\n').slice(0, 60));
    }
  }
  return lines;
}

function cut(text: string): string {
  const flat = text.replace(/\s*\n\s*/g, ' | ');
  return flat.length > MAX_LINE ? `${flat.slice(0, MAX_LINE - 3)}...` : flat;
}
