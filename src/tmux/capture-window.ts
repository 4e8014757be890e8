import { EXIT, SheriError } from '../errors.js';
import { renderWindow } from './render-window.js';
import type { Tmux } from './tmux.js';

/**
 * The text picture of one window of a swarm session (default: its first agents window), every
 * pane's screen at its place — what `sheri swarm capture` prints.
 */
export async function captureWindow(tmux: Tmux, session: string, window?: string): Promise<string> {
  const panes = await tmux.listPanes(session);
  const name =
    window ?? panes.find((pane) => pane.kind === 'agent')?.windowName ?? panes[0]?.windowName;
  const shown = panes.filter((pane) => pane.windowName === name);
  if (shown.length === 0) {
    const names = [...new Set(panes.map((pane) => pane.windowName))].join(', ');
    throw new SheriError(
      `no window "${String(name)}" in session ${session}; windows: ${names}`,
      EXIT.usage,
    );
  }
  const screens = [];
  for (const pane of shown) {
    screens.push({
      left: pane.left,
      top: pane.top,
      width: pane.width,
      height: pane.height,
      text: await tmux.capturePane(pane.paneId),
      label: [pane.index, pane.agentId || pane.kind].filter((part) => part !== '').join(' '),
    });
  }
  return renderWindow(screens);
}
