#!/usr/bin/env node
// Claim throughput and latency: a hub, N agents and M one-command tasks on the embedded broker
// (and on mosquitto when it is installed). Run with `npm run bench`; figures go to docs/BENCHMARKS.md.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { Agent } from '../dist/src/agent/agent.js';
import { prepareSurroundings } from '../dist/src/agent/agent-setup.js';
import { EmbeddedBroker } from '../dist/src/broker/embedded-broker.js';
import { loadConfig } from '../dist/src/config/load.js';
import { createLogger, silentLogger } from '../dist/src/logging/logger.js';
const hubLogger = process.env.BENCH_DEBUG
  ? createLogger({ format: 'json', level: 'debug' })
  : silentLogger();
import { Hub } from '../dist/src/tasks/hub.js';

const TASKS = Number(process.env.BENCH_TASKS ?? 2000);
const AGENTS = Number(process.env.BENCH_AGENTS ?? 20);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 2);
const SINGLES = Number(process.env.BENCH_SINGLES ?? 50);

/** A task in the origin's envelope that runs `true`: the cheapest real command. */
function taskMessage(task_id) {
  return JSON.stringify({
    id: `m-${task_id}`,
    timestamp: new Date().toISOString(),
    agent_id: 'bench',
    payload: { task_id, type: 'testing.run', payload: {}, commands: ['true'] },
  });
}

async function run(label, brokerUrl, dir) {
  console.error(`bench: ${label}, ${TASKS} tasks, ${AGENTS} agents × ${CONCURRENCY}`);
  const swarm = `bench${Math.random().toString(36).slice(2, 7)}`;
  const config = loadConfig({ broker: brokerUrl, swarm }, process.env);
  const hub = await Hub.start({
    config,
    logger: hubLogger,
    ledgerPath: join(dir, `${swarm}.sqlite`),
  });
  const agents = [];
  for (let i = 0; i < AGENTS; i++) {
    agents.push(
      await Agent.start({
        config,
        role: 'testing',
        agentId: `bench-${i}`,
        concurrency: CONCURRENCY,
        surroundings: prepareSurroundings({
          config,
          role: 'testing',
          workspace: dir,
          dataDir: join(dir, '.sheri'),
        }),
        logger: process.env.BENCH_DEBUG
          ? hubLogger.child({ agentId: `bench-${i}` })
          : silentLogger(),
      }),
    );
  }
  const submitter = await mqtt.connectAsync(brokerUrl, { protocolVersion: 4 });
  const completedAt = new Map();
  const submittedAt = new Map();
  submitter.on('message', (_topic, raw) => {
    const id = JSON.parse(raw.toString()).payload.task_id;
    if (!completedAt.has(id)) completedAt.set(id, performance.now());
  });
  await submitter.subscribeAsync(`${swarm}/tasks/complete`, { qos: 1 });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: TASKS }, (_, i) => {
      const task_id = `b-${i}`;
      submittedAt.set(task_id, performance.now());
      return submitter.publishAsync(`${swarm}/tasks/new`, taskMessage(task_id), { qos: 1 });
    }),
  );
  while (completedAt.size < TASKS) {
    if (performance.now() - started > 600_000)
      throw new Error(`only ${completedAt.size}/${TASKS} completed`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const elapsed = performance.now() - started;
  const latencies = [...completedAt]
    .map(([id, at]) => at - submittedAt.get(id))
    .sort((a, b) => a - b);
  const pct = (list, p) =>
    Math.round(list[Math.min(list.length - 1, Math.floor((p / 100) * list.length))]);
  while (hub.ledger.counts().complete < TASKS)
    await new Promise((resolve) => setTimeout(resolve, 20));
  const counts = hub.ledger.counts();

  // Latency of one task through an idle swarm: submit → grant → run `true` → complete seen.
  const single = [];
  for (let i = 0; i < SINGLES; i++) {
    const task_id = `s-${i}`;
    const t0 = performance.now();
    await submitter.publishAsync(`${swarm}/tasks/new`, taskMessage(task_id), { qos: 1 });
    while (!completedAt.has(task_id)) await new Promise((resolve) => setImmediate(resolve));
    single.push(completedAt.get(task_id) - t0);
  }
  single.sort((a, b) => a - b);
  await submitter.endAsync();
  for (const agent of agents) await agent.stop('bench over');
  await hub.close();
  return {
    broker: label,
    tasks: TASKS,
    agents: `${AGENTS}×${CONCURRENCY}`,
    seconds: (elapsed / 1000).toFixed(2),
    tasks_per_s: Math.round(TASKS / (elapsed / 1000)),
    burst_p50_ms: pct(latencies, 50),
    burst_p99_ms: pct(latencies, 99),
    idle_p50_ms: pct(single, 50),
    idle_p95_ms: pct(single, 95),
    complete: counts.complete,
    dead: counts.dead,
  };
}

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function withMosquitto(dir, fn) {
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\nmax_inflight_messages 0\n`,
  );
  const child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  const failed = new Promise((resolve) => child.once('error', () => resolve(true)));
  for (let i = 0; i < 100; i++) {
    const open = await new Promise((resolve) => {
      const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
        reconnectPeriod: 0,
        connectTimeout: 500,
      });
      client.once('connect', () => resolve(client.end(true) && true));
      client.once('error', () => resolve(client.end(true) && false));
    });
    if (open) break;
    if (
      await Promise.race([failed, new Promise((resolve) => setTimeout(() => resolve(false), 50))])
    )
      return undefined;
  }
  try {
    return await fn(`mqtt://127.0.0.1:${port}`);
  } finally {
    child.kill();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'sheri-bench-'));
const rows = [];
try {
  const broker = await EmbeddedBroker.start({
    port: 0,
    host: '127.0.0.1',
    logger: silentLogger(),
    dataDir: join(dir, 'broker'),
  });
  rows.push(await run('embedded aedes (level persistence)', broker.url, dir));
  await broker.close();
  const mosquittoRow = await withMosquitto(dir, (url) => run('mosquitto', url, dir));
  if (mosquittoRow) rows.push(mosquittoRow);
  else console.error('mosquitto not installed; skipped its row');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`,
);
console.table(rows);
