import type { Command } from 'commander';
import { lazyAction } from './lazy-action.js';
import { MAX_LISTED_TASKS } from '../../protocol/limits.js';
import { addSwarmOptions, parseDuration, parseIntInRange } from './options.js';

export function defineQueryCommands(program: Command, task: Command): void {
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
  ).action(lazyAction(async () => (await import('../queries.js')).pruneTasks));
  addSwarmOptions(
    tasks
      .description("list tasks from the hub's ledger, newest first")
      .option(
        '--state <state>',
        'only tasks in this state: blocked, queued, assigned, complete, dead',
      )
      .option(
        '--limit <n>',
        `at most this many (1 to ${MAX_LISTED_TASKS})`,
        parseIntInRange('--limit', 1, MAX_LISTED_TASKS),
        50,
      )
      .option('--json', 'print JSON'),
  ).action(lazyAction(async () => (await import('../queries.js')).listTasks));

  addSwarmOptions(
    task
      .command('show')
      .description("one task's spec, state, result and full history")
      .argument('<task-id>', 'the task id')
      .option('--json', 'print JSON'),
  ).action(lazyAction(async () => (await import('../queries.js')).showTask));

  addSwarmOptions(
    program
      .command('agents')
      .description('live agents: role, state, running tasks, last heartbeat')
      .option('--json', 'print JSON'),
  ).action(lazyAction(async () => (await import('../queries.js')).listAgents));
}
