import type { Command } from 'commander';
import { lazyAction } from './lazy-action.js';
import { addLogOptions } from './options.js';

function addConfigOption(command: Command): Command {
  return addLogOptions(
    command
      .option('--config <file>', 'config file (env SHERI_CONFIG; default ./sheri.config.json)')
      .option('--json', 'print JSON'),
  );
}

/** `sheri types` and `sheri roles` (SPEC §2): the task-type table as this machine's config makes it. */
export function defineTypeCommands(program: Command): void {
  addConfigOption(
    program
      .command('types')
      .description(
        'task types: the roles that may run each, and the runbook it runs without commands',
      ),
  ).action(lazyAction(async () => (await import('../task-types.js')).printTypes));

  addConfigOption(
    program
      .command('roles')
      .description('agent roles: the task types each runs, and what its commands may touch'),
  ).action(lazyAction(async () => (await import('../task-types.js')).printRoles));
}
