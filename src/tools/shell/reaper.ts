import { spawn, type ChildProcess } from 'node:child_process';

/**
 * The reaper: a tiny process each agent starts beside itself. The agent writes `+<pgid>` and
 * `-<pgid>` lines on its stdin as commands start and end; when stdin closes — the agent exited,
 * even by kill -9 — it kills every process group still listed, so no command of a dead agent runs
 * on while its task is requeued to another agent. Inline source, so it runs from src/ and dist/.
 */
const REAPER_SOURCE = `
const groups = new Set();
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
let buffer = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffer += chunk;
  const lines = buffer.split('\\n');
  buffer = lines.pop();
  for (const line of lines) {
    const pgid = Number(line.slice(1));
    if (!Number.isInteger(pgid) || pgid <= 1) continue;
    if (line[0] === '+') groups.add(pgid); else groups.delete(pgid);
  }
});
const reap = () => {
  for (const pgid of groups) { try { process.kill(-pgid, 'SIGKILL'); } catch {} }
  process.exit(0);
};
process.stdin.on('end', reap);
process.stdin.on('error', reap);
`;

let reaper: ChildProcess | undefined;

function start(): ChildProcess | undefined {
  if (reaper && reaper.exitCode === null && !reaper.stdin?.destroyed) return reaper;
  try {
    const child = spawn(process.execPath, ['-e', REAPER_SOURCE], {
      // Outside our process group, so a terminal's Ctrl-C leaves it alive to clean up.
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    child.on('error', () => undefined);
    child.stdin?.on('error', () => undefined);
    // Neither the reaper nor its pipe may keep this process alive.
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    reaper = child;
    return child;
  } catch {
    return undefined;
  }
}

/**
 * Groups that ended, not told yet: said with the next group watched, or within a second. Each
 * line woke the reaper (a process switch, on a 2-core machine a visible part of a short
 * command's cost, issue 10); one that dies in that second leaves ids in the reaper's list that
 * no process group has — killing them finds nothing, unless as many processes as pid_max were
 * started in that second, which is what reusing one would take.
 */
let ended = '';
let flushTimer: NodeJS.Timeout | undefined;

function flushEnded(): void {
  clearTimeout(flushTimer);
  flushTimer = undefined;
  if (ended && reaper?.stdin?.writable) reaper.stdin.write(ended);
  ended = '';
}

/** Ask the reaper to kill this process group should this process die before the group ends. */
export function watchGroup(pgid: number): void {
  const line = `+${pgid}\n`;
  const stdin = start()?.stdin;
  if (!stdin) return;
  stdin.write(ended + line);
  ended = '';
  clearTimeout(flushTimer);
  flushTimer = undefined;
}

export function unwatchGroup(pgid: number): void {
  if (!reaper?.stdin?.writable) return;
  ended += `-${pgid}\n`;
  flushTimer ??= setTimeout(flushEnded, 1_000).unref();
}
