import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

export interface TestPane {
  paneId: string;
  index: number;
  left: number;
  top: number;
  role: string;
  agentId: string;
}

/**
 * A tmux server of the test's own (`tmux -L <unique>`), so tests never touch a developer's
 * sessions; `kill()` ends it and every process in its panes.
 */
export class TmuxServer {
  readonly socket = `sheri-test-${process.pid}-${randomBytes(3).toString('hex')}`;

  run(args: string[], env?: NodeJS.ProcessEnv): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(env ? { env } : {}),
    });
  }

  hasSession(session: string): boolean {
    try {
      this.run(['has-session', '-t', `=${session}`]);
      return true;
    } catch {
      return false;
    }
  }

  panes(target: string): TestPane[] {
    return this.run([
      'list-panes',
      '-t',
      target,
      '-F',
      '#{pane_id}\t#{pane_index}\t#{pane_left}\t#{pane_top}\t#{@sheri-role}\t#{@sheri-agent}',
    ])
      .trim()
      .split('\n')
      .map((line) => {
        const [paneId = '', index, left, top, role = '', agentId = ''] = line.split('\t');
        return {
          paneId,
          index: Number(index),
          left: Number(left),
          top: Number(top),
          role,
          agentId,
        };
      });
  }

  /** The pane's screen and its scrollback: what a person sees scrolling up. */
  capture(paneId: string): string {
    return this.run(['capture-pane', '-p', '-J', '-S', '-200', '-t', paneId]);
  }

  /** Polls the pane's screen (there is no event for it) until it shows `text`. */
  async waitForScreen(paneId: string, text: string | RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const screen = this.capture(paneId);
      if (typeof text === 'string' ? screen.includes(text) : text.test(screen)) return screen;
      if (Date.now() > deadline) {
        throw new Error(
          `pane ${paneId} did not show ${String(text)} within ${timeoutMs} ms:\n${screen}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** Ends the server and removes its socket file, which tmux leaves behind in /tmp. */
  kill(): void {
    const socketPath = join(
      // tmux's own rule: $TMUX_TMPDIR, else /tmp (not $TMPDIR).
      process.env.TMUX_TMPDIR || '/tmp',
      `tmux-${process.getuid?.() ?? 0}`,
      this.socket,
    );
    try {
      this.run(['kill-server']);
    } catch {
      // No server: every session was closed already.
    }
    rmSync(socketPath, { force: true });
  }
}

/** `pid args` of every process whose command line mentions `word` (a test's unique swarm name). */
export function processesMentioning(word: string): string[] {
  return execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(word) && !line.includes('ps -eo'));
}
