// A sheri swarm for the bench, in one of four layouts (embedded broker or mosquitto; one
// process or one per component), with a submitter that also watches grants and outcomes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busSecurity } from '../../dist/src/auth/bus-security.js';
import { loadKeyring } from '../../dist/src/auth/load-keyring.js';
import { loadConfig } from '../../dist/src/config/load.js';
import { silentLogger } from '../../dist/src/logging/logger.js';
import { Bus } from '../../dist/src/transport/bus.js';
import {
  freePort,
  log,
  now,
  plainClient,
  ROOT,
  sleep,
  startMosquitto,
  startProcess,
  startSheri,
  waitForBroker,
} from './lib.mjs';

export const AGENTS = 4;

/**
 * The bench lifts the one limit a burst of 1,000 tasks from one operator runs into (100 tasks
 * a second per submitter, PROTOCOL §15.5); everything else is as shipped.
 */
function writeConfig(dir) {
  const file = join(dir, 'sheri.config.json');
  writeFileSync(
    file,
    JSON.stringify({
      security: {
        rateLimit: { tasksPerSecond: 1e6, taskBurst: 1e6, bytesPerSecond: 1e12, byteBurst: 1e12 },
        maxQueuedPerSubmitter: 1e6,
      },
    }),
  );
  return file;
}

/**
 * Start a swarm. layout: { broker: 'embedded' | 'mosquitto', processes: 'one' | 'separate' };
 * agents: how many agents of role testing (concurrency 1) come with it (0: none, start them with
 * `startAgents`); sandbox: 'auto' (bubblewrap here) or 'none'; signing: true unless told otherwise;
 * hubArgs: more flags for `sheri hub` (separate processes only), e.g. `--ledger postgres://…`. Every process it starts is stopped by `stop()` (and killed if the bench dies).
 */
export async function startSwarm(
  dir,
  layout,
  { agents = AGENTS, sandbox = 'auto', signing = true, hubArgs = [] } = {},
) {
  if (hubArgs.length > 0 && layout.processes !== 'separate')
    throw new Error('startSwarm: hubArgs needs the separate-processes layout');
  mkdirSync(dir, { recursive: true });
  const dataDir = join(dir, 'data');
  const workspace = join(dir, 'ws');
  mkdirSync(workspace, { recursive: true });
  const config = writeConfig(dir);
  const swarm = `b${Math.random().toString(36).slice(2, 8)}`;
  const common = [
    '--swarm',
    swarm,
    '--data-dir',
    dataDir,
    '--config',
    config,
    '--log-level',
    'error',
    '--log-format',
    'json',
  ];
  const sign = signing ? [] : ['--no-signing'];
  const agentFlags = [
    '--workspace',
    workspace,
    ...(sandbox === 'none' ? ['--sandbox', 'none'] : []),
  ];
  const procs = [];
  const roles = {};
  let url;
  if (layout.broker === 'embedded') {
    const port = await freePort();
    url = `mqtt://127.0.0.1:${port}`;
    if (layout.processes === 'one') {
      const agentsFlag = agents > 0 ? ['--agents', `testing=${agents}`] : [];
      roles.hub = roles.broker =
        procs.push(
          startSheri([
            'up',
            '--port',
            String(port),
            ...agentsFlag,
            ...common,
            ...sign,
            ...agentFlags,
          ]),
        ) - 1;
    } else {
      roles.broker =
        procs.push(
          startSheri([
            'broker',
            '--port',
            String(port),
            '--data-dir',
            dataDir,
            '--log-format',
            'json',
            '--log-level',
            'error',
          ]),
        ) - 1;
    }
    await waitForBroker(url);
  } else {
    const mosquitto = await startMosquitto(dir);
    if (!mosquitto) return undefined;
    url = mosquitto.url;
    roles.broker = procs.push(mosquitto.proc) - 1;
    if (layout.processes === 'one') {
      roles.hub =
        procs.push(
          startProcess(process.execPath, [
            join(ROOT, 'scripts/bench/swarm-process.mjs'),
            '--broker',
            url,
            '--swarm',
            swarm,
            '--data-dir',
            dataDir,
            '--config',
            config,
            '--workspace',
            workspace,
            '--agents',
            String(agents),
            ...(sandbox === 'none' ? ['--sandbox', 'none'] : []),
            ...(signing ? [] : ['--no-signing']),
          ]),
        ) - 1;
    }
  }
  if (layout.processes === 'separate') {
    // The hub first: on a fresh data directory it creates the credential store agents use.
    roles.hub =
      procs.push(startSheri(['hub', '--broker', url, ...common, ...sign, ...hubArgs])) - 1;
  }
  const core = procs.length;
  const watcher = await Watcher.connect(url, swarm, dataDir, config, signing);
  await watcher.observeRegistrations(url);
  await watcher.hubOnline();
  const started = {
    url,
    swarm,
    watcher,
    procs,
    hubPid: procs[roles.hub].pid,
    brokerPid: procs[roles.broker].pid,
    get pids() {
      return procs.map((proc) => proc.pid);
    },
    /** `sheri agent` processes of role testing, each with `extra` flags; they join `procs`. */
    startAgents(count, extra = [], idPrefix = 'bench') {
      const started = [];
      for (let i = 1; i <= count; i++) {
        const proc = startSheri([
          'agent',
          '--role',
          'testing',
          '--agent-id',
          `${idPrefix}-${i}`,
          '--broker',
          url,
          ...common,
          ...sign,
          ...agentFlags,
          ...extra,
        ]);
        procs.push(proc);
        started.push(proc);
      }
      return started;
    },
    async stop() {
      await watcher.close();
      // Agents first, the broker last, so no one spends its grace period reconnecting.
      await Promise.all(procs.slice(core).map((proc) => proc.kill('SIGTERM', 8_000)));
      for (const proc of procs.slice(0, core).reverse()) await proc.kill('SIGTERM', 8_000);
    },
  };
  if (layout.processes === 'separate' && agents > 0) started.startAgents(agents);
  if (agents > 0) {
    try {
      await watcher.registered(agents);
      // Each agent's first claim has reached the hub once its first heartbeat has (they go in order).
      await watcher.heartbeats(agents);
    } catch (error) {
      // Say what the swarm's processes said (a run failed once so, 0/4 agents, unexplained).
      const said = procs
        .map(
          (proc) =>
            `--- pid ${proc.pid} (exit ${proc.child.exitCode ?? 'none'}):\n${proc.output().slice(-1500)}`,
        )
        .join('\n');
      await started.stop().catch(() => undefined);
      throw new Error(`${error.message}\n${said}`);
    }
  }
  return started;
}

/**
 * The bench's one client: it submits tasks as the operator (signed, as `sheri task submit`) and
 * watches, on the same connection, each task's grant, first progress and outcome.
 */
export class Watcher {
  grants = new Map();
  progress = new Map();
  outcomes = new Map();
  /** agent id → when its registration was seen. */
  registers = new Map();
  beats = new Set();
  online = false;
  waiters = new Set();

  static async connect(url, swarm, dataDir, configFile, signing) {
    const config = loadConfig({
      broker: url,
      swarm,
      dataDir,
      config: configFile,
      ...(signing ? {} : { signing: false }),
    });
    // The store is the hub's (or `sheri up`'s): wait for it to exist.
    let keyring;
    for (let i = 0; ; i++) {
      try {
        keyring = loadKeyring(config, { kind: 'operator' });
        if (keyring.self || !signing) break;
      } catch (error) {
        if (i > 300) throw error;
      }
      await sleep(50);
    }
    const login = keyring.mqttLogin;
    const bus = await Bus.connect({
      url,
      swarm,
      sender: { agentId: 'operator', role: 'operator' },
      clientId: `sheri-cli-bench-${Math.random().toString(36).slice(2, 8)}`,
      logger: silentLogger(),
      maxPayloadBytes: config.maxPayloadBytes,
      security: busSecurity(config, keyring, false),
      report: false,
      ...(login ? { username: login.username, password: login.password } : {}),
    });
    const watcher = new Watcher(bus, swarm);
    await bus.client.subscribeAsync(
      [
        'tasks/assigned/+',
        'tasks/progress',
        'tasks/complete',
        'tasks/dead',
        'agents/register',
        // Each agent's retained presence too (`agents/<id>/status`): agents started with their
        // hub (`sheri up`, swarm-process.mjs) may register before this client has subscribed
        // (seen: 0, 2 or 3 of 4 registrations, and a bench stuck for 60 s); their retained
        // "online" still reaches it. (This read `agents/+` until 2026-12-02, which matches no
        // status topic: a 0/4 failure of case 2 that day was that.)
        'agents/+/status',
        'agents/heartbeat',
        'hub/status',
      ].map((topic) => `${swarm}/${topic}`),
      { qos: 1 },
    );
    return watcher;
  }

  constructor(bus, swarm) {
    this.bus = bus;
    this.swarm = swarm;
    this.prefix = swarm.length + 1;
    bus.client.on('message', (topic, raw) => this.onMessage(topic, raw));
  }

  /**
   * Registrations seen by a plain client too (anonymous: the embedded broker lets it read on
   * loopback, mosquitto is open here). Under a flood of 200 joining processes the operator's
   * connection was seen to receive only 108–121 of 200 \`agents/register\` messages that this
   * client received in full, on both brokers; not explained yet (reported), so registrations
   * are counted from whichever connection sees them first.
   */
  async observeRegistrations(url) {
    this.observer = await plainClient(url);
    this.observer.on('message', (topic, raw) => this.onMessage(topic, raw));
    await this.observer.subscribeAsync(`${this.swarm}/agents/register`, { qos: 1 });
  }

  onMessage(topic, raw) {
    const prefix = this.prefix;
    const at = now();
    {
      const local = topic.slice(prefix);
      let message;
      try {
        message = JSON.parse(raw.toString('utf8'));
      } catch {
        return;
      }
      const id = message?.payload?.task_id;
      if (local.startsWith('tasks/assigned/')) {
        if (!this.grants.has(id)) this.grants.set(id, at);
      } else if (local === 'tasks/progress') {
        if (!this.progress.has(id)) this.progress.set(id, at);
      } else if (local === 'tasks/complete' || local === 'tasks/dead') {
        if (!this.outcomes.has(id)) this.outcomes.set(id, at);
      } else if (local === 'agents/register') {
        if (!this.registers.has(message.agent_id)) this.registers.set(message.agent_id, at);
      } else if (local === 'agents/heartbeat') {
        this.beats.add(message.agent_id);
      } else if (/^agents\/[^/]+\/status$/.test(local) && message?.payload?.state === 'online') {
        if (!this.registers.has(message.agent_id)) this.registers.set(message.agent_id, at);
      } else if (local === 'hub/status') {
        this.online = message.payload?.state === 'online';
      }
      for (const waiter of this.waiters) waiter();
    }
  }

  until(check, timeoutMs, what) {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`));
      }, timeoutMs);
      const waiter = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve();
      };
      this.waiters.add(waiter);
    });
  }

  hubOnline() {
    return this.until(
      () => this.online,
      60_000,
      () => 'the hub',
    );
  }

  registered(n, timeoutMs = 60_000) {
    return this.until(
      () => this.registers.size >= n,
      timeoutMs,
      () => `${this.registers.size}/${n} agents`,
    );
  }

  heartbeats(n, timeoutMs = 60_000) {
    return this.until(
      () => this.beats.size >= n,
      timeoutMs,
      () => `${this.beats.size}/${n} heartbeats`,
    );
  }

  publish(spec) {
    return this.bus.publish('tasks/new', spec);
  }

  async close() {
    await this.observer?.endAsync(true);
    await this.bus.close();
  }
}

let seq = 0;
/** A task its agent fails at once (no runbook for testing.coverage), or one running `true`. */
export function task(kind) {
  const task_id = `t${++seq}-${Math.random().toString(36).slice(2, 6)}`;
  return kind === 'dispatch'
    ? { task_id, type: 'testing.coverage', payload: {} }
    : { task_id, type: 'testing.run', payload: {}, commands: ['true'] };
}

/** N tasks in one burst; throughput, and submit → started (grant seen) at saturation. */
export async function burst(swarm, kind, n) {
  const { watcher } = swarm;
  const specs = Array.from({ length: n }, () => task(kind));
  const submitted = new Map();
  const started = now();
  await Promise.all(
    specs.map((spec) => {
      submitted.set(spec.task_id, now());
      return watcher.publish(spec);
    }),
  );
  await watcher.until(
    () => specs.every((spec) => watcher.outcomes.has(spec.task_id)),
    600_000,
    () => `${specs.filter((spec) => watcher.outcomes.has(spec.task_id)).length}/${n} outcomes`,
  );
  const last = Math.max(...specs.map((spec) => watcher.outcomes.get(spec.task_id)));
  const seconds = (last - started) / 1000;
  const latency = specs.map(
    (spec) => watcher.grants.get(spec.task_id) - submitted.get(spec.task_id),
  );
  return { seconds, tasksPerS: n / seconds, latency };
}

/** `rate` tasks a second for `n` tasks: submit → started (the grant seen, as its agent gets it). */
export async function steady(swarm, kind, rate, n) {
  const { watcher } = swarm;
  const specs = [];
  const submitted = new Map();
  const t0 = now();
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / rate;
    while (now() < due) await sleep(Math.max(0, due - now() - 1));
    const spec = task(kind);
    specs.push(spec);
    submitted.set(spec.task_id, now());
    void watcher.publish(spec);
  }
  await watcher.until(
    () => specs.every((spec) => watcher.outcomes.has(spec.task_id)),
    120_000,
    () => 'steady outcomes',
  );
  return specs.map((spec) => watcher.grants.get(spec.task_id) - submitted.get(spec.task_id));
}

export { log };
