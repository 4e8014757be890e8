import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../src/agent/agent.js';
import { prepareSurroundings } from '../../src/agent/agent-setup.js';
import { CredentialStore } from '../../src/auth/credential-store.js';
import { EmbeddedBroker } from '../../src/broker/embedded-broker.js';
import { loadConfig, type Config } from '../../src/config/load.js';
import { silentLogger } from '../../src/logging/logger.js';
import { withoutLlmSettings } from './tools.js';
import type { TaskSpec } from '../../src/protocol/messages.js';
import { TOPIC } from '../../src/protocol/topics.js';
import { Hub } from '../../src/tasks/hub.js';
import { HubElection } from '../../src/tasks/hub-election.js';
import type { Bus, BusOptions } from '../../src/transport/bus.js';
import { BusRecorder } from './bus-recorder.js';
import { connectAs, loginFor, signerFor, type TestIdentity } from './identities.js';

/**
 * Everything a test started, torn down in reverse order by `close()`. The swarm runs as `sheri
 * up` does by default (PROTOCOL §15): a credential store in `dir` (its data directory), an
 * authenticating broker, signed envelopes.
 */
export class TestSwarm {
  readonly dir = mkdtempSync(join(tmpdir(), 'sheri-test-'));
  /** Its data directory, where `sheri` commands run in `dir` look by default (`./.sheri`). */
  readonly dataDir = join(this.dir, '.sheri');
  /** The swarm's credential store, as `sheri up` creates it on first start. */
  readonly store = CredentialStore.openOrCreate(this.dataDir);
  private readonly closers: (() => Promise<void>)[] = [];
  private submitter: Bus | undefined;
  readonly swarm = `t${Math.random().toString(36).slice(2, 8)}`;
  brokerUrl = '';

  /** Tight timings so leases and retries show within a test's time. */
  config(overrides: Partial<Config> = {}): Config {
    return loadConfig(
      { broker: this.brokerUrl, swarm: this.swarm, dataDir: this.dataDir },
      // Stands for the agent's environment (commands get only an allowlist), minus any LLM
      // settings of the developer's shell: a test never reaches a real model API.
      withoutLlmSettings(process.env),
      {
        heartbeatMs: 1_000,
        leaseMs: 5_000,
        leaseCheckMs: 200,
        willGraceMs: 1_000,
        retryBaseMs: 100,
        retryMaxMs: 1_000,
        ...overrides,
      },
    );
  }

  /**
   * The broker `sheri up` runs: aedes with its store on disk (unless `inMemory`), checking
   * credentials (unless `open`: `sheri broker --no-auth`).
   */
  async startBroker(options: { inMemory?: boolean; open?: boolean } = {}): Promise<EmbeddedBroker> {
    const broker = await EmbeddedBroker.start({
      port: 0,
      host: '127.0.0.1',
      logger: silentLogger(),
      ...(options.inMemory ? {} : { dataDir: join(this.dir, 'broker') }),
      ...(options.open ? {} : { auth: this.store }),
    });
    this.brokerUrl = broker.url;
    this.closers.push(() => broker.close());
    return broker;
  }

  useBroker(url: string): void {
    this.brokerUrl = url;
  }

  get ledgerPath(): string {
    return join(this.dir, 'ledger.sqlite');
  }

  async startHub(overrides: Partial<Config> = {}): Promise<Hub> {
    const hub = await Hub.start({
      config: this.config(overrides),
      logger: silentLogger(),
      ledgerPath: this.ledgerPath,
    });
    this.closers.push(() => hub.close());
    return hub;
  }

  /** A hub elected on the PostgreSQL ledger at `url`, once it leads (hub-election.ts). */
  async startElectedHub(url: string, overrides: Partial<Config> = {}): Promise<Hub> {
    const election = await HubElection.start({
      url,
      config: this.config(overrides),
      logger: silentLogger(),
    });
    this.closers.push(() => election.close());
    return election.hub ?? (await election.nextLead());
  }

  async startAgent(
    role: string,
    overrides: Partial<Config> = {},
    concurrency = 1,
    workspace = this.dir,
    agentId = `${role}-${Math.random().toString(36).slice(2, 8)}`,
  ): Promise<Agent> {
    const config = this.config(overrides);
    const agent = await Agent.start({
      config,
      role,
      agentId,
      concurrency,
      surroundings: prepareSurroundings({
        config,
        role,
        workspace,
        cwd: this.dir,
      }),
      logger: silentLogger(),
    });
    this.closers.push(() => agent.stop('test over'));
    return agent;
  }

  /** Publish tasks on `<swarm>/tasks/new` as the local operator would (`sheri task submit`). */
  async submit(specs: TaskSpec[]): Promise<void> {
    if (!this.submitter) {
      const submitter = await this.connectAs({ kind: 'operator' });
      this.submitter = submitter;
    }
    const submitter = this.submitter;
    await Promise.all(specs.map((spec) => submitter.publish(TOPIC.tasksNew, spec)));
  }

  /** A client of this swarm acting as `identity` (signing, unless told not to); closed with it. */
  async connectAs(
    identity: TestIdentity,
    options: { signing?: boolean; clientId?: string; will?: BusOptions['will'] } = {},
  ): Promise<Bus> {
    const bus = await connectAs(this.brokerUrl, this.swarm, this.store, identity, options);
    this.closers.push(() => bus.close());
    return bus;
  }

  /** A recorder of `<swarm>/<filter>`, logged in as an observer (it sees everything). */
  async record(filter = '#', as: TestIdentity = { kind: 'observer' }): Promise<BusRecorder> {
    const recorder = await BusRecorder.start(this.brokerUrl, this.swarm, filter, this.login(as));
    this.closers.push(() => recorder.close());
    return recorder;
  }

  login(identity: TestIdentity): { username: string; password: string } {
    return loginFor(this.store, identity);
  }

  /** Sign `body` on `local` with `identity`'s key: how a credential holder would forge. */
  sign(
    identity: TestIdentity,
    local: string,
    body: string,
    recipient?: { name: string; role?: string },
  ): string {
    return signerFor(this.store, this.swarm, identity)(local, body, recipient);
  }

  /** The side-effect file: each task's command appends "<task id> <agent id>". */
  get executionLog(): string {
    return join(this.dir, 'executions.log');
  }

  /** A task whose command proves it ran, and who ran it. */
  taskAppending(
    taskId: string,
    type: string,
    extra: Partial<TaskSpec> = {},
    before = '',
  ): TaskSpec {
    return {
      task_id: taskId,
      type,
      payload: {},
      commands: [`${before}echo "$SHERI_TASK_ID $SHERI_AGENT_ID" >> "${this.executionLog}"`],
      ...extra,
    };
  }

  executions(): { taskId: string; agentId: string }[] {
    if (!existsSync(this.executionLog)) return [];
    return readFileSync(this.executionLog, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [taskId = '', agentId = ''] = line.split(' ');
        return { taskId, agentId };
      });
  }

  onClose(closer: () => Promise<void>): void {
    this.closers.push(closer);
  }

  /** For a broker started by the test itself: closed after everything that talks to it. */
  onCloseLast(closer: () => Promise<void>): void {
    this.closers.unshift(closer);
  }

  async close(): Promise<void> {
    for (const closer of this.closers.reverse()) {
      await closer().catch(() => undefined);
    }
    this.closers.length = 0;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Per task id, how many times it ran. */
export function countRuns(executions: { taskId: string }[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { taskId } of executions) counts.set(taskId, (counts.get(taskId) ?? 0) + 1);
  return counts;
}
