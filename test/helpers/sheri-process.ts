import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { withoutLlmSettings } from './tools.js';

/**
 * The built CLI; `npm test` builds it first. SHERI_TEST_BIN runs the suite against another build
 * (an older one, to see a test fail where it should).
 */
export const SHERI_BIN =
  process.env.SHERI_TEST_BIN ?? fileURLToPath(new URL('../../dist/bin/sheri.js', import.meta.url));

/**
 * Every CLI process a test started and that still runs. A test that times out, or a file whose
 * worker ends, must not leave them behind (a hung `sheri flow run` once outlived its CI run by
 * 35 minutes): they are killed when the worker exits.
 */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
}

/** runSheri's limit when a test sets none: under vitest's 60 s test timeout, so the test fails. */
export const RUN_TIMEOUT_MS = 50_000;

export interface SheriProcess {
  child: ChildProcess;
  output(): string;
  /** Resolve when the combined output contains `text`. */
  waitForOutput(text: string | RegExp, timeoutMs?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  exited(): Promise<number | null>;
}

export function startSheri(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): SheriProcess {
  const child = spawn(process.execPath, [SHERI_BIN, ...args], {
    cwd: options.cwd,
    env: { ...withoutLlmSettings(process.env), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let output = '';
  const waiters: (() => void)[] = [];
  const onData = (chunk: Buffer): void => {
    output += chunk.toString();
    for (const waiter of [...waiters]) waiter();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  return {
    child,
    output: () => output,
    waitForOutput(text, timeoutMs = 15_000) {
      const found = (): boolean =>
        typeof text === 'string' ? output.includes(text) : text.test(output);
      if (found()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(check), 1);
          reject(new Error(`timed out waiting for ${String(text)} in output:\n${output}`));
        }, timeoutMs);
        const check = (): void => {
          if (!found()) return;
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(check), 1);
          resolve();
        };
        waiters.push(check);
        void exit.then(() => {
          if (!found()) {
            clearTimeout(timer);
            reject(new Error(`process exited before printing ${String(text)}:\n${output}`));
          }
        });
      });
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exit;
    },
    exited: () => exit,
  };
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Kill it (SIGKILL) if it has not exited by then (default RUN_TIMEOUT_MS): a command that hangs
   * fails its test, and does not outlive it.
   */
  timeoutMs?: number;
  /** Close the read end of its stdout at once, as `sheri tasks | head -0` would. */
  closeStdout?: boolean;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** It had not exited within `timeoutMs`. */
  timedOut: boolean;
}

/** Run the CLI to completion. */
export async function runSheri(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const child = spawn(process.execPath, [SHERI_BIN, ...args], {
    cwd: options.cwd,
    env: { ...withoutLlmSettings(process.env), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let stdout = '';
  let stderr = '';
  if (options.closeStdout) child.stdout.destroy();
  else child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs ?? RUN_TIMEOUT_MS);
  // 'close', not 'exit': every byte it wrote has been read by then.
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr, timedOut };
}
