import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const EXITED = /\[exited (\d+)\]/;

/**
 * A program running in a detached tmux session on a tmux server of its own (`tmux -L`), so a
 * test can type into a real terminal and read what it shows, without touching anyone's tmux.
 */
export class TmuxSession {
  private constructor(
    private readonly socket: string,
    private readonly dir: string,
  ) {}

  /**
   * Start `argv` in a `width` × `height` terminal. A shell around it prints `[exited N]` when it
   * ends: `#{pane_dead_status}` was seen empty with the process still a zombie (tmux 3.3), while
   * the shell's own wait is reliable, and the line shows the program gave the terminal back.
   */
  static start(
    argv: string[],
    options: { width?: number; height?: number; env?: Record<string, string> } = {},
  ): TmuxSession {
    const socket = `sheri-tmux-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const dir = mkdtempSync(join(tmpdir(), 'sheri-tmux-'));
    // A config of our own: the pane stays after the program, and no user config interferes.
    const config = join(dir, 'tmux.conf');
    writeFileSync(config, 'set -g remain-on-exit on\nset -g status off\n');
    const env = Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${value}`);
    const session = new TmuxSession(socket, dir);
    session.tmux(
      '-f',
      config,
      'new-session',
      '-d',
      '-s',
      'test',
      '-x',
      String(options.width ?? 200),
      '-y',
      String(options.height ?? 50),
      'sh',
      '-c',
      '"$@"; echo "[exited $?]"',
      'sh',
      'env',
      ...env,
      ...argv,
    );
    return session;
  }

  /** The screen as text (`capture-pane -p`). */
  capture(): string {
    return this.tmux('capture-pane', '-p', '-t', 'test');
  }

  /** The screen with all its scrollback. */
  history(): string {
    return this.tmux('capture-pane', '-p', '-S', '-', '-t', 'test');
  }

  /** Poll the screen until `check` holds; the error shows what was on the screen instead. */
  async waitFor(
    check: (screen: string) => boolean,
    what: string,
    timeoutMs = 20_000,
  ): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const screen = this.capture();
      if (check(screen)) return screen;
      if (Date.now() > deadline) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}; the screen:\n${screen}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  sendKeys(...keys: string[]): void {
    this.tmux('send-keys', '-t', 'test', ...keys);
  }

  /**
   * The program's exit status, from the shell's `[exited N]` line. Read with the scrollback: with
   * remain-on-exit, tmux's own "Pane is dead" line can scroll it off the screen.
   */
  async waitForExit(timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const all = this.history();
      const exited = EXITED.exec(all);
      if (exited) return Number(exited[1]);
      if (Date.now() > deadline) {
        throw new Error(`still running after ${timeoutMs} ms; the screen:\n${this.capture()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  close(): void {
    try {
      // The server leaves its socket file behind: remove it too.
      const socketPath = this.tmux('display-message', '-p', '#{socket_path}').trim();
      this.tmux('kill-server');
      if (socketPath) rmSync(socketPath, { force: true });
    } catch {
      // already gone
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8' });
  }
}
