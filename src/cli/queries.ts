import type { Command } from 'commander';
import { SheriError } from '../errors.js';
import { describeBudget } from '../dashboard/format.js';
import { sandboxCell } from '../dashboard/format.js';
import type { ReplyData } from '../protocol/hub-replies.js';
import type { HubQuery } from '../protocol/messages.js';
import { queryHub } from './hub-client.js';
import {
  addSwarmOptions,
  ago,
  connectCli,
  makeConfig,
  makeLogger,
  parsePositiveInt,
  printJson,
  printTable,
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

/** "7d", "12h", "30m", "45s" or milliseconds → milliseconds. */
export function parseDuration(name: string) {
  return (value: string): number => {
    const match = /^(\d+)(ms|s|m|h|d)?$/.exec(value.trim());
    if (!match) {
      throw new SheriError(
        `${name} must be a duration like 7d, 12h, 30m, 45s or 5000 (ms), got "${value}"`,
      );
    }
    const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? 'ms']!;
    return Number(match[1]) * unit;
  };
}

export function registerQueryCommands(program: Command, task: Command): void {
  const tasks = program.command('tasks');
  addSwarmOptions(
    tasks
      .command('prune')
      .description(
        'delete finished tasks (complete, dead) older than --older-than from the ledger (PROTOCOL §15.5)',
      )
      .option(
        '--older-than <duration>',
        'e.g. 7d, 12h, 30m (default: retention.finishedMaxAgeMs of the hub, 7 days)',
        parseDuration('--older-than'),
      )
      .option('--json', 'print JSON'),
  ).action(async (flags: GlobalFlags & { olderThan?: number }) => {
    const data = await ask(flags, {
      kind: 'prune',
      ...(flags.olderThan !== undefined ? { older_than_ms: flags.olderThan } : {}),
    });
    if (flags.json) return printJson(data);
    process.stdout.write(
      `pruned ${data.pruned} finished task(s) older than ${Math.round(data.older_than_ms / 3_600_000)} h\n`,
    );
  });
  addSwarmOptions(
    tasks
      .description("list tasks from the hub's ledger, newest first")
      .option(
        '--state <state>',
        'only tasks in this state: blocked, queued, assigned, complete, dead',
      )
      .option('--limit <n>', 'at most this many', parsePositiveInt('--limit'), 50)
      .option('--json', 'print JSON'),
  ).action(async (flags: ListFlags) => {
    const data = await ask(flags, {
      kind: 'tasks',
      ...(flags.limit === undefined ? {} : { limit: flags.limit }),
      ...(flags.state ? { state: flags.state } : {}),
    });
    if (flags.json) return printJson(data);
    const counts = Object.entries(data.counts)
      .map(([state, n]) => `${state} ${n}`)
      .join(' · ');
    process.stdout.write(`${counts}\n\n`);
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
  });

  addSwarmOptions(
    task
      .command('show')
      .description("one task's spec, state, result and full history")
      .argument('<task-id>', 'the task id')
      .option('--json', 'print JSON'),
  ).action(async (taskId: string, flags: GlobalFlags) => {
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
    process.stdout.write(`${lines.join('\n')}\n`);
  });

  addSwarmOptions(
    program
      .command('agents')
      .description('live agents: role, state, running tasks, last heartbeat')
      .option('--json', 'print JSON'),
  ).action(async (flags: GlobalFlags) => {
    const data = await ask(flags, { kind: 'agents' });
    if (flags.json) return printJson(data);
    // PROTOCOL §14.5: where the hub enforces a swarm budget, say how much of it is left.
    if (data.budget) process.stdout.write(`${describeBudget(data.budget)}\n\n`);
    if (data.agents.length === 0) {
      process.stdout.write('no agents — start one with: sheri agent --role testing\n');
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
  });
}
