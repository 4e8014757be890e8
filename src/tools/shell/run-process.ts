import { spawn } from 'node:child_process';
import { OutputCapture } from './output-capture.js';
import { unwatchGroup, watchGroup } from './reaper.js';
import { SandboxRefusal, type Sandbox, type SandboxLimits } from './sandbox.js';

export interface RunProcessOptions {
  cwd: string;
  env?: Record<string, string>;
  /** Hard limit; the whole process group is killed when it passes. */
  timeoutMs: number;
  /** Killed, likewise, after this long without a byte of output (a hung prompt, a deadlock). */
  inactivityMs?: number;
  /** Grace between SIGTERM and SIGKILL. */
  killGraceMs?: number;
  /** Characters kept of each of stdout and stderr (head and tail). */
  outputLimit: number;
  /** Killed when stdout and stderr together pass this many characters (a runaway writer). */
  outputCeiling?: number;
  signal?: AbortSignal;
  /** Where the command runs: bubblewrap, or bare bash (`none`). Bare bash when absent. */
  sandbox?: {
    sandbox: Sandbox;
    /** Real path of the folder bound read-write (read-only when `readOnly`). */
    workspace: string;
    readOnly: boolean;
    network: boolean;
    readOnlyPaths?: readonly string[];
    readWritePaths?: readonly string[];
  };
}

/** Which sandbox limit ended a command. */
export type LimitHit = 'memory' | 'processes' | 'file-size' | 'cpu-time' | 'output';

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
  /** Ran inside the bubblewrap sandbox. */
  sandboxed: boolean;
  /** The sandbox limit the command ran into, if one ended or hobbled it. */
  limit: LimitHit | null;
}

/** Exit statuses of bash for a command killed by SIGXCPU / SIGXFSZ (128 + signal number). */
const EXIT_CPU_LIMIT = 128 + 24;
const EXIT_FILE_SIZE_LIMIT = 128 + 25;
const DEFAULT_OUTPUT_CEILING = 64 * 1024 * 1024; // characters of stdout + stderr

/**
 * Run one command with bash (the shell the policy's parser models), in the sandbox when one is
 * given; every failure is a value, never a throw. Timeout and cancellation kill the whole
 * process group (and, sandboxed, the PID namespace), so `a & b` leaves nothing behind.
 */
export async function runProcess(
  command: string,
  options: RunProcessOptions,
): Promise<ProcessResult> {
  const started = performance.now();
  const stdout = new OutputCapture(options.outputLimit);
  const stderr = new OutputCapture(options.outputLimit);
  const env = options.env ?? {};
  let prepared: ReturnType<typeof prepare>;
  try {
    prepared = prepare(command, options, env);
  } catch (error) {
    if (!(error instanceof SandboxRefusal)) throw error;
    // Not started, like a spawn that failed: said as its output.
    return {
      command,
      exit_code: null,
      signal: null,
      timed_out: false,
      timeout_kind: null,
      canceled: false,
      duration_ms: Math.round(performance.now() - started),
      stdout: '',
      stderr: `sheri: the sandbox will not start it: ${error.message}\n`,
      truncated: false,
      sandboxed: true,
      limit: null,
    };
  }
  // node:child_process directly, not execa: execa's wrapping cost ~1.6 ms of CPU per command
  // against ~1.3 ms for the spawn itself (issue 10), and nothing here needs what it adds.
  const child = spawn(prepared.file, prepared.args, {
    cwd: options.cwd,
    env: prepared.env,
    detached: true, // own process group, killed as one
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Resolves once the shell has exited and its output is closed, or it could not start at all.
  const ended = new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }>(
    (resolve) => {
      child.once('close', (exitCode, signal) => resolve({ exitCode, signal }));
      child.on('error', (error) => {
        // A spawn that failed (bash or bwrap missing, cwd gone) has no pid: say why, as output.
        if (child.pid !== undefined) return;
        stderr.push(`sheri: could not start ${prepared.file}: ${error.message}\n`);
        resolve({ exitCode: null, signal: null });
      });
    },
  );
  if (child.pid !== undefined) watchGroup(child.pid);

  let timeoutKind: ProcessResult['timeout_kind'] = null;
  let canceled = false;
  let overflowed = false;
  let killTimer: NodeJS.Timeout | undefined;
  // Once the group is gone, its id is signalled no more: a process group cannot gain members
  // again, and a later one with the same id (a reused pid) is someone else's. Each signal to a
  // gone group also cost an exception (~0.1 ms).
  let groupGone = false;
  const signal = (name: NodeJS.Signals): void => {
    if (!groupGone && child.pid !== undefined) groupGone = !signalGroup(child.pid, name);
  };
  const killGroup = (): void => {
    signal('SIGTERM');
    killTimer ??= setTimeout(() => signal('SIGKILL'), options.killGraceMs ?? 2_000);
  };
  const timer = setTimeout(() => {
    timeoutKind ??= 'hard';
    killGroup();
  }, options.timeoutMs);
  let quietTimer: NodeJS.Timeout | undefined;
  const ceiling = options.outputCeiling ?? DEFAULT_OUTPUT_CEILING;
  const heardFrom = (): void => {
    if (!overflowed && stdout.length + stderr.length > ceiling) {
      overflowed = true;
      signal('SIGKILL');
    }
    if (!options.inactivityMs) return;
    clearTimeout(quietTimer);
    quietTimer = setTimeout(() => {
      timeoutKind ??= 'inactivity';
      killGroup();
    }, options.inactivityMs);
  };
  heardFrom();
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout.push(chunk);
    heardFrom();
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr.push(chunk);
    heardFrom();
  });
  // When the shell itself ends, so does the command: whatever it left running in its group (and
  // holding its output open) goes too, rather than keeping the task alive until the timeout.
  child.once('exit', () => signal('SIGKILL'));
  const onAbort = (): void => {
    canceled = true;
    killGroup();
  };
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });

  const result = await ended;
  clearTimeout(timer);
  clearTimeout(quietTimer);
  clearTimeout(killTimer);
  options.signal?.removeEventListener('abort', onAbort);
  // Anything the command left running in its group goes with it.
  signal('SIGKILL');
  if (child.pid !== undefined) unwatchGroup(child.pid);
  const usage = prepared.cgroup?.usage();
  prepared.cgroup?.destroy();
  const exitCode = result.exitCode;
  const limit: LimitHit | null = overflowed
    ? 'output'
    : usage?.memoryLimitHit
      ? 'memory'
      : usage?.processLimitHit
        ? 'processes'
        : prepared.sandboxed && exitCode === EXIT_FILE_SIZE_LIMIT
          ? 'file-size'
          : prepared.sandboxed && exitCode === EXIT_CPU_LIMIT
            ? 'cpu-time'
            : null;
  return {
    command,
    exit_code: exitCode,
    signal: result.signal,
    timed_out: timeoutKind !== null,
    timeout_kind: timeoutKind,
    canceled,
    duration_ms: Math.round(performance.now() - started),
    stdout: stdout.text(),
    stderr: stderr.text(),
    truncated: stdout.truncated || stderr.truncated,
    sandboxed: prepared.sandboxed,
    limit,
  };
}

/** The program that runs `command`: in the sandbox, or bare bash when there is none. */
function prepare(command: string, options: RunProcessOptions, env: Record<string, string>) {
  return options.sandbox
    ? options.sandbox.sandbox.prepare({
        command,
        cwd: options.cwd,
        workspace: options.sandbox.workspace,
        readOnly: options.sandbox.readOnly,
        network: options.sandbox.network,
        ...(options.sandbox.readOnlyPaths ? { readOnlyPaths: options.sandbox.readOnlyPaths } : {}),
        ...(options.sandbox.readWritePaths
          ? { readWritePaths: options.sandbox.readWritePaths }
          : {}),
        env,
      })
    : {
        file: 'bash',
        args: ['--noprofile', '--norc', '-c', command],
        env,
        sandboxed: false,
        cgroup: undefined,
      };
}

/** The limit in words, for a result's summary: "the sandbox's memory limit (2048 MiB)". */
export function describeLimit(limit: LimitHit, limits: SandboxLimits | undefined): string {
  switch (limit) {
    case 'memory':
      return `the sandbox's memory limit${limits ? ` (${limits.memoryMiB} MiB)` : ''}`;
    case 'processes':
      return `the sandbox's process limit${limits ? ` (${limits.processes})` : ''}`;
    case 'file-size':
      return `the sandbox's file size limit${limits ? ` (${limits.fileSizeMiB} MiB per file)` : ''}`;
    case 'cpu-time':
      return `the sandbox's CPU time limit${limits ? ` (${limits.cpuSeconds} s)` : ''}`;
    case 'output':
      return 'the output ceiling (64 MiB of stdout and stderr)';
  }
}

/** Signal a process group; false when it no longer exists (ESRCH). */
function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch (error) {
    // EPERM: it exists, but holds a process we may not signal.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
