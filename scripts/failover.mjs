#!/usr/bin/env node
// Failover time of two `sheri hub --ledger postgres://…` processes: kill -9 the leader while
// tasks wait, and measure from the kill to the first grant the new leader records (its epoch's
// first `assigned` event). Five runs by default; prints each and the median.
//
//   npm run build && node scripts/failover.mjs [--runs 5] [--ledger postgres://…]
//
// Without --ledger it starts a PostgreSQL of its own (initdb into a temp dir; Debian's
// /usr/lib/postgresql/*/bin; as the postgres user when run as root). Everything it starts
// (server, broker, hubs, agents) is stopped and its directory removed at the end.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, chownSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const SHERI = fileURLToPath(new URL('../dist/bin/sheri.js', import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const RUNS = Number(option('--runs', '5'));
const TASKS_PER_RUN = 40;

const freePort = async () => {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
};

const children = [];
function start(argv, cwd) {
  const child = spawn(process.execPath, [SHERI, ...argv], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = once(child, 'exit');
  const proc = {
    child,
    exited,
    output: () => output,
    async waitFor(text, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (!output.includes(text)) {
        if (Date.now() > deadline || child.exitCode !== null) {
          throw new Error(`no "${text}" from sheri ${argv[0]}:\n${output.slice(-3000)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
  children.push(proc);
  return proc;
}

async function startPostgres(dir) {
  const root = '/usr/lib/postgresql';
  const version = readdirSync(root).sort((a, b) => Number(b) - Number(a))[0];
  const bin = join(root, version, 'bin');
  const asRoot = process.getuid?.() === 0;
  const run = (command, argv, opts = {}) =>
    asRoot
      ? spawn('runuser', ['-u', 'postgres', '--', command, ...argv], opts)
      : spawn(command, argv, opts);
  if (asRoot) {
    const id = (flag) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }));
    chownSync(dir, id('-u'), id('-g'));
  }
  const data = join(dir, 'data');
  const initdb = run(
    join(bin, 'initdb'),
    ['-D', data, '-U', 'sheri', '--auth=trust', '--no-sync'],
    {
      stdio: 'ignore',
    },
  );
  const [code] = await once(initdb, 'exit');
  if (code !== 0) throw new Error('initdb failed');
  const port = await freePort();
  const server = run(
    join(bin, 'postgres'),
    ['-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', dir],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  await new Promise((resolve, reject) => {
    server.stderr.on('data', (chunk) => {
      log += chunk;
      if (log.includes('ready to accept connections')) resolve();
    });
    server.on('exit', () => reject(new Error(`postgres exited:\n${log}`)));
  });
  server.stderr.resume();
  const admin = new pg.Client({ host: '127.0.0.1', port, user: 'sheri', database: 'postgres' });
  await admin.connect();
  await admin.query('CREATE DATABASE sheri_failover');
  await admin.end();
  const stop = async () => {
    const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(pid, 'SIGINT');
    await once(server, 'exit');
  };
  return { url: `postgres://sheri@127.0.0.1:${port}/sheri_failover`, stop };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const dir = mkdtempSync(join(tmpdir(), 'sheri-failover-'));
const pgDir = mkdtempSync(join(tmpdir(), 'sheri-failover-pg-'));
let postgres;
try {
  postgres = option('--ledger')
    ? { url: option('--ledger'), stop: async () => {} }
    : await startPostgres(pgDir);
  const db = new pg.Client({ connectionString: postgres.url });
  db.on('error', () => undefined);
  await db.connect();
  const swarm = `failover${process.pid}`;
  const dataDir = join(dir, '.sheri');
  writeFileSync(
    join(dir, 'sheri.config.json'),
    JSON.stringify({ leaseMs: 5_000, heartbeatMs: 1_000 }),
  );
  const port = await freePort();
  const common = ['--swarm', swarm, '--data-dir', dataDir, '--log-format', 'json'];
  // The broker serves every swarm: no --swarm of its own.
  const broker = start(
    ['broker', '--port', String(port), '--data-dir', dataDir, '--log-format', 'json'],
    dir,
  );
  await broker.waitFor('listening');
  const brokerUrl = `mqtt://127.0.0.1:${port}`;
  const hubArgs = ['hub', '--broker', brokerUrl, '--ledger', postgres.url, ...common];
  let leader = start(hubArgs, dir);
  await leader.waitFor('hub ready');
  let standby = start(hubArgs, dir);
  await standby.waitFor('hub standing by');
  const agents = start(
    [
      'agent',
      '--role',
      'testing',
      '--replicas',
      '4',
      '--concurrency',
      '2',
      '--broker',
      brokerUrl,
      '--sandbox',
      'none',
      ...common,
    ],
    dir,
  );
  await agents.waitFor('joined swarm', 60_000);
  const times = [];
  for (let run = 1; run <= RUNS; run++) {
    // Queued work for the new leader to grant at once: 40 tasks of 1 s on 8 slots.
    await Promise.all(
      Array.from(
        { length: TASKS_PER_RUN },
        (_, i) =>
          new Promise((resolve, reject) => {
            const submit = start(
              [
                'task',
                'submit',
                '--broker',
                brokerUrl,
                '--type',
                'testing.run',
                '--task-id',
                `run${run}-${i}`,
                '--command',
                'sleep 1',
                '--no-hub-check',
                ...common,
              ],
              dir,
            );
            submit.child.on('exit', (code) =>
              code === 0 ? resolve() : reject(new Error(submit.output())),
            );
          }),
      ),
    );
    const epochBefore = Number((await db.query('SELECT epoch FROM hub_leader')).rows[0].epoch);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    leader.child.kill('SIGKILL');
    const killedAt = Date.now();
    await leader.exited;
    await standby.waitFor('hub ready', 30_000);
    const epoch = epochBefore + 1;
    let first;
    for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
      const row = (
        await db.query(
          `SELECT MIN(at) AS at FROM task_events WHERE kind = 'assigned' AND epoch = $1`,
          [epoch],
        )
      ).rows[0];
      if (row.at !== null) {
        first = Number(row.at);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (first === undefined) throw new Error(`run ${run}: no grant by epoch ${epoch}`);
    times.push(first - killedAt);
    console.log(
      `run ${run}: kill -9 → first grant of the new leader (epoch ${epoch}): ${first - killedAt} ms`,
    );
    // Everything of this run completes before the next; the killed hub comes back as standby.
    for (const deadline = Date.now() + 120_000; ;) {
      const left = Number(
        (await db.query(`SELECT COUNT(*) AS n FROM tasks WHERE state <> 'complete'`)).rows[0].n,
      );
      if (left === 0) break;
      if (Date.now() > deadline) throw new Error(`run ${run}: ${left} tasks did not complete`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    leader = standby;
    standby = start(hubArgs, dir);
    await standby.waitFor('hub standing by');
  }
  console.log(`median of ${RUNS}: ${median(times)} ms (runs: ${times.join(', ')} ms)`);
  await db.end();
} finally {
  for (const proc of children.reverse()) {
    if (proc.child.exitCode === null && proc.child.signalCode === null) {
      proc.child.kill('SIGTERM');
      await Promise.race([proc.exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
    }
  }
  await postgres?.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
  rmSync(pgDir, { recursive: true, force: true });
}
