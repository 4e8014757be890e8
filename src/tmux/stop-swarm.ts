import { EXIT, SheriError } from '../errors.js';
import type { PaneInfo, Tmux } from './tmux.js';

export interface StopReport {
  session: string;
  agents: string[];
  monitor: boolean;
  up: boolean;
  /** Panes whose process ignored SIGINT and SIGTERM and was killed: agent id, or kind. */
  killed: string[];
}

/** How long processes get after SIGINT (an agent's goodbye takes up to 3 s), then after SIGTERM. */
const GRACE_MS = { interrupt: 10_000, terminate: 2_000 };

/**
 * `sheri swarm down`: stop what `sheri swarm tmux` started, in the order a swarm winds down —
 * agents and the monitor first (SIGINT, as Ctrl-C: agents hand their tasks back and say goodbye
 * while the hub still listens), then `sheri up` (broker and hub) — then close the session.
 * Panes sheri did not start are left to `kill-session`, which hangs them up as tmux always does.
 */
export async function stopSwarm(tmux: Tmux, session: string): Promise<StopReport> {
  if (!(await tmux.hasSession(session))) {
    throw new SheriError(
      `no tmux session "${session}" on ${tmux.command === 'tmux' ? 'the default tmux server' : `\`${tmux.command}\``}; sessions: ${tmux.command} ls`,
      EXIT.usage,
    );
  }
  const panes = (await tmux.listPanes(session)).filter((pane) => !pane.dead && pane.kind);
  const first = panes.filter((pane) => pane.kind !== 'up');
  const last = panes.filter((pane) => pane.kind === 'up');
  const killed = [...(await stopPanes(first)), ...(await stopPanes(last))];
  await tmux.killSession(session);
  return {
    session,
    agents: first.filter((pane) => pane.kind === 'agent').map((pane) => pane.agentId),
    monitor: first.some((pane) => pane.kind === 'monitor'),
    up: last.length > 0,
    killed,
  };
}

/** SIGINT, then SIGTERM, then SIGKILL to whoever is left; returns the panes that needed SIGKILL. */
async function stopPanes(panes: PaneInfo[]): Promise<string[]> {
  let alive = panes.map((pane) => pane.pid).filter(isAlive);
  for (const [signal, graceMs] of [
    ['SIGINT', GRACE_MS.interrupt],
    ['SIGTERM', GRACE_MS.terminate],
  ] as const) {
    for (const pid of alive) signalQuietly(pid, signal);
    alive = await waitForExit(alive, graceMs);
    if (alive.length === 0) return [];
  }
  for (const pid of alive) signalQuietly(pid, 'SIGKILL');
  await waitForExit(alive, GRACE_MS.terminate);
  return panes.filter((pane) => alive.includes(pane.pid)).map((pane) => pane.agentId || pane.kind);
}

/** The pids still alive after `waitMs`; polls, as there is no exit event for a stranger's pid. */
async function waitForExit(pids: number[], waitMs: number): Promise<number[]> {
  const deadline = Date.now() + waitMs;
  let alive = pids.filter(isAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    alive = alive.filter(isAlive);
  }
  return alive;
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive but not ours to signal, which a pane of our own session never is.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Exited between the look and the signal: what we wanted.
  }
}
