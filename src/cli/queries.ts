import { describeBudget } from '../dashboard/format.js';
import { sandboxCell } from '../dashboard/format.js';
import type { ReplyData } from '../protocol/hub-replies.js';
import type { HubQuery } from '../protocol/messages.js';
import { queryHub } from './hub-client.js';
import {
  ago,
  connectCli,
  makeConfig,
  makeLogger,
  printJson,
  printTable,
  printText,
  type GlobalFlags,
} from './common.js';

interface ListFlags extends GlobalFlags {
  state?: string;
  limit?: number;
}

async function ask<K extends HubQuery['kind']>(
  flags: GlobalFlags,
  query: Parameters<typeof queryHub<K>>[2],
): Promise<ReplyData<K>> {
  const config = makeConfig(flags);
  const bus = await connectCli(config, makeLogger(flags));
  try {
    return await queryHub(bus, config, query);
  } finally {
    await bus.close();
  }
}

/**
 * How the task stands against its retries. A task dead with failures to spare was not retried
 * (a failure retrying cannot mend, a denied approval, a dead need): "failures 0/3" would say the
 * opposite of what happened.
 */
function retries(task: { state: string; failures: number; max_attempts: number }): string {
  if (task.state === 'dead' && task.failures < task.max_attempts) return 'dead without retry';
  return `failures ${task.failures}/${task.max_attempts}`;
}

export async function pruneTasks(flags: GlobalFlags & { olderThan?: number }): Promise<void> {
  const data = await ask(flags, {
    kind: 'prune',
    ...(flags.olderThan !== undefined ? { older_than_ms: flags.olderThan } : {}),
  });
  if (flags.json) return printJson(data);
  printText(
    `pruned ${data.pruned} finished task(s) older than ${Math.round(data.older_than_ms / 3_600_000)} h\n`,
  );
}

export async function listTasks(flags: ListFlags): Promise<void> {
  const data = await ask(flags, {
    kind: 'tasks',
    ...(flags.limit === undefined ? {} : { limit: flags.limit }),
    ...(flags.state ? { state: flags.state } : {}),
  });
  if (flags.json) return printJson(data);
  const counts = Object.entries(data.counts)
    .map(([state, n]) => `${state} ${n}`)
    .join(' · ');
  printText(`${counts}\n\n`);
  printTable(
    ['TASK', 'TYPE', 'PRIORITY', 'STATE', 'AGENT', 'ATTEMPT', 'UPDATED'],
    data.tasks.map((t) => [
      t.task_id,
      t.type,
      t.priority,
      t.state,
      t.agent_id ?? '-',
      String(t.attempt),
      ago(t.updated_at),
    ]),
  );
}

export async function showTask(taskId: string, flags: GlobalFlags): Promise<void> {
  const data = await ask(flags, { kind: 'task', task_id: taskId });
  if (flags.json) return printJson(data);
  const lines = [
    `task      ${data.task_id}`,
    `type      ${data.type}   priority ${data.priority}`,
    `state     ${data.state}${data.agent_id ? ` (${data.agent_id})` : ''}   attempt ${data.attempt}   ${retries(data)}`,
    `submitted ${data.created_at} by ${data.submitted_by}`,
    ...(data.parent_task_id ? [`parent    ${data.parent_task_id}`] : []),
    ...(data.needs.length
      ? [
          `needs     ${data.needs.map((n) => `${n.task_id} (${n.state ?? 'not submitted'})`).join(', ')}`,
        ]
      : []),
    ...(data.children.length
      ? [`children  ${data.children.map((c) => `${c.task_id} (${c.state})`).join(', ')}`]
      : []),
    ...(data.last_error ? [`error     ${data.last_error}`] : []),
    '',
    'history:',
    ...data.history.map((event) => {
      const who = [event.agent_id, event.attempt ? `#${event.attempt}` : '']
        .filter(Boolean)
        .join(' ');
      const detail =
        event.detail && event.kind !== 'complete' ? ` ${JSON.stringify(event.detail)}` : '';
      return `  ${event.at}  ${event.kind.padEnd(13)} ${who}${detail}`.trimEnd();
    }),
  ];
  if (data.result !== null) lines.push('', 'result:', JSON.stringify(data.result, null, 2));
  printText(`${lines.join('\n')}\n`);
}

export async function listAgents(flags: GlobalFlags): Promise<void> {
  const data = await ask(flags, { kind: 'agents' });
  if (flags.json) return printJson(data);
  // PROTOCOL §14.5: where the hub enforces a swarm budget, say how much of it is left.
  if (data.budget) printText(`${describeBudget(data.budget)}\n\n`);
  if (data.agents.length === 0) {
    printText('no agents — start one with: sheri agent --role testing\n');
    return;
  }
  printTable(
    ['AGENT', 'ROLE', 'STATE', 'RUNNING', 'HEARTBEAT', 'MEMORY', 'SANDBOX', 'LLM'],
    data.agents.map((a) => [
      a.agent_id,
      a.role,
      a.state,
      a.running.join(',') || '-',
      ago(a.last_heartbeat),
      a.rss_bytes ? `${Math.round(a.rss_bytes / 1048576)} MiB` : '-',
      sandboxCell(a.sandbox),
      a.usage
        ? `${a.usage.input_tokens + a.usage.output_tokens} tok $${a.usage.cost_usd.toFixed(4)}`
        : '-',
    ]),
  );
}
