import { setTimeout as sleep } from 'node:timers/promises';
import { EXIT, SheriError } from '../errors.js';
import { brokerAnswers } from './swarm-watch.js';
import type { PaneInfo, Tmux } from './tmux.js';

/** Between probes of a freshly started broker: a probe is a connect attempt, cheap to repeat. */
const BROKER_POLL_MS = 200;

/**
 * Panes keep their last screen when their process exits (`remain-on-exit`), so an agent that
 * could not start shows why. Set right after the window's first process starts: that process is
 * Node, which takes far longer to load than tmux takes to run one more command.
 */
export async function prepareWindow(tmux: Tmux, windowId: string, agents: boolean): Promise<void> {
  await tmux.setOption('window', windowId, 'remain-on-exit', 'on');
  if (!agents) return;
  // Each agent pane's top border names its agent: `tmux select-pane` needs no guessing.
  await tmux.setOption('window', windowId, 'pane-border-status', 'top');
  await tmux.setOption('window', windowId, 'pane-border-format', ' #{pane_index} #{@sheri-agent} ');
}

/** What sheri started in a pane, read back by `sheri swarm down` and by the launcher. */
export async function markPane(
  tmux: Tmux,
  paneId: string,
  mark: { kind: 'agent' | 'up' | 'monitor'; role?: string; agent?: string },
): Promise<void> {
  await tmux.setOption('pane', paneId, '@sheri-kind', mark.kind);
  if (mark.role) await tmux.setOption('pane', paneId, '@sheri-role', mark.role);
  if (mark.agent) await tmux.setOption('pane', paneId, '@sheri-agent', mark.agent);
}

/** Until the `sheri up` of pane `paneId` accepts connections; fails at once if it exited. */
export async function waitForBroker(
  tmux: Tmux,
  url: string,
  paneId: string,
  waitMs: number,
): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (await brokerAnswers(url, 1_000)) return;
    const pane = (await paneOf(tmux, paneId)) ?? { dead: true };
    if (pane.dead || Date.now() > deadline) {
      const screen = summarizeScreen(
        await tmux.capturePane(paneId, { history: 100 }).catch(() => ''),
      );
      throw new SheriError(
        `the "sheri up" started for ${url} ${pane.dead ? 'exited' : `did not accept connections within ${waitMs / 1000} s`}:\n${indent(screen)}`,
        EXIT.unavailable,
      );
    }
    await sleep(BROKER_POLL_MS);
  }
}

async function paneOf(tmux: Tmux, paneId: string): Promise<{ dead: boolean } | undefined> {
  const out = await tmux
    .run(['display-message', '-p', '-t', paneId, '#{pane_dead}'])
    .catch(() => undefined);
  return out === undefined ? undefined : { dead: out.trim() === '1' };
}

/** For the launcher's error: each silent agent's pane, whether it runs, its last lines. */
export async function describeMissing(
  tmux: Tmux,
  session: string,
  panes: PaneInfo[],
  missing: { paneId: string; agentId: string }[],
): Promise<string> {
  const parts: string[] = [];
  for (const agent of missing) {
    const pane = panes.find((candidate) => candidate.paneId === agent.paneId);
    const where = pane ? `${session}:${pane.label}` : agent.paneId;
    const state = !pane ? 'pane gone' : pane.dead ? 'exited' : 'running, not heard on the bus';
    const screen = pane
      ? summarizeScreen(await tmux.capturePane(agent.paneId, { history: 100 }).catch(() => ''))
      : '';
    parts.push(
      `  pane ${where} ${agent.agentId} (${state})${screen ? `\n${indent(screen, 4)}` : ''}`,
    );
  }
  return parts.join('\n');
}

/**
 * The lines of a dead or silent pane worth reading: the first lines that look like an error
 * (`sheri: …`, `Error: …`; a Node crash puts its message above a long stack), then the last lines.
 */
export function summarizeScreen(screen: string): string {
  const lines = screen
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line) => line && !line.startsWith('Pane is dead'));
  const errors = lines.filter((line) => /^(sheri:|error:|\w*Error\b)/.test(line)).slice(0, 2);
  return [...new Set([...errors, ...lines.slice(-2)])].join('\n');
}

function indent(text: string, spaces = 2): string {
  return text
    .split('\n')
    .map((line) => `${' '.repeat(spaces)}${line}`)
    .join('\n');
}
