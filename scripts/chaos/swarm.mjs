// One swarm of real processes for one scenario run: a broker (`sheri broker` on disk, or
// mosquitto), `sheri hub`, `sheri agent`s, the signed operator that submits, and a recorder on
// `<swarm>/#` logged in as an observer. Everything it starts is torn down by close() or, on a
// failure or Ctrl-C, by the runner's teardown.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { busSecurity } from '../../dist/src/auth/bus-security.js';
import { CredentialStore } from '../../dist/src/auth/credential-store.js';
import { loadKeyring } from '../../dist/src/auth/load-keyring.js';
import { loadConfig } from '../../dist/src/config/load.js';
import { silentLogger } from '../../dist/src/logging/logger.js';
import { Bus } from '../../dist/src/transport/bus.js';
import { parseSideEffects } from './count.mjs';
import { destroy, launch, signalProcess, signalTree } from './processes.mjs';
import { onTeardown } from './teardown.mjs';

const SHERI = fileURLToPath(new URL('../../dist/bin/sheri.js', import.meta.url));
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `check` every `everyMs` until it returns something truthy; throw `what` after `ms`. */
export async function until(check, ms, what, everyMs = 100) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

async function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function listening(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

let swarmSeq = 0;

export class ChaosSwarm {
  /**
   * `broker`: 'embedded' | 'mosquitto'; `persistence`: mosquitto's `persistence` (true, or its
   * default false); `config`: the sheri.config.json of every process; `hubOnTmpfs`: size in KiB
   * of a tmpfs that holds the hub's data dir (and so its ledger) — scenario 5.
   */
  static async create(options) {
    const swarm = new ChaosSwarm(options);
    await swarm.prepare();
    return swarm;
  }

  constructor({
    broker,
    persistence = true,
    config = {},
    sandbox = 'auto',
    keep = false,
    hubOnTmpfs,
  }) {
    this.brokerKind = broker;
    this.persistence = persistence;
    this.sandbox = sandbox;
    this.keep = keep;
    this.hubOnTmpfs = hubOnTmpfs;
    this.swarm = `chaos${process.pid}x${swarmSeq++}`;
    this.dir = mkdtempSync(join(tmpdir(), 'sheri-chaos-'));
    this.stateDir = join(this.dir, 'state');
    this.hubDataDir = this.stateDir;
    this.workspace = join(this.dir, 'ws');
    this.logs = join(this.dir, 'logs');
    for (const dir of [this.stateDir, this.workspace, this.logs]) mkdirSync(dir, { mode: 0o700 });
    this.startsFile = join(this.workspace, 'starts');
    this.doneFile = join(this.workspace, 'done');
    this.config = { leaseMs: 10_000, heartbeatMs: 2_000, ...config };
    this.configFile = join(this.dir, 'sheri.config.json');
    writeFileSync(this.configFile, JSON.stringify(this.config));
    this.agents = [];
    this.hubs = [];
    this.brokers = [];
    this.agentSeq = 0;
    this.logSeq = 0;
    this.messages = [];
    this.listeners = new Set();
    this.waiters = new Set();
    this.removeTeardown = onTeardown(() => this.close());
  }

  async prepare() {
    this.port = await freePort();
    this.url = `mqtt://127.0.0.1:${this.port}`;
    // The swarm's credentials, as `sheri up` makes them on first start (PROTOCOL §15.2).
    CredentialStore.openOrCreate(this.stateDir);
    if (this.hubOnTmpfs) {
      this.tmpfs = join(this.dir, 'hub-tmpfs');
      mkdirSync(this.tmpfs);
      execFileSync('mount', [
        '-t',
        'tmpfs',
        '-o',
        `size=${this.hubOnTmpfs}k,mode=0700`,
        'tmpfs',
        this.tmpfs,
      ]);
      this.hubDataDir = this.tmpfs;
      copyFileSync(join(this.stateDir, 'credentials.json'), join(this.tmpfs, 'credentials.json'));
      chmodSync(join(this.tmpfs, 'credentials.json'), 0o600);
    }
    const swarmConfig = loadConfig(
      { broker: this.url, swarm: this.swarm, dataDir: this.stateDir },
      {},
    );
    this.operatorKeys = loadKeyring(swarmConfig, { kind: 'operator' });
    this.observerLogin = loadKeyring(swarmConfig, { kind: 'observer' }).mqttLogin;
    this.swarmConfig = swarmConfig;
  }

  get ledgerPath() {
    return join(this.hubDataDir, `hub-${this.swarm}.sqlite`);
  }

  common(dataDir = this.stateDir) {
    return [
      '--broker',
      this.url,
      '--swarm',
      this.swarm,
      '--config',
      this.configFile,
      '--data-dir',
      dataDir,
      '--log-format',
      'json',
    ];
  }

  logFile(name) {
    return join(this.logs, `${String(this.logSeq++).padStart(2, '0')}-${name}.log`);
  }

  sheri(name, args) {
    return launch(process.execPath, [SHERI, ...args], {
      cwd: this.dir,
      logPath: this.logFile(name),
    });
  }

  // ---- broker ----

  async startBroker() {
    let child;
    if (this.brokerKind === 'embedded') {
      child = this.sheri('broker', [
        'broker',
        '--port',
        String(this.port),
        '--data-dir',
        this.stateDir,
        '--log-format',
        'json',
      ]);
    } else {
      const data = join(this.dir, 'mosquitto');
      mkdirSync(data, { recursive: true });
      const conf = join(this.dir, 'mosquitto.conf');
      writeFileSync(
        conf,
        [
          `listener ${this.port} 127.0.0.1`,
          // Open on loopback: the swarm still signs every envelope (PROTOCOL §15.4).
          'allow_anonymous true',
          // Run as root, mosquitto would drop to its own user, who cannot write the temp dir.
          'user root',
          this.persistence ? 'persistence true' : 'persistence false',
          `persistence_location ${data}/`,
          'max_queued_messages 100000',
          'max_inflight_messages 0',
          'log_dest stdout',
          '',
        ].join('\n'),
      );
      child = launch('mosquitto', ['-c', conf], {
        cwd: this.dir,
        logPath: this.logFile('mosquitto'),
      });
    }
    this.broker = child;
    this.brokers.push(child);
    await until(
      async () => !child.alive() || (await listening(this.port)),
      60_000,
      `the broker to listen (its log: ${child.logPath})`,
      50,
    );
    if (!child.alive()) throw new Error(`the broker exited at start; see ${child.logPath}`);
    this.brokerStartedAt = Date.now();
  }

  async stopBroker(signal) {
    await signalProcess(this.broker, signal);
    if (signal === 'SIGKILL' || signal === 'SIGTERM') await this.broker.exited;
  }

  // ---- clients of the suite ----

  /** The recorder: every message on `<swarm>/#`, with the time it arrived. */
  async startRecorder() {
    this.recorder = mqtt.connect(this.url, {
      protocolVersion: 4,
      reconnectPeriod: 200,
      username: this.observerLogin.username,
      password: this.observerLogin.password,
      clientId: `sheri-cli-chaos-rec-${process.pid}-${swarmSeq}`,
    });
    this.recorder.on('error', () => {});
    this.recorder.on('connect', () => this.recorder.subscribe(`${this.swarm}/#`, { qos: 1 }));
    this.recorder.on('message', (topic, bytes, packet) => {
      let envelope = null;
      try {
        envelope = bytes.length > 0 ? JSON.parse(bytes.toString()) : null;
      } catch {
        envelope = undefined;
      }
      const message = {
        at: Date.now(),
        topic: topic.slice(this.swarm.length + 1),
        retained: packet.retain,
        envelope,
        payload: envelope?.payload,
      };
      this.messages.push(message);
      for (const listener of this.listeners) listener(message);
    });
    await new Promise((resolve) => this.recorder.once('connect', resolve));
  }

  /** Recorded messages on a local topic (a trailing `+` matches one level). */
  on(topic) {
    if (topic.endsWith('/+')) {
      const head = topic.slice(0, -1);
      return this.messages.filter((m) => m.topic.startsWith(head));
    }
    return this.messages.filter((m) => m.topic === topic);
  }

  /**
   * Resolve with the first message (recorded from now on) that `match` accepts; reject after
   * `ms`. close() drops every waiter, so none fires after its swarm is gone.
   */
  nextMessage(match, ms, what) {
    return new Promise((resolve, reject) => {
      const waiter = {
        timer: setTimeout(() => {
          this.listeners.delete(waiter.listener);
          reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
        }, ms),
        listener: (message) => {
          if (!match(message)) return;
          clearTimeout(waiter.timer);
          this.listeners.delete(waiter.listener);
          this.waiters.delete(waiter);
          resolve(message);
        },
      };
      this.waiters.add(waiter);
      this.listeners.add(waiter.listener);
    });
  }

  async startSubmitter() {
    const keys = this.operatorKeys;
    this.submitter = Bus.open({
      url: this.url,
      swarm: this.swarm,
      sender: { agentId: 'operator', role: 'operator' },
      clientId: `sheri-cli-chaos-${process.pid}-${swarmSeq}`,
      logger: silentLogger(),
      maxPayloadBytes: this.swarmConfig.maxPayloadBytes,
      security: busSecurity(this.swarmConfig, keys, false),
      report: false,
      username: keys.mqttLogin.username,
      password: keys.mqttLogin.password,
    });
    await this.submitter.ready();
  }

  /** Publish each spec to `tasks/new` as the signed operator; resolves when all are PUBACKed. */
  async submit(specs) {
    for (const spec of specs) await this.submitter.publish('tasks/new', spec);
    return specs.map((spec) => spec.task_id);
  }

  /**
   * The suite's task: a start line, `seconds` of work, a done line — so the files show each
   * execution begun and each run to its end (`$SHERI_*` from `taskEnvironment`).
   */
  task(id, { seconds = 0.3, fail = false, extra = {} } = {}) {
    const line = '"$SHERI_TASK_ID $SHERI_ATTEMPT $SHERI_AGENT_ID"';
    const command = fail
      ? `echo ${line} >> ${this.startsFile}; exit 1`
      : `echo ${line} >> ${this.startsFile}; sleep ${seconds}; echo ${line} >> ${this.doneFile}`;
    return { task_id: id, type: 'testing.run', payload: {}, commands: [command], ...extra };
  }

  // ---- hub and agents ----

  async startHub() {
    const since = Date.now();
    const child = this.sheri('hub', ['hub', ...this.common(this.hubDataDir)]);
    this.hub = child;
    this.hubs.push(child);
    await until(
      () => !child.alive() || this.hubOnlineSince(since),
      // Generous: the machine is shared, and a start under load has taken over 30 s.
      60_000,
      `the hub to say it is online (its log: ${child.logPath})`,
    );
    if (!child.alive()) throw new Error(`the hub exited at start; see ${child.logPath}`);
  }

  hubOnlineSince(since) {
    return this.on('hub/status').some((m) => m.at >= since && m.payload?.state === 'online');
  }

  /** The id the next startAgent() will give. */
  nextAgentId() {
    return `chaos-${this.agentSeq}`;
  }

  async startAgent({ concurrency = 2, wait = true } = {}) {
    const id = `chaos-${this.agentSeq++}`;
    const since = Date.now();
    const child = this.sheri(id, [
      'agent',
      '--role',
      'testing',
      '--agent-id',
      id,
      '--concurrency',
      String(concurrency),
      '--workspace',
      this.workspace,
      '--sandbox',
      this.sandbox,
      ...this.common(),
    ]);
    const agent = { id, child, startedAt: since };
    this.agents.push(agent);
    if (wait) await this.waitAgentOnline(agent, since);
    return agent;
  }

  async waitAgentOnline(agent, since, ms = 60_000) {
    await until(
      () =>
        !agent.child.alive() ||
        this.on(`agents/${agent.id}/status`).some(
          (m) => m.at >= since && m.payload?.state === 'online',
        ),
      ms,
      `agent ${agent.id} to be online`,
    );
    if (!agent.child.alive())
      throw new Error(`agent ${agent.id} exited; see ${agent.child.logPath}`);
  }

  liveAgents() {
    return this.agents.filter((a) => a.child.alive());
  }

  async killAgent(agent, signal = 'SIGKILL') {
    await signalProcess(agent.child, signal);
  }

  freeze(agent) {
    return signalTree(agent.child, 'SIGSTOP');
  }

  thaw(agent) {
    return signalTree(agent.child, 'SIGCONT');
  }

  // ---- what happened ----

  sideEffects() {
    const read = (path) => (existsSync(path) ? parseSideEffects(readFileSync(path, 'utf8')) : []);
    return { starts: read(this.startsFile), done: read(this.doneFile) };
  }

  /** Rows of the ledger, read-only; [] while it does not exist, null if it cannot be read now. */
  ledger(sql = 'SELECT task_id, state, attempt, failures FROM tasks', params = []) {
    if (!existsSync(this.ledgerPath)) return [];
    let db;
    try {
      db = new Database(this.ledgerPath, { readonly: true, fileMustExist: true });
      db.pragma('busy_timeout = 2000');
      return db.prepare(sql).all(...params);
    } catch {
      return null;
    } finally {
      db?.close();
    }
  }

  events(kinds) {
    const marks = kinds.map(() => '?').join(', ');
    return this.ledger(
      `SELECT task_id, at, kind, agent_id, attempt, detail FROM task_events WHERE kind IN (${marks}) ORDER BY id`,
      kinds,
    );
  }

  /** How many of `ids` the ledger has finished (complete or dead). */
  finished(ids) {
    const rows = this.ledger();
    if (!rows) return undefined;
    const wanted = new Set(ids);
    return rows.filter(
      (r) => wanted.has(r.task_id) && (r.state === 'complete' || r.state === 'dead'),
    ).length;
  }

  /** Wait for all of `ids` to finish, up to `ms`; false if they did not. */
  async settle(ids, ms) {
    try {
      await until(() => this.finished(ids) >= ids.length, ms, 'the tasks to finish', 250);
      return true;
    } catch {
      return false;
    }
  }

  /** After settling: let commands that still run (a superseded attempt) end, up to `ms`. */
  async quiesce(ms = 3_000) {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const { starts, done } = this.sideEffects();
      if (done.length >= starts.length) return;
      await sleep(100);
    }
  }

  /** Last lines of a process's log matching `pattern`, for a FAIL's note. */
  logLines(child, pattern, limit = 3) {
    if (!existsSync(child.logPath)) return [];
    return readFileSync(child.logPath, 'utf8')
      .split('\n')
      .filter((line) => pattern.test(line))
      .slice(-limit)
      .map((line) => {
        try {
          const entry = JSON.parse(line);
          return [entry.msg, entry.err?.message ?? entry.err?.code].filter(Boolean).join(': ');
        } catch {
          return line.slice(0, 200);
        }
      });
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    this.removeTeardown?.();
    for (const waiter of this.waiters) clearTimeout(waiter.timer);
    this.listeners.clear();
    const children = [...this.agents.map((a) => a.child), ...this.hubs, ...this.brokers];
    await Promise.all(children.map((child) => destroy(child)));
    this.recorder?.end(true);
    await this.submitter?.destroy().catch(() => {});
    if (this.tmpfs) {
      try {
        execFileSync('umount', [this.tmpfs]);
      } catch {
        execFileSync('umount', ['-l', this.tmpfs]);
      }
    }
    if (this.keep) console.log(`  kept ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}
