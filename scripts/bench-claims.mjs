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
import { busSecurity } from '../dist/src/auth/bus-security.js';
import { CredentialStore } from '../dist/src/auth/credential-store.js';
import { loadKeyring } from '../dist/src/auth/load-keyring.js';
import { EmbeddedBroker } from '../dist/src/broker/embedded-broker.js';
import { DEFAULTS } from '../dist/src/config/defaults.js';
import { loadConfig } from '../dist/src/config/load.js';
import { Bus } from '../dist/src/transport/bus.js';
import { createLogger, silentLogger } from '../dist/src/logging/logger.js';
const hubLogger = process.env.BENCH_DEBUG
  ? createLogger({ format: 'json', level: 'debug' })
  : silentLogger();
import { Hub } from '../dist/src/tasks/hub.js';

const TASKS = Number(process.env.BENCH_TASKS ?? 2000);
const AGENTS = Number(process.env.BENCH_AGENTS ?? 20);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 2);
const SINGLES = Number(process.env.BENCH_SINGLES ?? 50);

/** A task that runs `true`: the cheapest real command. */
function taskSpec(task_id) {
  return { task_id, type: 'testing.run', payload: {}, commands: ['true'] };
}

/**
 * One run: a hub, AGENTS agents and TASKS tasks on `brokerUrl`, as the swarm's own identities
 * (the credential store of `dir`), signing every envelope or not (PROTOCOL §15.4).
 */
async function run(label, brokerUrl, dir, signing) {
  console.error(`bench: ${label}, ${TASKS} tasks, ${AGENTS} agents × ${CONCURRENCY}`);
  const swarm = `bench${Math.random().toString(36).slice(2, 7)}`;
  // The burst of TASKS tasks from one operator is the point: lift its rate limit.
  const security = {
    ...DEFAULTS.security,
    signing,
    rateLimit: { tasksPerSecond: 1e6, taskBurst: 1e6, bytesPerSecond: 1e12, byteBurst: 1e12 },
  };
  const config = loadConfig({ broker: brokerUrl, swarm, dataDir: dir }, process.env, { security });
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
  // `sheri task submit`'s client: the local operator, signing as the swarm does.
  const keyring = loadKeyring(config, { kind: 'operator' });
  const login = keyring.mqttLogin;
  const bus = await Bus.connect({
    url: brokerUrl,
    swarm,
    sender: { agentId: 'operator', role: 'operator' },
    clientId: `sheri-cli-bench-${swarm}`,
    logger: silentLogger(),
    maxPayloadBytes: config.maxPayloadBytes,
    security: busSecurity(config, keyring, false),
    report: false,
    username: login.username,
    password: login.password,
  });
  const submitter = bus.client;
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
      return bus.publish('tasks/new', taskSpec(task_id));
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
    await bus.publish('tasks/new', taskSpec(task_id));
    while (!completedAt.has(task_id)) await new Promise((resolve) => setImmediate(resolve));
    single.push(completedAt.get(task_id) - t0);
  }
  single.sort((a, b) => a - b);
  await bus.close();
  for (const agent of agents) await agent.stop('bench over');
  await hub.close();
  return {
    broker: label,
    signed: signing ? 'yes' : 'no',
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
  // As `sheri up` makes them: the credential store, and the broker checking every login.
  const store = CredentialStore.openOrCreate(join(dir, '.sheri'));
  for (const signing of [false, true]) {
    const broker = await EmbeddedBroker.start({
      port: 0,
      host: '127.0.0.1',
      logger: silentLogger(),
      dataDir: join(dir, `broker-${signing}`),
      auth: store,
    });
    rows.push(await run('embedded aedes, authenticated', broker.url, join(dir, '.sheri'), signing));
    await broker.close();
  }
  for (const signing of [false, true]) {
    const row = await withMosquitto(dir, (url) =>
      run('mosquitto (open)', url, join(dir, '.sheri'), signing),
    );
    if (row) rows.push(row);
    else console.error('mosquitto not installed; skipped its rows');
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`,
);
console.table(rows);
// Signing's cost, side by side: tasks/s signed against unsigned on the same broker.
for (const broker of new Set(rows.map((row) => row.broker))) {
  const unsigned = rows.find((row) => row.broker === broker && row.signed === 'no');
  const signed = rows.find((row) => row.broker === broker && row.signed === 'yes');
  if (!unsigned || !signed) continue;
  const cost = ((unsigned.tasks_per_s - signed.tasks_per_s) / unsigned.tasks_per_s) * 100;
  console.log(
    `${broker}: ${unsigned.tasks_per_s} tasks/s unsigned, ${signed.tasks_per_s} signed: signing costs ${cost.toFixed(1)} % of dispatch throughput (idle p50 ${unsigned.idle_p50_ms} → ${signed.idle_p50_ms} ms)`,
  );
}
await microbench();

/** What one message costs to sign and check, apart from everything else. */
async function microbench() {
  const { signBody, splitSignature, checkSignature } =
    await import('../dist/src/protocol/signature.js');
  const { randomBytes, generateKeyPairSync } = await import('node:crypto');
  const key = { alg: 'hs256', key: randomBytes(32) };
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const body = JSON.stringify({
    id: '6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9',
    timestamp: new Date().toISOString(),
    agent_id: 'testing-abc123',
    role: 'testing',
    payload: { task_id: 'b-1', attempt: 1, message: 'running 1/1: true', percent: 0 },
  });
  const time = (n, fn) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn();
    return ((performance.now() - t0) * 1000) / n;
  };
  const hsSign = time(50_000, () => signBody('s/tasks/progress', body, 'agent:testing:x:1', key));
  const signedHs = Buffer.from(signBody('s/tasks/progress', body, 'agent:testing:x:1', key));
  const hsCheck = time(50_000, () =>
    checkSignature('s/tasks/progress', splitSignature(signedHs), key),
  );
  const ed = { alg: 'ed25519', key: privateKey };
  const edSign = time(5_000, () => signBody('s/hub/status', body, 'hub:-:hub:1', ed));
  const signedEd = Buffer.from(signBody('s/hub/status', body, 'hub:-:hub:1', ed));
  const edCheck = time(5_000, () =>
    checkSignature('s/hub/status', splitSignature(signedEd), { alg: 'ed25519', key: publicKey }),
  );
  console.log(
    `per ${body.length}-byte envelope: hs256 sign ${hsSign.toFixed(1)} µs, check ${hsCheck.toFixed(1)} µs; ed25519 sign ${edSign.toFixed(1)} µs, check ${edCheck.toFixed(1)} µs`,
  );
}
