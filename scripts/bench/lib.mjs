// Shared pieces of `npm run bench`: processes, ports, brokers, clocks and statistics.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SHERI = join(ROOT, 'dist/bin/sheri.js');
export const TICKS = 100; // clock ticks per second in /proc/<pid>/stat (Linux's USER_HZ)

/** Wall clock with sub-millisecond precision, comparable across processes on one machine. */
export const now = () => performance.timeOrigin + performance.now();
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export function log(line) {
  process.stderr.write(`bench: ${line}\n`);
}

/** Processes this run started, killed by pid when it ends (never by name), and its temp dirs. */
const children = new Set();
const tempDirs = new Set();
process.on('exit', () => {
  for (const child of children) signalGroup(child, 'SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});
// Ctrl-C or a kill: leave nothing behind (the 'exit' handler above does it), then say so.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    process.stderr.write(
      `\nbench: ${signal}: stopping ${children.size} processes, removing temp dirs\n`,
    );
    process.exit(130);
  });
}

/** A signal to a child's process group (startProcess makes one per child), else to the child. */
function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // gone already
    }
  }
}

/** A child started elsewhere (fork), killed with the others if the bench dies. */
export function adopt(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** A temp dir removed when the run ends, whatever way it ends (or earlier with `removeDir`). */
export function tempDir(prefix = 'sheri-bench-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/**
 * A child process whose output is kept (the last 64 KB) and can be waited on; `kill()` stops it
 * and resolves once it has exited.
 */
export function startProcess(file, args, options = {}) {
  const child = spawn(file, args, {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so that stopping it stops what it started too (a script's mosquitto).
    detached: true,
  });
  children.add(child);
  let output = '';
  const waiters = new Set();
  const onData = (chunk) => {
    output = (output + chunk.toString()).slice(-65_536);
    for (const waiter of waiters) waiter();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return {
    child,
    pid: child.pid,
    output: () => output,
    exited,
    waitFor(pattern, timeoutMs = 30_000) {
      const found = () =>
        typeof pattern === 'string' ? output.includes(pattern) : pattern.test(output);
      if (found()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(`${args[0]}: no ${pattern} within ${timeoutMs} ms:\n${output.slice(-2000)}`),
          );
        }, timeoutMs);
        const check = () => {
          if (!found()) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        void exited.then(() => {
          if (found()) return;
          clearTimeout(timer);
          waiters.delete(check);
          reject(new Error(`${args[0]} exited before ${pattern}:\n${output.slice(-2000)}`));
        });
      });
    },
    async kill(signal = 'SIGTERM', graceMs = 5_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      signalGroup(child, signal);
      const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Extra node flags for sheri's processes, to profile them: BENCH_NODE_ARGS="--cpu-prof". */
const NODE_ARGS = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];

/** `node dist/bin/sheri.js …` */
export function startSheri(args, options = {}) {
  return startProcess(process.execPath, [...NODE_ARGS, SHERI, ...args], options);
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return NaN;
  }
}

/** Resident memory of a process, in bytes. */
export function rssBytes(pid) {
  return statusBytes(pid, 'VmRSS');
}

/**
 * The private part of a process's resident memory (`RssAnon`: its heap and stacks), in bytes.
 * RSS also counts the pages of files it maps — the node binary above all, ~35–40 MB — which every
 * process shares with the others running the same binary.
 */
export function privateRssBytes(pid) {
  return statusBytes(pid, 'RssAnon');
}

function statusBytes(pid, field) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1];
    return kb ? Number(kb) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

export function machine() {
  let os = 'Linux';
  try {
    os = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os;
  } catch {
    // not Linux
  }
  const version = (command, args) => {
    try {
      return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
        .split('\n')[0]
        .trim();
    } catch (error) {
      return (
        (error.stdout || error.stderr || '').toString().split('\n')[0].trim() || 'not installed'
      );
    }
  };
  return {
    cpus: cpus().length,
    cpu: cpus()[0]?.model.trim() ?? 'cpu',
    memGiB: Math.round(totalmem() / 2 ** 30),
    os,
    node: process.version,
    mosquitto: version('mosquitto', ['-h']).replace(/^mosquitto version /, ''),
    redis: version('redis-server', ['--version']),
    load: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
  };
}

export function hasCommand(command) {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin'])) {
    if (dir && existsSync(join(dir, command))) return join(dir, command);
  }
  return undefined;
}

/** A plain MQTT client (no sheri), connected. */
export async function plainClient(url, options = {}) {
  return mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, ...options });
}

/** mosquitto on a free port, open (sheri's envelopes are signed): its own process. */
export async function startMosquitto(dir) {
  const binary = hasCommand('mosquitto');
  if (!binary) return undefined;
  const port = await freePort();
  const conf = join(dir, `mosquitto-${port}.conf`);
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 1000000\nmax_inflight_messages 0\nmax_connections -1\nset_tcp_nodelay true\n`,
  );
  const proc = startProcess(binary, ['-c', conf]);
  const url = `mqtt://127.0.0.1:${port}`;
  await waitForBroker(url);
  return { url, proc, pid: proc.pid, close: () => proc.kill() };
}

export async function waitForBroker(url, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const client = await mqtt.connectAsync(url, {
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 500,
      });
      await client.endAsync(true);
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`no broker at ${url}: ${error.message}`);
      await sleep(50);
    }
  }
}
