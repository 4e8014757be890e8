import { shortId } from '../cli/common.js';
import type { Config } from '../config/load.js';
import { EXIT, SheriError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { planAgentWindows, type WindowPlan } from './layout.js';
import {
  agentArgv,
  localListenAddress,
  monitorArgv,
  sheriArgv,
  upArgv,
  type PaneSettings,
} from './pane-commands.js';
import { brokerAnswers, SwarmWatch } from './swarm-watch.js';
import type { Tmux } from './tmux.js';
import { describeMissing, markPane, prepareWindow, waitForBroker } from './window-setup.js';

export interface LaunchOptions {
  tmux: Tmux;
  config: Config;
  logger: Logger;
  session: string;
  agents: number;
  roles: readonly string[];
  perWindow: number;
  /** Where panes start (and `sheri up` keeps its `.sheri/` data). */
  cwd: string;
  /** Of a detached session; an attaching terminal resizes it. */
  size: { width: number; height: number };
  panes: PaneSettings;
  monitor: boolean;
  /** How long agents have to register before the launch fails. */
  waitMs: number;
  say: (line: string) => void;
  /** argv that starts sheri; default: this very sheri. */
  sheri?: readonly string[];
}

export interface LaunchedAgent {
  paneId: string;
  window: string;
  role: string;
  agentId: string;
  registeredMs?: number;
}

export interface LaunchReport {
  session: string;
  startedUp: boolean;
  hubOnline: boolean;
  agents: LaunchedAgent[];
  /** From the first agent pane's start to the last registration. */
  registeredMs: number;
}

/** How long a broker gets to answer the first probe before the launcher starts its own. */
const PROBE_MS = 2_000;
/** How long a freshly started `sheri up` gets to accept connections. */
const UP_READY_MS = 30_000;

/**
 * `sheri swarm tmux`: one tmux session, agents tiled in windows of at most `perWindow` panes,
 * `sheri up` in its own window when no broker answers, the dashboard in a `monitor` window. tmux
 * is for viewing only: the launcher learns that agents are up from the bus, not from the panes.
 */
export async function launchSwarm(options: LaunchOptions): Promise<LaunchReport> {
  const { tmux, session, config, say } = options;
  if (await tmux.hasSession(session)) {
    throw new SheriError(
      `tmux session "${session}" already exists — look at it: ${tmux.command} attach -t ${session}; stop it: ${stopCommand(tmux, session)}`,
      EXIT.usage,
    );
  }
  const sheri = options.sheri ?? sheriArgv();
  let sessionExists = false;
  const startedUp = !(await brokerAnswers(config.broker, PROBE_MS));
  if (startedUp) {
    const listen = localListenAddress(config.broker);
    if (!listen) {
      throw new SheriError(
        `no MQTT broker at ${config.broker}; sheri swarm tmux starts one itself only on this machine (mqtt://localhost:<port>) — start it there, or leave out --broker`,
        EXIT.unavailable,
      );
    }
    const command = upArgv(sheri, options.panes, listen);
    const up = await tmux.newSession(session, options.size, {
      name: 'up',
      cwd: options.cwd,
      command,
    });
    sessionExists = true;
    await prepareWindow(tmux, up.windowId, false);
    await markPane(tmux, up.paneId, { kind: 'up' });
    say(`no broker at ${config.broker}: started "sheri up" in window "up"`);
    try {
      await waitForBroker(tmux, config.broker, up.paneId, UP_READY_MS);
    } catch (error) {
      // The error carries what the pane said; a session with a dead broker only blocks a retry.
      await tmux.killSession(session).catch(() => undefined);
      throw error;
    }
  }
  // Listening before any agent starts, so no registration goes unheard.
  const watch = await SwarmWatch.start(config, options.logger);
  try {
    const agents: LaunchedAgent[] = [];
    const spawnedAt = Date.now();
    try {
      const plans = planAgentWindows(options.agents, options.roles, options.perWindow);
      let firstWindow = '';
      for (const plan of plans) {
        const windowId = await openAgentWindow(options, sheri, plan, sessionExists, agents);
        sessionExists = true;
        firstWindow ||= windowId;
      }
      if (options.monitor) {
        const command = monitorArgv(sheri, options.panes);
        const monitor = await tmux.newWindow(session, {
          name: 'monitor',
          cwd: options.cwd,
          command,
        });
        await prepareWindow(tmux, monitor.windowId, false);
        await markPane(tmux, monitor.paneId, { kind: 'monitor' });
      }
      await tmux.selectWindow(firstWindow);
    } catch (error) {
      // Half a swarm helps no one: take down what was started.
      if (sessionExists) await tmux.killSession(session).catch(() => undefined);
      throw error;
    }
    const ids = agents.map((agent) => agent.agentId);
    say(`waiting for ${ids.length} agents to register in swarm ${config.swarm}…`);
    await awaitRegistrations(options, watch, agents);
    for (const agent of agents)
      agent.registeredMs = (watch.agents.get(agent.agentId) ?? spawnedAt) - spawnedAt;
    const registeredMs = Math.max(0, ...agents.map((agent) => agent.registeredMs ?? 0));
    return { session, startedUp, hubOnline: watch.hubOnline, agents, registeredMs };
  } finally {
    await watch.close();
  }
}

/** One window of agents, split pane after pane then tiled; returns the window's id. */
async function openAgentWindow(
  options: LaunchOptions,
  sheri: readonly string[],
  plan: WindowPlan,
  sessionExists: boolean,
  agents: LaunchedAgent[],
): Promise<string> {
  const { tmux, session, cwd } = options;
  let windowId = '';
  let lastPane = '';
  for (const role of plan.roles) {
    const agentId = `${role}-${shortId()}`;
    const command = agentArgv(sheri, options.panes, { role, agentId });
    if (!windowId) {
      const spawn = { name: plan.name, cwd, command };
      const first = sessionExists
        ? await tmux.newWindow(session, spawn)
        : await tmux.newSession(session, options.size, spawn);
      windowId = first.windowId;
      lastPane = first.paneId;
      await prepareWindow(tmux, windowId, true);
    } else {
      // Splitting the newest pane keeps the panes in role order, row by row, once tiled.
      lastPane = await tmux.splitWindow(lastPane, { cwd, command });
      // Tiling after every split leaves room for the next one in a small window.
      await tmux.selectLayout(windowId, 'tiled');
    }
    await markPane(tmux, lastPane, { kind: 'agent', role, agent: agentId });
    agents.push({ paneId: lastPane, window: plan.name, role, agentId });
  }
  return windowId;
}

async function awaitRegistrations(
  options: LaunchOptions,
  watch: SwarmWatch,
  agents: LaunchedAgent[],
): Promise<void> {
  const { tmux, session, waitMs } = options;
  const ids = agents.map((agent) => agent.agentId);
  const deadline = Date.now() + waitMs;
  // Wake at least once a second to look at the panes: an agent whose pane has exited will not
  // register however long we wait.
  while (!(await watch.heardAll(ids, Math.min(1_000, Math.max(0, deadline - Date.now()))))) {
    const missing = new Set(watch.missing(ids));
    const panes = await tmux.listPanes(session);
    const allDead = agents
      .filter((agent) => missing.has(agent.agentId))
      .every((agent) => panes.find((pane) => pane.paneId === agent.paneId)?.dead ?? true);
    if (Date.now() < deadline && !allDead) continue;
    const details = await describeMissing(
      tmux,
      session,
      panes,
      agents.filter((agent) => missing.has(agent.agentId)),
    );
    const why = allDead ? 'the others exited' : `none more within ${Math.round(waitMs / 1000)} s`;
    throw new SheriError(
      `only ${ids.length - missing.size}/${ids.length} agents registered (${why}); these did not come up:\n${details}\n` +
        `the session is left for a look: ${tmux.command} attach -t ${session}; stop it: ${stopCommand(tmux, session)}`,
      EXIT.unavailable,
    );
  }
}

/** What a person types to stop this session. */
export function stopCommand(tmux: Tmux, session: string): string {
  return `sheri swarm down --session ${session}${tmux.socket ? ` --tmux-socket ${tmux.socket}` : ''}`;
}
