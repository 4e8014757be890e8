import { resolve } from 'node:path';
import type { Config } from '../config/load.js';
import { EXIT, SheriError } from '../errors.js';
import { knownRoles } from '../protocol/task-types.js';
import {
  ORIGIN_ROLES,
  defaultSessionName,
  parseRoleList,
  planAgentWindows,
} from '../tmux/layout.js';
import { Tmux } from '../tmux/tmux.js';
import { makeConfig, printJson, printText, type GlobalFlags } from './common.js';

export interface SessionFlags extends GlobalFlags {
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

/** `sheri swarm down`. */
export async function stopSwarmSession(flags: SessionFlags): Promise<void> {
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
  printText(`stopped ${parts.join(', ')}${forced}; closed tmux session ${session}\n`);
}

/** `sheri swarm capture`. */
export async function captureSwarm(flags: SessionFlags & { window?: string }): Promise<void> {
  const { captureWindow } = await import('../tmux/capture-window.js');
  const { tmux, session } = sessionOf(flags, makeConfig(flags));
  printText(await captureWindow(tmux, session, flags.window));
}
