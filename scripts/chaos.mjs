#!/usr/bin/env node
// Fault run: a swarm of real processes (broker, hub, agents) works through a batch of tasks while
// agents are killed with -9 and replaced, the hub and the broker are killed with -9 and restarted,
// and garbage is published. At the end it counts what was lost and what ran twice.
//
//   npm run build && node scripts/chaos.mjs            (CHAOS_TASKS, CHAOS_AGENTS to change the size)
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { busSecurity } from '../dist/src/auth/bus-security.js';
import { CredentialStore } from '../dist/src/auth/credential-store.js';
import { loadKeyring } from '../dist/src/auth/load-keyring.js';
import { loadConfig } from '../dist/src/config/load.js';
import { silentLogger } from '../dist/src/logging/logger.js';
import { Bus } from '../dist/src/transport/bus.js';

const TASKS = Number(process.env.CHAOS_TASKS ?? 300);
const AGENTS = Number(process.env.CHAOS_AGENTS ?? 6);
const SHERI = fileURLToPath(new URL('../dist/bin/sheri.js', import.meta.url));
const swarm = 'chaos';
const dir = mkdtempSync(join(tmpdir(), 'sheri-chaos-'));
// The swarm's state (credentials, broker, ledger) apart from the agents' workspace, as sheri wants.
const stateDir = join(dir, 'state');
const workspace = join(dir, 'ws');
mkdirSync(stateDir);
mkdirSync(workspace);
const log = join(workspace, 'executions.log');
const config = join(dir, 'sheri.config.json');
writeFileSync(config, JSON.stringify({ leaseMs: 5_000, heartbeatMs: 1_000, maxAttempts: 10 }));

const port = await new Promise((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    server.close(() => resolve(port));
  });
});
const broker = `mqtt://127.0.0.1:${port}`;
const common = [
  '--broker',
  broker,
  '--swarm',
  swarm,
  '--config',
  config,
  '--data-dir',
  stateDir,
  '--log-format',
  'json',
];

const KEEP = Boolean(process.env.CHAOS_KEEP); // keep the folder and every process's log
const LIMIT_MS = Number(process.env.CHAOS_LIMIT_S ?? 300) * 1000;
let logSeq = 0;
function start(args) {
  const out = KEEP ? openSync(join(dir, `${args[0]}-${logSeq++}.log`), 'w') : 'ignore';
  const child = spawn(process.execPath, [SHERI, ...args], {
    stdio: ['ignore', out, out],
    cwd: dir,
  });
  child.exited = new Promise((resolve) => child.once('exit', resolve));
  return child;
}
const startBroker = () =>
  start(['broker', '--port', String(port), '--data-dir', stateDir, '--log-format', 'json']);
const startHub = () => start(['hub', ...common]);
let agentSeq = 0;
const startAgent = () =>
  start([
    'agent',
    '--role',
    'testing',
    '--agent-id',
    `chaos-${agentSeq++}`,
    '--concurrency',
    '2',
    '--workspace',
    workspace,
    ...common,
  ]);
async function kill9(child) {
  child.kill('SIGKILL');
  await child.exited;
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const counts = { agentsKilled: 0, hubKills: 0, brokerKills: 0, garbageSent: 0, errorsSeen: 0 };

let brokerProcess = startBroker();
await sleep(800);
let hub = startHub();
const agents = Array.from({ length: AGENTS }, startAgent);

// The swarm's credentials, as `sheri up` makes them on first start (PROTOCOL §15.2).
CredentialStore.openOrCreate(stateDir);
const swarmConfig = loadConfig({ broker, swarm, dataDir: stateDir }, process.env);
// The operator submits (signed), as `sheri task submit` does; it reconnects after a broker kill.
const operator = loadKeyring(swarmConfig, { kind: 'operator' });
const submitter = Bus.open({
  url: broker,
  swarm,
  sender: { agentId: 'operator', role: 'operator' },
  clientId: `sheri-cli-chaos-${process.pid}`,
  logger: silentLogger(),
  maxPayloadBytes: swarmConfig.maxPayloadBytes,
  security: busSecurity(swarmConfig, operator, false),
  report: false,
  username: operator.mqttLogin.username,
  password: operator.mqttLogin.password,
});
await submitter.ready();
// A watcher that counts error reports, logged in as an observer; it also sends the garbage.
const observer = loadKeyring(swarmConfig, { kind: 'observer' }).mqttLogin;
const watcher = mqtt.connect(broker, {
  protocolVersion: 4,
  reconnectPeriod: 200,
  username: operator.mqttLogin.username,
  password: operator.mqttLogin.password,
  clientId: `sheri-cli-chaos-garbage-${process.pid}`,
});
const errorWatcher = mqtt.connect(broker, {
  protocolVersion: 4,
  reconnectPeriod: 200,
  username: observer.username,
  password: observer.password,
  clientId: `sheri-cli-chaos-watch-${process.pid}`,
});
let hubOnline = false;
errorWatcher.on('message', (topic, payload) => {
  if (topic.endsWith('/errors')) counts.errorsSeen += 1;
  else hubOnline = JSON.parse(payload.toString()).payload.state === 'online';
});
errorWatcher.on('connect', () =>
  errorWatcher.subscribe([`${swarm}/errors`, `${swarm}/hub/status`], { qos: 1 }),
);
// Tasks published before any hub has subscribed would reach no one (`sheri task submit` refuses).
while (!hubOnline) await sleep(50);

const started = Date.now();
for (let i = 0; i < TASKS; i++) {
  await submitter.publish('tasks/new', {
    task_id: `c-${i}`,
    type: 'testing.run',
    payload: {},
    commands: [`sleep 0.2; echo "$SHERI_TASK_ID $SHERI_ATTEMPT $SHERI_AGENT_ID" >> ${log}`],
  });
}

const ledger = () => {
  const path = join(stateDir, `hub-${swarm}.sqlite`);
  if (!existsSync(path)) return {};
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return Object.fromEntries(
      db
        .prepare('SELECT state, COUNT(*) n FROM tasks GROUP BY state')
        .all()
        .map((r) => [r.state, r.n]),
    );
  } finally {
    db.close();
  }
};
const settled = () => {
  const state = ledger();
  return (state.complete ?? 0) + (state.dead ?? 0) >= TASKS;
};

let tick = 0;
while (!settled() && Date.now() - started < LIMIT_MS) {
  tick += 1;
  // Every 1.5 s: kill -9 a random agent and start a replacement.
  const victim = Math.floor(Math.random() * agents.length);
  await kill9(agents[victim]);
  agents[victim] = startAgent();
  counts.agentsKilled += 1;
  // Garbage on the task topic and an agent topic.
  if (watcher.connected) {
    for (let g = 0; g < 20; g++) {
      watcher.publish(
        `${swarm}/${g % 2 ? 'tasks/new' : 'tasks/claim'}`,
        g % 3 ? `{garbage ${tick}-${g}` : JSON.stringify({ id: `g${tick}-${g}`, payload: 42 }),
        { qos: 1 },
      );
      counts.garbageSent += 1;
    }
  }
  if (tick === 3 && !process.env.CHAOS_NO_HUB_KILL) {
    await kill9(hub);
    counts.hubKills += 1;
    await sleep(1_000);
    hub = startHub();
  }
  if (tick === 6 && !process.env.CHAOS_NO_BROKER_KILL) {
    await kill9(brokerProcess);
    counts.brokerKills += 1;
    await sleep(2_000);
    brokerProcess = startBroker();
  }
  await sleep(1_500);
}

const state = ledger();
const runs = new Map();
for (const line of readFileSync(log, 'utf8').split('\n').filter(Boolean)) {
  const [taskId] = line.split(' ');
  runs.set(taskId, (runs.get(taskId) ?? 0) + 1);
}
const ranTwice = [...runs.values()].filter((n) => n > 1).length;
const neverRan = Array.from({ length: TASKS }, (_, i) => `c-${i}`).filter(
  (id) => !runs.has(id),
).length;
const result = {
  tasks: TASKS,
  agents: AGENTS,
  seconds: Math.round((Date.now() - started) / 1000),
  ...counts,
  complete: state.complete ?? 0,
  dead: state.dead ?? 0,
  lost: TASKS - (state.complete ?? 0) - (state.dead ?? 0),
  neverRan,
  ranTwice,
};
console.log(JSON.stringify(result, null, 2));

watcher.end(true);
errorWatcher.end(true);
await submitter.destroy();
for (const child of [...agents, hub, brokerProcess]) child.kill('SIGKILL');
await Promise.all([...agents, hub, brokerProcess].map((child) => child.exited));
if (KEEP) console.log(`logs and ledger kept in ${dir}`);
else rmSync(dir, { recursive: true, force: true });
process.exit(result.lost === 0 && neverRan === 0 ? 0 : 1);
