import type { Command } from 'commander';
import { lazyAction } from './lazy-action.js';
import { addSwarmOptions, parsePositiveInt } from './options.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function defineFlowCommands(program: Command): void {
  const flow = program
    .command('flow')
    .description('run, follow and cancel flows: files of steps across roles');
  addSwarmOptions(
    flow
      .command('run')
      .description('submit a flow file; with --wait, follow its steps to the end')
      .argument('<file>', 'flow file (YAML or JSON), e.g. examples/deploy-flow.yaml')
      .option(
        '--var <name=value>',
        'a variable the flow declares (repeat for several)',
        collect,
        [],
      )
      .option(
        '--wait',
        'show the steps live and exit 0 only if the flow succeeded (1 failed, 2 refused)',
      )
      .option(
        '--wait-timeout <s>',
        'with --wait: give up after this many seconds (exit 3)',
        parsePositiveInt('--wait-timeout'),
      )
      .option('--json', 'print the flow (with --wait, its final record) as JSON')
      .option('--no-hub-check', 'publish even if no hub has ever run on this swarm'),
  )
    .addHelpText(
      'after',
      `
The file is checked before anything is sent: a YAML error, an unknown key, type or step, a
cycle, an undeclared variable or a \${{ … }} inside quotes is refused with its line.

Examples:
  sheri flow run examples/deploy-flow.yaml --var version=1.2.0 --wait
  sheri flow run nightly.yaml            a file with "schedule:" registers a recurring flow`,
    )
    .action(lazyAction(async () => (await import('../flow.js')).runFlowCommand));

  addSwarmOptions(
    flow
      .command('show')
      .description("a flow's steps: state, agent, time, outputs, and what failed")
      .argument('<flow-id>', 'the flow id (sheri flows lists them)')
      .option('--json', 'print JSON'),
  ).action(lazyAction(async () => (await import('../flow.js')).showFlow));

  addSwarmOptions(
    flow
      .command('cancel')
      .description(
        'cancel a running flow: its queued steps end, its running ones are stopped on their agents',
      )
      .argument('<flow-id>', 'the flow id')
      .option('--reason <text>', 'recorded with the cancel')
      .option('--json', 'print JSON'),
  ).action(lazyAction(async () => (await import('../flow.js')).cancelFlow));

  addSwarmOptions(
    program
      .command('flows')
      .description("flows in the hub's ledger, newest first")
      .option('--state <state>', 'only flows in this state: running, succeeded, failed, canceled')
      .option('--limit <n>', 'at most this many', parsePositiveInt('--limit'), 20)
      .option('--json', 'print JSON'),
  ).action(lazyAction(async () => (await import('../flow.js')).listFlows));

  addSwarmOptions(
    program
      .command('schedules')
      .description('recurring tasks and flows the hub runs, with their next run')
      .option('--json', 'print JSON'),
  )
    .addHelpText(
      'after',
      `
Schedules come from "schedules" in the hub's sheri.config.json, or from a flow file with a
"schedule:" (sheri flow run FILE). One run per slot, even across a hub restart; slots missed
while the hub was down run once (the latest) with missed: latest, or not at all with skip.`,
    )
    .action(lazyAction(async () => (await import('../flow.js')).listSchedules));

  addSwarmOptions(
    program
      .command('schedule')
      .description('manage recurring flows registered from flow files')
      .command('remove')
      .description(
        'remove a schedule a flow file registered (config schedules are removed from the config)',
      )
      .argument('<name>', 'the schedule'),
  ).action(lazyAction(async () => (await import('../flow.js')).removeSchedule));
}
