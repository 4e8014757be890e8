import { setTimeout as sleep } from 'node:timers/promises';
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
/** Between looks at the panes while they exit (there is no exit event for a pane's process). */
const EXIT_POLL_MS = 100;

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
  const killed = [
    ...(await stopPanes(tmux, session, first)),
    ...(await stopPanes(tmux, session, last)),
  ];
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
async function stopPanes(tmux: Tmux, session: string, panes: PaneInfo[]): Promise<string[]> {
  let alive = panes;
  for (const [signal, graceMs] of [
    ['SIGINT', GRACE_MS.interrupt],
    ['SIGTERM', GRACE_MS.terminate],
  ] as const) {
    for (const pane of alive) signalQuietly(pane.pid, signal);
    alive = await waitForExit(tmux, session, alive, graceMs);
    if (alive.length === 0) return [];
  }
  for (const pane of alive) signalQuietly(pane.pid, 'SIGKILL');
  await waitForExit(tmux, session, alive, GRACE_MS.terminate);
  return alive.map((pane) => pane.agentId || pane.kind);
}

/**
 * The panes whose process still runs after `waitMs`. tmux marks a pane dead when its process
 * exits — the pid alone can mislead, as it lingers as a zombie until tmux reaps it — so that is
 * what is polled (there is no exit event for a process we did not start).
 */
async function waitForExit(
  tmux: Tmux,
  session: string,
  panes: PaneInfo[],
  waitMs: number,
): Promise<PaneInfo[]> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const now = new Map((await tmux.listPanes(session)).map((pane) => [pane.paneId, pane]));
    const alive = panes.filter((pane) => {
      const current = now.get(pane.paneId);
      return current !== undefined && !current.dead && isAlive(pane.pid);
    });
    if (alive.length === 0 || Date.now() >= deadline) return alive;
    await sleep(EXIT_POLL_MS);
  }
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
