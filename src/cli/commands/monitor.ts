import type { Command } from 'commander';
import { lazyAction } from './lazy-action.js';
import { addSwarmOptions } from './options.js';

export function defineMonitorCommand(program: Command): void {
  addSwarmOptions(
    program
      .command('monitor')
      .description('a live dashboard of the swarm: agents, tasks, approvals, events')
      .addHelpText(
        'after',
        `
Keys: q or Ctrl-C quit · tab next pane · up/down select · enter a task's detail
      a approve / d deny the selected approval · / filter every pane · esc clear

Starts from the hub's view (sheri tasks, sheri agents), then follows <swarm>/# live; without a
hub it says so and follows the bus alone. In a pipe or a log, use sheri trace instead.`,
      ),
  ).action(lazyAction(async () => (await import('../monitor.js')).runMonitor));
}
