import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../config/load.js';
import { EXIT, SheriError } from '../errors.js';
import { knownRoles } from '../protocol/task-types.js';
import {
  DEFAULT_AGENTS,
  MAX_PANES_PER_WINDOW,
  ORIGIN_ROLES,
  defaultSessionName,
  parseRoleList,
  planAgentWindows,
} from '../tmux/layout.js';
import { Tmux } from '../tmux/tmux.js';
import {
  addSwarmOptions,
  makeConfig,
  parsePositiveInt,
  printJson,
  type GlobalFlags,
} from './common.js';

interface SessionFlags extends GlobalFlags {
  session?: string;
  tmuxSocket?: string;
}

export interface SwarmTmuxFlags extends SessionFlags {
  agents: number;
  roles?: string;
  attach: boolean;
  monitor: boolean;
  workspace?: string;
  dataDir?: string;
  wait: number;
  perWindow: number;
}

/** A detached session's size when there is no terminal to take it from. */
const DEFAULT_SIZE = { width: 200, height: 50 };

function addSessionOptions(command: Command): Command {
  return command
    .option('--session <name>', 'tmux session name (default sheri-<swarm>)')
    .option(
      '--tmux-socket <name>',
      'use the tmux server on this socket name, as tmux -L (env SHERI_TMUX_SOCKET)',
    );
}

export function registerSwarmCommands(program: Command): void {
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
  ).action(async (flags: SwarmTmuxFlags) => {
    const { handleSwarmTmux } = await import('./swarm-tmux.js');
    await handleSwarmTmux(flags);
  });

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
    .action(async (flags: SessionFlags) => {
      const { stopSwarm } = await import('../tmux/stop-swarm.js');
      const { tmux, session } = sessionOf(flags, makeConfig(flags));
      const report = await stopSwarm(tmux, session);
      if (flags.json) return printJson(report);
      const parts = [
        `${report.agents.length} agent${report.agents.length === 1 ? '' : 's'}${report.agents.length ? ` (${report.agents.join(', ')})` : ''}`,
        ...(report.monitor ? ['the monitor'] : []),
        ...(report.up ? ['sheri up (broker and hub)'] : []),
      ];
      const forced = report.killed.length
        ? `; killed ${report.killed.join(', ')}, which ignored SIGINT and SIGTERM`
        : '';
      process.stdout.write(
        `stopped ${parts.join(', ')}${forced}; closed tmux session ${session}\n`,
      );
    });

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
    .action(async (flags: SessionFlags & { window?: string }) => {
      const { captureWindow } = await import('../tmux/capture-window.js');
      const { tmux, session } = sessionOf(flags, makeConfig(flags));
      process.stdout.write(await captureWindow(tmux, session, flags.window));
    });
}

/** The tmux server and session a command means: flags, then environment, then the swarm name. */
export function sessionOf(flags: SessionFlags, config: Config): { tmux: Tmux; session: string } {
  const session = flags.session ?? defaultSessionName(config.swarm);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(session)) {
    throw new SheriError(
      `--session "${session}" must be 1-64 letters, digits, "_" or "-" (tmux reserves "." and ":")`,
      EXIT.usage,
    );
  }
  const socket = flags.tmuxSocket ?? config.environment.SHERI_TMUX_SOCKET;
  return { tmux: new Tmux(socket || undefined), session };
}

/** Checked before anything starts: roles the swarm knows, and a plan with at least one pane. */
export function checkRoles(flags: SwarmTmuxFlags, config: Config): string[] {
  if (flags.agents < 1) throw new SheriError('--agents must be at least 1', EXIT.usage);
  if (flags.perWindow < 1) throw new SheriError('--per-window must be at least 1', EXIT.usage);
  const roles = flags.roles === undefined ? [...ORIGIN_ROLES] : parseRoleList(flags.roles);
  const known = knownRoles(config.taskTypes);
  const unknown = roles.filter((role) => !known.includes(role));
  if (roles.length === 0 || unknown.length > 0) {
    throw new SheriError(
      `--roles: ${roles.length === 0 ? 'no role given' : `unknown role "${unknown[0]}"`}; roles are ${known.join(', ')}`,
      EXIT.usage,
    );
  }
  planAgentWindows(flags.agents, roles, flags.perWindow);
  return roles;
}

export function windowSize(): { width: number; height: number } {
  const { columns, rows } = process.stdout;
  return process.stdout.isTTY && columns && rows ? { width: columns, height: rows } : DEFAULT_SIZE;
}

export function resolveIf(path: string | undefined): string | undefined {
  return path === undefined ? undefined : resolve(path);
}
