import type { Command } from 'commander';
import { DEFAULT_AGENTS, MAX_PANES_PER_WINDOW, ORIGIN_ROLES } from '../../tmux/layout.js';
import { lazyAction } from './lazy-action.js';
import { addSwarmOptions, parsePositiveInt } from './options.js';

function addSessionOptions(command: Command): Command {
  return command
    .option('--session <name>', 'tmux session name (default sheri-<swarm>)')
    .option(
      '--tmux-socket <name>',
      'use the tmux server on this socket name, as tmux -L (env SHERI_TMUX_SOCKET)',
    );
}

export function defineSwarmCommands(program: Command): void {
  const swarm = program
    .command('swarm')
    .description('watch many agents at once in tmux (viewing only: all control goes over the bus)');

  addSwarmOptions(
    addSessionOptions(
      swarm
        .command('tmux')
        .description('start N agents tiled in a tmux session, plus the dashboard')
        .option('--agents <n>', 'how many agents', parsePositiveInt('--agents'), DEFAULT_AGENTS)
        .option('--roles <list>', `roles cycled over the panes (default ${ORIGIN_ROLES.join(',')})`)
        .option('--no-attach', 'start the session and return (for scripts)')
        .option('--no-monitor', 'no dashboard window')
        .option('--workspace <dir>', 'directory tasks run in (default: the current directory)')
        .option('--wait <seconds>', 'time agents get to register', parsePositiveInt('--wait'), 60)
        .option(
          '--per-window <n>',
          'most agent panes in one window; more agents get more windows',
          parsePositiveInt('--per-window'),
          MAX_PANES_PER_WINDOW,
        )
        .option('--json', 'print the session, panes and agent ids as JSON'),
    ).addHelpText(
      'after',
      `
Each pane runs one \`sheri agent\` (3×3 for 9, 4×4 for 16, 5×5 for 25; past --per-window, more
windows: agents-1, agents-2, …). A window "monitor" runs \`sheri monitor\`. With no broker at
--broker, \`sheri up\` (broker and hub) starts first in a window "up". The command returns once
every agent has registered on the bus, then attaches (or switches, inside tmux).

Examples:
  sheri swarm tmux                                  the origin's nine agents
  sheri swarm tmux --agents 16 --roles testing,review --swarm demo
  sheri swarm tmux --no-attach && sheri task submit --type testing.run --command "npm test" --wait
  scripts/start-swarm.sh --agents 4                 the same, from a shell script
  sheri swarm down                                  stop it all`,
    ),
  ).action(lazyAction(async () => (await import('../swarm-tmux.js')).handleSwarmTmux));

  addSessionOptions(
    swarm
      .command('down')
      .description('stop a tmux swarm: agents get SIGINT and hand their tasks back, then the rest')
      .option('--swarm <name>', 'swarm whose session to stop (env SHERI_SWARM or OPENCTO_SWARM)')
      .option('--json', 'print what was stopped as JSON'),
  )
    .addHelpText(
      'after',
      `
Examples:
  sheri swarm down
  sheri swarm down --session sheri-demo`,
    )
    .action(lazyAction(async () => (await import('../swarm.js')).stopSwarmSession));

  addSessionOptions(
    swarm
      .command('capture')
      .description('print a window of a tmux swarm as text: every pane at its place')
      .option('--swarm <name>', 'swarm whose session to capture (env SHERI_SWARM or OPENCTO_SWARM)')
      .option('--window <name>', 'window to capture (default: the first agents window)'),
  )
    .addHelpText(
      'after',
      `
Example:
  sheri swarm capture > swarm.txt`,
    )
    .action(lazyAction(async () => (await import('../swarm.js')).captureSwarm));
}
