import { execa } from 'execa';
import { OutputCapture } from './output-capture.js';
import { unwatchGroup, watchGroup } from './reaper.js';

export interface RunProcessOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** Hard limit; the whole process group is killed when it passes. */
  timeoutMs: number;
  /** Killed, likewise, after this long without a byte of output (a hung prompt, a deadlock). */
  inactivityMs?: number;
  /** Grace between SIGTERM and SIGKILL. */
  killGraceMs?: number;
  /** Characters kept of each of stdout and stderr (head and tail). */
  outputLimit: number;
  signal?: AbortSignal;
}

export interface ProcessResult {
  command: string;
  exit_code: number | null;
  signal: string | null;
  timed_out: boolean;
  /** Which limit killed it: the hard timeout or the inactivity timeout. */
  timeout_kind: 'hard' | 'inactivity' | null;
  canceled: boolean;
  duration_ms: number;
  stdout: string;
  stderr: string;
  truncated: boolean;
}

/**
 * Run one shell command in its own process group; every failure is a value, never a throw.
 * Timeout and cancellation kill the whole group, so `sh -c 'a & b'` leaves nothing behind.
 */
export async function runProcess(
  command: string,
  options: RunProcessOptions,
): Promise<ProcessResult> {
  const started = performance.now();
  const stdout = new OutputCapture(options.outputLimit);
  const stderr = new OutputCapture(options.outputLimit);
  const child = execa(command, {
    shell: true,
    cwd: options.cwd,
    ...(options.env ? { env: options.env, extendEnv: false } : {}),
    detached: true, // own process group, killed as one
    reject: false,
    stdin: 'ignore',
    buffer: false,
    encoding: 'utf8',
  });
  if (child.pid !== undefined) watchGroup(child.pid);

  let timeoutKind: ProcessResult['timeout_kind'] = null;
  let canceled = false;
  let killTimer: NodeJS.Timeout | undefined;
  const killGroup = (): void => {
    signalGroup(child.pid, 'SIGTERM');
    killTimer ??= setTimeout(() => signalGroup(child.pid, 'SIGKILL'), options.killGraceMs ?? 2_000);
  };
  const timer = setTimeout(() => {
    timeoutKind ??= 'hard';
    killGroup();
  }, options.timeoutMs);
  let quietTimer: NodeJS.Timeout | undefined;
  const heardFrom = (): void => {
    if (!options.inactivityMs) return;
    clearTimeout(quietTimer);
    quietTimer = setTimeout(() => {
      timeoutKind ??= 'inactivity';
      killGroup();
    }, options.inactivityMs);
  };
  heardFrom();
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    heardFrom();
    stdout.push(chunk);
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    heardFrom();
    stderr.push(chunk);
  });
  // When the shell itself ends, so does the command: whatever it left running in its group (and
  // holding its output open) goes too, rather than keeping the task alive until the timeout.
  child.once('exit', () => signalGroup(child.pid, 'SIGKILL'));
  const onAbort = (): void => {
    canceled = true;
    killGroup();
  };
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });

  const result = await child;
  clearTimeout(timer);
  clearTimeout(quietTimer);
  clearTimeout(killTimer);
  options.signal?.removeEventListener('abort', onAbort);
  // Anything the command left running in its group goes with it.
  signalGroup(child.pid, 'SIGKILL');
  if (child.pid !== undefined) unwatchGroup(child.pid);
  return {
    command,
    exit_code: result.exitCode ?? null,
    signal: result.signal ?? null,
    timed_out: timeoutKind !== null,
    timeout_kind: timeoutKind,
    canceled,
    duration_ms: Math.round(performance.now() - started),
    stdout: stdout.text(),
    stderr: stderr.text(),
    truncated: stdout.truncated || stderr.truncated,
  };
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}
