import type { Command } from 'commander';
import { lazyAction } from './lazy-action.js';
import { addSwarmOptions, parsePositiveInt } from './options.js';

// No default: commander would print it in --help as "(default: [])".
const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function defineTaskSubmit(task: Command): void {
  addSwarmOptions(
    task
      .command('submit')
      .description('publish a task on <swarm>/tasks/new; with --wait, follow it to its outcome')
      .requiredOption(
        '--type <type>',
        'task type, e.g. testing.run, deployment.deploy, code.review',
      )
      .option(
        '--command <cmd>',
        "shell command to run (repeat for several, run in order); or --prompt, or the type's runbook",
        collect,
      )
      .option('--prompt <text>', 'instructions for an LLM-driven agent (not with --command)')
      .option('--priority <p>', "low, normal (the origin's medium) or high", 'normal')
      .option('--payload <json>', 'free-form JSON inputs for the task', undefined)
      .option(
        '--needs <ids>',
        'comma-separated task ids that must complete first (the hub must know them)',
      )
      .option(
        '--allow-unknown-needs',
        'let --needs name tasks the hub has not recorded yet (submitted later, or on their way)',
      )
      .option('--task-id <id>', 'task id (default <type>-<random>)')
      .option('--idempotency-key <key>', 'resubmitting with the same key is a no-op')
      .option(
        '--max-attempts <n>',
        'failed attempts before the task is dead',
        parsePositiveInt('--max-attempts'),
      )
      .option('--timeout <ms>', 'hard limit of each command, in ms', parsePositiveInt('--timeout'))
      .option('--workspace <dir>', "sub-directory of the agent's workspace to run in")
      .option(
        '--wait',
        'stream progress and exit 0 when the task completes, 1 when it is dead (with the output of what failed)',
      )
      .option(
        '--wait-timeout <s>',
        'with --wait: give up after this many seconds (exit 3)',
        parsePositiveInt('--wait-timeout'),
      )
      .option(
        '--json',
        'print the task as JSON; with --wait its outcome: {task_id, state, attempt, result, error}',
      )
      .option('--no-hub-check', 'publish even if no hub has ever run on this swarm')
      .option(
        '--no-confirm',
        'without --wait: exit once the broker has the task ("published"), not waiting for the hub to say it recorded it',
      )
      .addHelpText(
        'after',
        `
Examples:
  sheri task submit --type testing.run --command "npm test" --wait
  sheri task submit --type deployment.deploy --priority high --command "npm run build" --command "npm run deploy"
  sheri task submit --type code.review --prompt "Review the last commit" --needs testing.run-1a2b3c`,
      ),
  ).action(lazyAction(async () => (await import('../task-submit.js')).submitTask));
}
