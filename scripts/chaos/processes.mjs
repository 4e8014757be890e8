// Real processes for the suite: spawn with a log file, signal one process or its whole tree
// (read from /proc, so a bubblewrap sandbox's children are included), wait for exit.
import { spawn } from 'node:child_process';
import { openSync, closeSync, readdirSync, readFileSync } from 'node:fs';

/** Spawn in its own process group, stdout and stderr to `logPath`; `child.exited` resolves. */
export function launch(command, args, { cwd, logPath, env = process.env }) {
  const fd = openSync(logPath, 'a');
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.logPath = logPath;
  child.exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  child.alive = () => child.exitCode === null && child.signalCode === null;
  return child;
}

/** Every live descendant of `pid` (children first found breadth-first), from /proc. */
export function descendants(pid) {
  const parents = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Field 4 (ppid) follows the `(comm)` field, which may itself hold spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = parents.get(ppid) ?? [];
      list.push(Number(name));
      parents.set(ppid, list);
    } catch {
      // The process ended while we read.
    }
  }
  const found = [];
  const queue = [pid];
  while (queue.length > 0) {
    const next = queue.shift();
    for (const child of parents.get(next) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

function signalPid(pid, signal) {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** A signal to one process: kill -9 of an agent is a crash its reaper cleans up after. */
export async function signalProcess(child, signal) {
  if (!child.alive()) return;
  signalPid(child.pid, signal);
  if (signal === 'SIGKILL' || signal === 'SIGTERM') await child.exited;
}

/** SIGSTOP / SIGCONT to a process and all its descendants: a frozen machine, not one process. */
export function signalTree(child, signal) {
  const pids = [child.pid, ...descendants(child.pid)];
  for (const pid of pids) signalPid(pid, signal);
  return pids.length;
}

/** Teardown: wake, then SIGKILL the process, its group and every descendant; wait for it. */
export async function destroy(child) {
  const pids = [child.pid, ...descendants(child.pid)];
  for (const pid of pids) signalPid(pid, 'SIGCONT');
  signalPid(-child.pid, 'SIGKILL');
  for (const pid of pids) signalPid(pid, 'SIGKILL');
  if (child.alive()) await child.exited;
}
