import { basename } from 'node:path';
import { launchSwarm, stopCommand, type LaunchReport } from '../tmux/launch-swarm.js';
import { tiledGrid } from '../tmux/layout.js';
import type { Tmux } from '../tmux/tmux.js';
import { makeConfig, makeLogger, printJson } from './common.js';
import { checkRoles, resolveIf, sessionOf, windowSize, type SwarmTmuxFlags } from './swarm.js';

/** `sheri swarm tmux`: launch, say what came up, then attach unless told not to. */
export async function handleSwarmTmux(flags: SwarmTmuxFlags): Promise<void> {
  const config = makeConfig(flags);
  const roles = checkRoles(flags, config);
  const { tmux, session } = sessionOf(flags, config);
  // With --json, stdout carries only the JSON; the running commentary goes to stderr.
  const say = (line: string): void => {
    (flags.json ? process.stderr : process.stdout).write(`${line}\n`);
  };
  const configFile = resolveIf(flags.config ?? config.environment.SHERI_CONFIG);
  const workspace = resolveIf(flags.workspace);
  const logFile = resolveIf(flags.logFile);
  const report = await launchSwarm({
    tmux,
    config,
    logger: makeLogger(flags),
    session,
    agents: flags.agents,
    roles,
    perWindow: flags.perWindow,
    cwd: process.cwd(),
    size: windowSize(),
    panes: {
      broker: config.broker,
      swarm: config.swarm,
      ...(configFile ? { configFile } : {}),
      ...(workspace ? { workspace } : {}),
      ...(flags.logLevel ? { logLevel: flags.logLevel } : {}),
      ...(flags.logFormat ? { logFormat: flags.logFormat } : {}),
      ...(logFile ? { logFile } : {}),
      // Panes find the credentials where this command did (PROTOCOL §15.2).
      ...(flags.dataDir ? { dataDir: config.dataDir } : {}),
      ...(config.credentialsFile ? { credentials: config.credentialsFile } : {}),
    },
    monitor: flags.monitor,
    waitMs: flags.wait * 1000,
    say,
  });
  const count = report.agents.length;
  say(`${count}/${count} agents registered in ${(report.registeredMs / 1000).toFixed(1)} s`);
  say(`tmux session ${session}: ${describeWindows(report, flags.monitor)}`);
  if (!report.hubOnline) {
    say(
      `note: no hub is online in swarm ${config.swarm}, so no task will be granted; start one: sheri hub --broker ${config.broker} --swarm ${config.swarm}`,
    );
  }
  if (flags.json) printJson({ ...report, socket: tmux.socket ?? null });
  await attachOrExplain(tmux, session, flags.attach, config.environment.TMUX, say);
}

function describeWindows(report: LaunchReport, monitor: boolean): string {
  const windows = new Map<string, number>();
  for (const agent of report.agents)
    windows.set(agent.window, (windows.get(agent.window) ?? 0) + 1);
  const parts = [...windows].map(([name, panes]) => {
    const { columns, rows } = tiledGrid(panes);
    return `${name} (${panes} panes, ${columns}×${rows})`;
  });
  if (monitor) parts.push('monitor');
  if (report.startedUp) parts.unshift('up');
  return parts.join(', ');
}

async function attachOrExplain(
  tmux: Tmux,
  session: string,
  attach: boolean,
  insideTmux: string | undefined,
  say: (line: string) => void,
): Promise<void> {
  const how = `${tmux.command} attach -t ${session}`;
  const stop = stopCommand(tmux, session);
  if (!attach) return say(`watch: ${how}    stop: ${stop}`);
  if (insideTmux) {
    // $TMUX is "<socket path>,<pid>,<session>": switching works only within the same server.
    const server = basename(insideTmux.split(',')[0] ?? '');
    if (server === (tmux.socket ?? 'default')) {
      await tmux.run(['switch-client', '-t', `=${session}`]);
      return;
    }
    return say(`inside another tmux server; from a plain terminal: ${how}    stop: ${stop}`);
  }
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    return say(`not a terminal, so not attaching; watch: ${how}    stop: ${stop}`);
  }
  await tmux.attach(session);
  say(`detached; the swarm keeps running. watch again: ${how}    stop: ${stop}`);
}
