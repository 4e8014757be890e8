import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { EXIT, SheriError } from '../errors.js';

const run = promisify(execFile);

/** One pane as `list-panes` reports it, with the options sheri set on it. */
export interface PaneInfo {
  paneId: string;
  pid: number;
  dead: boolean;
  windowId: string;
  windowName: string;
  index: number;
  /** `<window>.<index>`, what a person types after `-t <session>:`. */
  label: string;
  left: number;
  top: number;
  width: number;
  height: number;
  /** `@sheri-kind`: agent, up or monitor; empty for panes sheri did not start. */
  kind: string;
  role: string;
  agentId: string;
}

const PANE_FORMAT = [
  '#{pane_id}',
  '#{pane_pid}',
  '#{pane_dead}',
  '#{window_id}',
  '#{window_name}',
  '#{pane_index}',
  '#{pane_left}',
  '#{pane_top}',
  '#{pane_width}',
  '#{pane_height}',
  '#{@sheri-kind}',
  '#{@sheri-role}',
  '#{@sheri-agent}',
].join('\t');

export interface SpawnOptions {
  name?: string;
  cwd: string;
  /** argv, run without a shell (tmux execs a command given as several arguments). */
  command: readonly string[];
}

/**
 * A typed wrapper over the tmux command line. Every call names its target by id (`$1`, `@2`,
 * `%3`) or exact session name (`=name`), never by tmux's prefix matching.
 */
export class Tmux {
  /** `socket`: a named server (`tmux -L`), so tests and scripts can keep their own. */
  constructor(readonly socket?: string) {}

  async run(args: readonly string[]): Promise<string> {
    const full = [...this.prefix, ...args];
    try {
      const { stdout } = await run('tmux', full, { maxBuffer: 16 * 1024 * 1024 });
      return stdout.replace(/\n$/, '');
    } catch (error) {
      const failure = error as NodeJS.ErrnoException & { stderr?: string };
      if (failure.code === 'ENOENT') {
        throw new SheriError(
          'tmux is not installed; install it (apt install tmux, brew install tmux) to use sheri swarm',
          EXIT.unavailable,
        );
      }
      const why = failure.stderr?.trim() || failure.message;
      throw new TmuxError(`tmux ${full.join(' ')}: ${why}`, why);
    }
  }

  private get prefix(): string[] {
    return this.socket ? ['-L', this.socket] : [];
  }

  /** The command a person types to reach this server: `tmux` or `tmux -L <socket>`. */
  get command(): string {
    return this.socket ? `tmux -L ${this.socket}` : 'tmux';
  }

  async hasSession(session: string): Promise<boolean> {
    try {
      await this.run(['has-session', '-t', `=${session}`]);
      return true;
    } catch (error) {
      if (error instanceof TmuxError) return false;
      throw error;
    }
  }

  /** A detached session whose first window runs `command`; returns the new pane's ids. */
  async newSession(
    session: string,
    size: { width: number; height: number },
    spawn: SpawnOptions,
  ): Promise<{ windowId: string; paneId: string }> {
    const out = await this.run([
      'new-session',
      '-d',
      '-s',
      session,
      '-x',
      String(size.width),
      '-y',
      String(size.height),
      ...spawnArgs(spawn),
    ]);
    return parseIds(out);
  }

  async newWindow(
    session: string,
    spawn: SpawnOptions,
  ): Promise<{ windowId: string; paneId: string }> {
    // "=name:" is the session itself; the window takes its next free index.
    return parseIds(
      await this.run(['new-window', '-d', '-t', `=${session}:`, ...spawnArgs(spawn)]),
    );
  }

  async splitWindow(windowId: string, spawn: SpawnOptions): Promise<string> {
    const out = await this.run(['split-window', '-d', '-t', windowId, ...spawnArgs(spawn)]);
    return parseIds(out).paneId;
  }

  async selectLayout(
    windowId: string,
    layout: 'tiled' | 'even-horizontal' = 'tiled',
  ): Promise<void> {
    await this.run(['select-layout', '-t', windowId, layout]);
  }

  async setOption(
    scope: 'pane' | 'window',
    target: string,
    name: string,
    value: string,
  ): Promise<void> {
    await this.run(['set-option', scope === 'pane' ? '-p' : '-w', '-t', target, name, value]);
  }

  async selectWindow(windowId: string): Promise<void> {
    await this.run(['select-window', '-t', windowId]);
  }

  async listPanes(session: string): Promise<PaneInfo[]> {
    const out = await this.run(['list-panes', '-s', '-t', `=${session}`, '-F', PANE_FORMAT]);
    return out
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [paneId = '', pid, dead, windowId = '', windowName = '', index, ...rest] =
          line.split('\t');
        const [left, top, width, height, kind = '', role = '', agentId = ''] = rest;
        return {
          paneId,
          pid: Number(pid),
          dead: dead === '1',
          windowId,
          windowName,
          index: Number(index),
          label: `${windowName}.${index}`,
          left: Number(left),
          top: Number(top),
          width: Number(width),
          height: Number(height),
          kind,
          role,
          agentId,
        };
      });
  }

  /**
   * A pane's visible screen as plain text, one line per row; with `history`, also that many lines
   * scrolled off above it, wrapped lines joined (for reading, not for laying out).
   */
  async capturePane(paneId: string, options: { history?: number } = {}): Promise<string> {
    const history = options.history ? ['-J', '-S', String(-options.history)] : [];
    return this.run(['capture-pane', '-p', ...history, '-t', paneId]);
  }

  /** Hand this terminal to tmux until the user detaches; resolves with tmux's exit code. */
  async attach(session: string): Promise<number | null> {
    const child = spawn('tmux', [...this.prefix, 'attach-session', '-t', `=${session}`], {
      stdio: 'inherit',
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    return code;
  }

  async killSession(session: string): Promise<void> {
    await this.run(['kill-session', '-t', `=${session}`]);
  }
}

export class TmuxError extends Error {
  constructor(
    message: string,
    readonly reason: string,
  ) {
    super(message);
    this.name = 'TmuxError';
  }
}

function spawnArgs(spawn: SpawnOptions): string[] {
  return [
    '-P',
    '-F',
    '#{window_id} #{pane_id}',
    '-c',
    spawn.cwd,
    ...(spawn.name ? ['-n', spawn.name] : []),
    ...spawn.command,
  ];
}

function parseIds(out: string): { windowId: string; paneId: string } {
  const [windowId = '', paneId = ''] = out.trim().split(' ');
  return { windowId, paneId };
}
