import { busSecurity } from '../auth/bus-security.js';
import type { Keyring } from '../auth/keyring.js';
import { loadKeyring, requireSigningKey } from '../auth/load-keyring.js';
import type { Config } from '../config/load.js';
import { EXIT, SheriError } from '../errors.js';
import type { LlmServices } from '../executors/llm-executor.js';
import { ServiceSupervisor } from '../executors/service-supervisor.js';
import type { TokenCounts } from '../llm/types.js';
import type { Logger } from '../logging/logger.js';
import type { TaskCancel } from '../protocol/flow-messages.js';
import type { SandboxReport, TaskAssigned } from '../protocol/messages.js';
import { typesForRole } from '../protocol/task-types.js';
import { topicFor } from '../protocol/topic-table.js';
import { describeTampering, StateGuard } from '../tools/protected-files.js';
import { BASE_POLICY } from '../tools/shell/default-policies.js';
import type { ShellPolicy } from '../tools/shell/policy.js';
import { Bus } from '../transport/bus.js';
import { tlsOf } from '../transport/tls-files.js';
import { TopicRouter } from '../transport/topic-router.js';
import { withTimeout } from '../util/with-timeout.js';
import type { AgentSurroundings } from './agent-setup.js';
import { AgentSession } from './agent-session.js';
import { ApprovalRequests } from './approval-requests.js';
import type { Delegations } from './delegation.js';
import { GrantIntake } from './grant-intake.js';
import { LeaseClock } from './lease-clock.js';
import { OutcomeOutbox } from './outcome-outbox.js';
import { createLlmServices } from './llm-services.js';
import { TaskRunner } from './task-runner.js';

/** How long a stopping agent tries to say goodbye before it just leaves. */
const GOODBYE_TIMEOUT_MS = 3_000;
/** How long a stopping agent waits for the hub to confirm its last outcomes (PROTOCOL §4.8). */
const SETTLE_TIMEOUT_MS = 2_000;

export interface AgentOptions {
  config: Config;
  role: string;
  agentId: string;
  concurrency: number;
  /** Workspace (real path), sandbox and sheri's own paths, from prepareSurroundings. */
  surroundings: AgentSurroundings;
  logger: Logger;
  version?: string;
  /** Its identity and keys (PROTOCOL §15.2); default: from --credentials or the data directory. */
  keyring?: Keyring;
}

/**
 * One member of the swarm: announces itself, asks the hub for work its role can do, runs what it
 * is granted and reports every step. Stateless: all it needs to resume lives in the hub's ledger.
 * This file puts the parts together: the session (presence, heartbeats, claims), grant intake,
 * the task runner, approvals and delegations, each in its own file; one router from the topic
 * table hands each part its messages.
 */
export class Agent {
  private draining = false;
  private readonly session: AgentSession;
  private readonly intake: GrantIntake;
  private readonly runner: TaskRunner;
  private readonly approvals: ApprovalRequests;
  /** What prompt tasks run with; undefined when the agent has no provider. */
  private readonly llm: LlmServices | undefined;
  private readonly delegations: Delegations | undefined;
  private readonly router: TopicRouter;
  /** Its own reckoning of each lease it holds (PROTOCOL §4.7). */
  private readonly leases: LeaseClock;
  /** Services its tasks started, kept running until replaced or the agent stops (§17.4). */
  readonly services: ServiceSupervisor;
  /** Outcomes and releases sent until the hub confirms it recorded them (PROTOCOL §4.8). */
  readonly outbox: OutcomeOutbox;
  private resendTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly options: AgentOptions,
    readonly bus: Bus,
    llm: Awaited<ReturnType<typeof createLlmServices>>,
    usage: { sink: (tokens: TokenCounts, costUsd: number, taskId: string) => void },
  ) {
    const { config, agentId, role, concurrency, logger } = options;
    this.approvals = new ApprovalRequests(bus, config.approvalTimeoutMs, logger);
    this.intake = new GrantIntake(agentId, role, concurrency, config.taskTypes);
    usage.sink = (tokens, costUsd, taskId) => this.runner.addUsage(tokens, costUsd, taskId);
    this.llm = llm?.services;
    this.delegations = llm?.delegations;
    const { guardedPaths, dataDir } = options.surroundings;
    this.services = new ServiceSupervisor(logger);
    this.leases = new LeaseClock((taskId, attempt, leaseMs) =>
      this.lapse(taskId, attempt, leaseMs),
    );
    this.outbox = new OutcomeOutbox(bus, {
      logger,
      capacity: () => ({ free: this.runner.free, running: this.runner.refs() }),
      now: () => performance.now(),
    });
    this.runner = new TaskRunner(bus, {
      config,
      agentId,
      role,
      concurrency,
      surroundings: options.surroundings,
      policy: this.policy,
      guard: new StateGuard(guardedPaths, dataDir, agentId, {
        workspace: options.surroundings.workspace,
        // Moved by a command of another task or agent while it ran: no one task to blame.
        onRecovered: (created, displaced) =>
          bus.reportError({
            code: 'SANDBOX_VIOLATION',
            reason: `before a command started: a command ${describeTampering(created, displaced)}`,
            topic: `${config.swarm}/${topicFor('tasksNew')}`,
          }),
      }),
      llm: this.llm,
      services: this.services,
      logger,
      requestApproval: (ask) => this.approvals.request(ask),
      spoke: (taskId, attempt) => this.session.spoke(taskId, attempt),
      ended: (taskId, attempt) => {
        this.intake.remember(taskId, attempt);
        this.leases.ended(taskId, attempt);
      },
      draining: () => this.draining,
      report: (topic, payload) => this.outbox.send(topic, payload),
    });
    this.session = new AgentSession(
      bus,
      options.version === undefined
        ? { config, agentId, role, concurrency, logger }
        : { config, agentId, role, concurrency, logger, version: options.version },
      {
        free: () => this.runner.free,
        running: () => this.runner.refs(),
        usage: () => this.runner.usage,
        sandbox: () => this.sandboxReport,
        draining: () => this.draining,
        renewed: (refs, sentAt) => this.leases.renewed(refs, sentAt),
        clock: () => this.leases.now(),
      },
    );
    const presence = this.session.routes();
    this.router = new TopicRouter(
      bus,
      {
        ...presence.handlers,
        hubStatus: (message, topic, params) => {
          this.outbox.hubState(message.payload.state === 'online');
          presence.handlers.hubStatus?.(message, topic, params);
        },
        tasksSettled: (message, topic) => {
          // PROTOCOL §4.8: only our own, signed by the hub for us (the bus checked, §15.4).
          if (topic === topicFor('tasksSettled', { agent: agentId })) {
            this.outbox.settled(message.payload.results);
          }
        },
        ...this.approvals.routes(),
        ...this.delegations?.routes(),
        tasksAssigned: (message, topic) => {
          // Addressed to us (PROTOCOL §3.5), signed by the hub for us (§15.4); the grant must
          // also name us. The confirmations it carries are the hub's, like tasks/settled (§4.8).
          if (topic !== topicFor('tasksAssigned', { agent: agentId })) return;
          if (message.payload.settled) this.outbox.settled(message.payload.settled);
          this.accept(message.payload);
        },
        tasksCancel: (message, topic) => {
          if (topic === topicFor('tasksCancel', { agent: agentId })) this.cancel(message.payload);
        },
      },
      presence.options,
    );
  }

  private get policy(): ShellPolicy {
    return this.options.config.shellPolicies[this.options.role] ?? BASE_POLICY;
  }

  /** The sandbox as the swarm sees it, in register and heartbeat (PROTOCOL §15). */
  private get sandboxReport(): SandboxReport {
    const { status } = this.options.surroundings.sandbox;
    return {
      kind: status.kind,
      network: this.policy.network,
      read_only: this.policy.readOnly,
      cgroup: status.cgroup,
      ...(status.note ? { note: status.note } : {}),
    };
  }

  static async start(options: AgentOptions, signal?: AbortSignal): Promise<Agent> {
    const { config } = options;
    const keyring =
      options.keyring ??
      loadKeyring(config, { kind: 'agent', name: options.agentId, role: options.role });
    requireSigningKey(config, keyring, `agent ${options.agentId}`);
    const login = keyring.mqttLogin;
    const bus = Bus.open({
      url: config.broker,
      swarm: config.swarm,
      sender: { agentId: options.agentId, role: options.role },
      // The embedded broker holds an agent to its name as client id (PROTOCOL §15.1).
      clientId: options.agentId,
      // The Last Will clears the retained presence; the hub requeues what this agent held.
      will: {
        topic: topicFor('agentStatus', { agent: options.agentId }),
        payload: '',
        retain: true,
      },
      logger: options.logger,
      maxPayloadBytes: config.maxPayloadBytes,
      maxJsonDepth: config.maxJsonDepth,
      security: busSecurity(config, keyring, true),
      ...(login ? { username: login.username, password: login.password } : {}),
      ...tlsOf(config),
    });
    let agent: Agent;
    try {
      // Usage reaches the runner once there is one: the services are made before the agent.
      const usage = { sink: (_tokens: TokenCounts, _costUsd: number, _taskId: string): void => {} };
      const llm = await createLlmServices(options, bus, (tokens, costUsd, taskId) =>
        usage.sink(tokens, costUsd, taskId),
      );
      agent = new Agent(options, bus, llm, usage);
    } catch (error) {
      await bus.destroy(); // a configuration mistake, e.g. --llm anthropic without a key
      throw error;
    }
    bus.onMessage((topic, bytes) => agent.router.handle(topic, bytes));
    try {
      // Before joining: a provider that cannot answer would fail every prompt task it got.
      await agent.checkProvider(signal);
      await bus.ready(signal);
    } catch (error) {
      await bus.destroy();
      throw error;
    }
    // Grants are addressed: this agent reads its own only (SPEC §2, PROTOCOL §15.3).
    await agent.session.join();
    agent.resendUnsettled();
    agent.sayJoined();
    return agent;
  }

  get agentId(): string {
    return this.options.agentId;
  }

  /**
   * Outcomes the hub has not confirmed go again (PROTOCOL §4.8): all of them after a reconnect
   * (the broker may have lost what it had acknowledged), and, every heartbeat interval, each
   * that waited half an interval or more — one lost while the agent stayed connected.
   */
  private resendUnsettled(): void {
    this.bus.client.on('connect', () => this.outbox.resend(0));
    const every = this.options.config.heartbeatMs;
    this.resendTimer = setInterval(() => this.outbox.resend(every / 2), every);
  }

  private sayJoined(): void {
    const { config, role, concurrency, logger } = this.options;
    const types = typesForRole(config.taskTypes, role);
    const model = this.llm ? `${this.llm.provider.name} ${this.llm.provider.model}` : 'none';
    const sandbox = this.sandboxReport;
    logger.info(
      { event: 'joined', role, concurrency, types, llm: model, sandbox },
      `joined swarm ${config.swarm} as ${role} (runs ${types.join(', ') || 'nothing'}; llm ${model}; sandbox ${describeSandbox(sandbox)})`,
    );
    if (sandbox.kind === 'none') {
      logger.warn(
        { event: 'no-sandbox', reason: sandbox.note },
        `commands run WITHOUT a sandbox (${sandbox.note}): they have this agent's own access to files, processes and network; install bubblewrap, or start with --sandbox required to refuse this`,
      );
    } else if (sandbox.note) {
      logger.warn({ event: 'sandbox-limited', reason: sandbox.note }, `sandbox: ${sandbox.note}`);
    }
  }

  /** Ask the provider for the model (llm.checkAtStart): wrong key, model or address end the start. */
  private async checkProvider(signal?: AbortSignal): Promise<void> {
    if (!this.llm?.settings.checkAtStart) return;
    const { provider } = this.llm;
    const check = await provider.check(signal ?? new AbortController().signal);
    if (!check.ok) {
      throw new SheriError(
        `the ${this.options.role} agent cannot use its model ${provider.name} ${provider.model}: ${check.message} (set llm.checkAtStart false to skip this check)`,
        check.unreachable ? EXIT.unavailable : EXIT.config,
      );
    }
    if (check.message) {
      this.options.logger.warn({ event: 'llm-check' }, `${provider.name}: ${check.message}`);
    }
  }

  /**
   * The hub canceled an attempt we run (PROTOCOL §17.3): the runner stops it and sends no
   * outcome, so once it has ended a claim tells the hub the slot is free again.
   */
  private cancel(cancel: TaskCancel): void {
    const ended = this.runner.cancel(cancel);
    void ended?.then(() => {
      if (!this.draining) void this.session.claim();
    });
  }

  /**
   * Our own clock says the lease ran out with no renewal acknowledged (PROTOCOL §4.7): the hub
   * may have granted the task again, so the attempt stops now, its process tree killed; the
   * hand-back tells a hub that still holds it for us (it extended leases after an outage) to
   * requeue it without counting a failure.
   */
  private lapse(taskId: string, attempt: number, leaseMs: number): void {
    const reason = `lease lapsed on ${this.options.agentId}: no renewal acknowledged for ${leaseMs} ms`;
    const ended = this.runner.cancel({ task_id: taskId, attempt, reason });
    void ended?.then(async () => {
      const release = { task_id: taskId, attempt, reason, refused: false };
      await this.outbox.send(topicFor('tasksRelease'), release);
    });
  }

  /** A grant addressed to us: run it, hand it back, or ignore a redelivery (PROTOCOL §3.6). */
  private accept(assigned: TaskAssigned): void {
    const runs = this.runner.attempts.get(assigned.task_id);
    if (runs !== undefined && runs < assigned.attempt && assigned.agent_id === this.agentId) {
      // A later attempt of a task we run: ours is superseded (PROTOCOL §4.7). Stop it, then
      // take the new grant like any other.
      const ended = this.runner.cancel({
        task_id: assigned.task_id,
        attempt: runs,
        reason: `superseded by attempt ${assigned.attempt}`,
      });
      if (ended) {
        void ended.then(() => this.accept(assigned));
        return;
      }
    }
    const verdict = this.intake.consider(assigned, {
      draining: this.draining,
      running: this.runner.attempts,
    });
    if (!verdict || verdict.kind === 'duplicate') return;
    const { task_id: taskId, attempt } = assigned;
    this.options.logger.debug(
      { taskId, attempt, leaseMs: assigned.lease_ms },
      `grant of ${taskId} attempt ${attempt}, lease ${assigned.lease_ms} ms`,
    );
    if (verdict.kind === 'release') {
      this.options.logger.warn(
        { event: 'handed-back', taskId, attempt },
        `handing ${taskId} back: ${verdict.reason}`,
      );
      const release = {
        task_id: taskId,
        attempt,
        reason: verdict.reason,
        refused: verdict.refused,
      };
      void this.outbox.send(topicFor('tasksRelease'), release);
      return;
    }
    this.runner.start(assigned);
    this.leases.granted(taskId, attempt, assigned.lease_ms);
    // The hub counts a crash only against an attempt the agent had received (PROTOCOL §4.1).
    this.session.granted(taskId, attempt);
  }

  /**
   * Graceful stop (SIGINT/SIGTERM): take no more work, cancel running tasks and hand them back,
   * say goodbye, clear the retained presence, disconnect.
   */
  async stop(reason = 'stopped'): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.session.quiet();
    this.leases.close();
    const held = this.runner.held();
    const goodbye = async (): Promise<void> => {
      // First tell the hub to grant nothing more, so what we hand back is not granted to us again.
      await this.session.claim();
      this.runner.abortAll();
      await Promise.all(held.map((entry) => entry.done));
      for (const { taskId, attempt } of held) {
        await this.outbox.send(topicFor('tasksRelease'), { task_id: taskId, attempt, reason });
      }
      await this.session.leave(
        reason,
        held.map((entry) => entry.taskId),
      );
    };
    // With no broker to hear it, a goodbye must not hang the exit: the Last Will or the lease
    // hands the tasks back instead.
    const said = await withTimeout(goodbye(), GOODBYE_TIMEOUT_MS);
    this.runner.abortAll();
    // What the hub has not confirmed yet is kept and resent a little longer (PROTOCOL §4.8).
    const pending = this.outbox.size;
    if (said && !(await this.outbox.drained(SETTLE_TIMEOUT_MS))) {
      this.options.logger.warn(
        { event: 'unsettled-at-stop', outcomes: this.outbox.keys() },
        `leaving with ${this.outbox.size} of ${pending} outcome(s) unconfirmed by the hub: ${this.outbox.keys().join(', ')} (its lease decides them)`,
      );
    }
    clearInterval(this.resendTimer);
    // The services its tasks started end with it (PROTOCOL §17.4).
    await this.services.stopAll();
    if (!said) {
      this.options.logger.warn(
        'no broker to say goodbye to; the hub will requeue by lease or Last Will',
      );
    }
    await this.bus.close();
    this.options.logger.info(
      { event: 'left', handedBack: held.map((entry) => entry.taskId) },
      `left swarm ${this.options.config.swarm} (${reason}); handed back ${held.length} task(s)`,
    );
  }

  /** For chaos tests: vanish without a goodbye, as kill -9 would. */
  async crash(): Promise<void> {
    this.draining = true;
    this.session.quiet();
    this.leases.close();
    clearInterval(this.resendTimer);
    this.runner.abortAll();
    void this.services.stopAll();
    await this.bus.destroy();
  }
}

/** "bwrap (network off, read-only, cgroup v1)", "NONE". */
export function describeSandbox(sandbox: SandboxReport): string {
  if (sandbox.kind === 'none') return 'NONE';
  const parts = [
    sandbox.network ? 'network on' : 'network off',
    ...(sandbox.read_only ? ['read-only'] : []),
    sandbox.cgroup === 'none' ? 'no cgroup' : `cgroup ${sandbox.cgroup}`,
  ];
  return `${sandbox.kind} (${parts.join(', ')})`;
}
