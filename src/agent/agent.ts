import { hostname } from 'node:os';
import { EXIT, SheriError } from '../errors.js';
import type { Config } from '../config/load.js';
import { randomBytes } from 'node:crypto';
import { executeTask, type ApprovalAnswer, type Outcome } from '../executors/execute-task.js';
import { ServiceSupervisor } from '../executors/service-supervisor.js';
import { TaskCancel } from '../protocol/flow-messages.js';
import { BASE_POLICY, type Decision, type ShellPolicy } from '../tools/shell/policy.js';
import type { Logger } from '../logging/logger.js';
import {
  ApprovalDecision,
  HubStatus,
  TaskAssigned,
  type ApprovalRequest,
  type AgentHeartbeat,
  type AgentRegister,
  type ClaimRequest,
  type TaskRef,
} from '../protocol/messages.js';
import { canRoleRun, typesForRole } from '../protocol/task-types.js';
import { fitJson } from '../protocol/fit-json.js';
import {
  agentStatusLocal,
  approvalDecisionLocal,
  approvalPendingLocal,
  TOPIC,
} from '../protocol/topics.js';
import { Bus } from '../transport/bus.js';
import { tlsOf } from '../transport/tls-files.js';
import { withTimeout } from '../util/with-timeout.js';
import { busSecurity } from '../auth/bus-security.js';
import type { Keyring } from '../auth/keyring.js';
import { loadKeyring, requireSigningKey } from '../auth/load-keyring.js';
import { addTokens, NO_TOKENS, roundUsd } from '../llm/pricing.js';
import type { LlmServices } from '../executors/llm-executor.js';
import type { Usage } from '../protocol/messages.js';
import type { Delegations } from './delegation.js';
import { createLlmServices } from './llm-services.js';
import type { AgentSurroundings } from './agent-setup.js';
import { StateGuard } from '../tools/protected-files.js';
import type { SandboxReport } from '../protocol/messages.js';

/** Room for the envelope and the outcome's other fields (the error is cut to 4,000 chars). */
const ENVELOPE_ROOM_BYTES = 32_768;
/** How long a stopping agent tries to say goodbye before it just leaves. */
const GOODBYE_TIMEOUT_MS = 3_000;
/** How many finished attempts an agent remembers, to ignore redelivered grants. */
const RAN_MEMORY = 1_000;

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

interface Running {
  attempt: number;
  abort: AbortController;
  done: Promise<void>;
}

/**
 * One member of the swarm: announces itself, asks the hub for work its role can do, runs what it
 * is granted and reports every step. Stateless: all it needs to resume lives in the hub's ledger.
 */
export class Agent {
  private readonly running = new Map<string, Running>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private draining = false;
  private joined = false;
  private readonly ran = new Set<string>();
  /** Pending approvals: decision topic → the waiting command's resolver. */
  private readonly approvals = new Map<string, (answer: ApprovalAnswer) => void>();
  private readonly startedAt = Date.now();
  private readonly logger: Logger;
  /** What prompt tasks run with; undefined when the agent has no provider. */
  private readonly llm: LlmServices | undefined;
  private readonly delegations: Delegations | undefined;
  /** Every LLM task's tokens and cost since the agent started, for heartbeats. */
  private usage: Usage | undefined;
  /** What each running prompt task has cost so far, for the hub's swarm budget (§14.5). */
  private readonly taskCost = new Map<string, number>();
  private readonly guard: StateGuard;
  /** Services its tasks started, kept running until replaced or the agent stops (§17.4). */
  readonly services: ServiceSupervisor;

  private constructor(
    private readonly options: AgentOptions,
    readonly bus: Bus,
  ) {
    this.logger = options.logger;
    const llm = createLlmServices(options, bus, (tokens, costUsd, taskId) => {
      const before = this.usage ?? { ...NO_TOKENS, cost_usd: 0 };
      this.usage = { ...addTokens(before, tokens), cost_usd: before.cost_usd + costUsd };
      this.taskCost.set(taskId, (this.taskCost.get(taskId) ?? 0) + costUsd);
    });
    this.llm = llm?.services;
    this.delegations = llm?.delegations;
    const { guardedPaths, dataDir } = options.surroundings;
    this.guard = new StateGuard(guardedPaths, dataDir, options.agentId);
    this.services = new ServiceSupervisor(options.logger);
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
    const statusTopic = agentStatusLocal(options.agentId);
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
      will: { topic: statusTopic, payload: '', retain: true },
      logger: options.logger,
      maxPayloadBytes: config.maxPayloadBytes,
      maxJsonDepth: config.maxJsonDepth,
      security: busSecurity(config, keyring, true),
      ...(login ? { username: login.username, password: login.password } : {}),
      ...tlsOf(config),
    });
    let agent: Agent;
    try {
      agent = new Agent(options, bus);
    } catch (error) {
      await bus.destroy(); // a configuration mistake, e.g. --llm anthropic without a key
      throw error;
    }
    bus.onMessage((topic, bytes) => agent.handle(topic, bytes));
    // After a reconnect (mqtt.js resubscribes first), announce again; the first time is below.
    bus.client.on('connect', () => {
      if (agent.joined && !agent.draining) void agent.announce();
    });
    try {
      // Before joining: a provider that cannot answer would fail every prompt task it got.
      await agent.checkProvider(signal);
      await bus.ready(signal);
    } catch (error) {
      await bus.destroy();
      throw error;
    }
    // Grants are addressed: this agent reads its own only (SPEC §2, PROTOCOL §15.3).
    await bus.subscribe({
      [agent.grantTopic]: 1,
      [agent.cancelTopic]: 1,
      [TOPIC.hubStatus]: 1,
      [statusTopic]: 1,
    });
    await agent.announce();
    agent.joined = true;
    agent.heartbeatTimer = setInterval(() => void agent.heartbeat(), config.heartbeatMs);
    const types = typesForRole(config.taskTypes, options.role);
    const model = agent.llm ? `${agent.llm.provider.name} ${agent.llm.provider.model}` : 'none';
    const sandbox = agent.sandboxReport;
    options.logger.info(
      {
        event: 'joined',
        role: options.role,
        concurrency: options.concurrency,
        types,
        llm: model,
        sandbox,
      },
      `joined swarm ${config.swarm} as ${options.role} (runs ${types.join(', ') || 'nothing'}; llm ${model}; sandbox ${describeSandbox(sandbox)})`,
    );
    if (sandbox.kind === 'none') {
      options.logger.warn(
        { event: 'no-sandbox', reason: sandbox.note },
        `commands run WITHOUT a sandbox (${sandbox.note}): they have this agent's own access to files, processes and network; install bubblewrap, or start with --sandbox required to refuse this`,
      );
    } else if (sandbox.note) {
      options.logger.warn(
        { event: 'sandbox-limited', reason: sandbox.note },
        `sandbox: ${sandbox.note}`,
      );
    }
    return agent;
  }

  get agentId(): string {
    return this.options.agentId;
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
    if (check.message)
      this.logger.warn({ event: 'llm-check' }, `${provider.name}: ${check.message}`);
  }

  private get statusTopic(): string {
    return agentStatusLocal(this.agentId);
  }

  private get grantTopic(): string {
    return `${TOPIC.tasksAssigned}/${this.agentId}`;
  }

  /** Where the hub says an attempt of ours no longer counts (PROTOCOL §17.3). */
  private get cancelTopic(): string {
    return `tasks/cancel/${this.agentId}`;
  }

  /** Register, mark presence, and ask for work; again after every reconnect. */
  private async announce(): Promise<void> {
    const { role, concurrency, config } = this.options;
    const register: AgentRegister = {
      role,
      concurrency,
      types: typesForRole(config.taskTypes, role),
      pid: process.pid,
      hostname: hostname(),
      sandbox: this.sandboxReport,
      ...(this.options.version ? { version: this.options.version } : {}),
    };
    try {
      await this.bus.publish(TOPIC.agentsRegister, register);
      await this.bus.publish(
        this.statusTopic,
        { state: 'online', role, since: new Date(this.startedAt).toISOString() },
        { retain: true },
      );
      await this.claim();
      // The first heartbeat at once, so the swarm sees uptime and memory from the start.
      await this.heartbeat();
    } catch (error) {
      this.logger.warn({ err: error }, 'could not announce; will retry on reconnect');
    }
  }

  /**
   * Ask people over the bus (PROTOCOL §13): publish the request, wait for `sheri approve` or
   * `sheri deny` on the request's own decision topic; no answer by the deadline means deny. Only
   * this task waits: heartbeats and other tasks go on.
   */
  private async requestApproval(ask: {
    taskId: string;
    attempt: number;
    command: string;
    decision: Decision;
    signal: AbortSignal;
    progress: (message: string) => void;
  }): Promise<ApprovalAnswer> {
    const approvalId = `${ask.taskId}.${ask.attempt}.${randomBytes(4).toString('hex')}`;
    const topic = approvalDecisionLocal(approvalId);
    const pendingTopic = approvalPendingLocal(approvalId);
    const waitMs = this.options.config.approvalTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    let onAbort = (): void => undefined;
    const answer = new Promise<ApprovalAnswer>((resolve) => {
      this.approvals.set(topic, resolve);
      timer = setTimeout(
        () => resolve({ approved: false, reason: `no answer within ${waitMs / 1000} s` }),
        waitMs,
      );
      onAbort = () => resolve({ approved: false, reason: 'task canceled' });
      ask.signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await this.bus.subscribe({ [topic]: 1 });
      const request: ApprovalRequest = {
        approval_id: approvalId,
        task_id: ask.taskId,
        attempt: ask.attempt,
        command: ask.command,
        rule: ask.decision.rule,
        reason: ask.decision.reason,
        deadline: new Date(Date.now() + waitMs).toISOString(),
      };
      await this.bus.publish(TOPIC.approvalsRequest, request);
      await this.bus.publish(pendingTopic, request, { retain: true });
      ask.progress(`waiting for approval ${approvalId}: sheri approve ${approvalId} (or deny)`);
      const result = await answer;
      ask.progress(`${result.approved ? 'approved' : 'not approved'}: ${result.reason}`);
      return result;
    } catch (error) {
      return { approved: false, reason: `could not ask: ${(error as Error).message}` };
    } finally {
      clearTimeout(timer);
      ask.signal.removeEventListener('abort', onAbort);
      this.approvals.delete(topic);
      void this.bus.unsubscribe([topic]).catch(() => undefined);
      void this.bus.publishRaw(pendingTopic, '', { retain: true }).catch(() => undefined);
    }
  }

  private handle(topic: string, bytes: Buffer): void {
    const approval = this.approvals.get(topic);
    if (approval) {
      const message = this.bus.decode(topic, bytes, ApprovalDecision);
      if (message) {
        // The hub forwards an operator's answer, naming the approver it verified (§13).
        const by = message.payload.approver ?? message.envelope.agent_id;
        const why = message.payload.reason ? `: ${message.payload.reason}` : '';
        approval({
          approved: message.payload.approved,
          reason: `${message.payload.approved ? 'approved' : 'denied'} by ${by}${why}`,
        });
      }
      return;
    }
    if (topic === this.statusTopic) {
      // Our presence was cleared while we live: a Last Will of one of our earlier connections
      // (a connection the broker dropped, or one taken over by our reconnect). Say we are here,
      // within the hub's grace period.
      if (bytes.length === 0 && this.joined && !this.draining) void this.announce();
      return;
    }
    if (topic === TOPIC.hubStatus) {
      // The hub is back (or we just joined): ask again, since a new hub knows no one's capacity.
      // A bad status is the hub's to report (it reads its own), not every agent's.
      const status = this.bus.decode(topic, bytes, HubStatus, { report: false });
      if (status?.payload.state === 'online') void this.claim();
      return;
    }
    if (this.delegations?.handle(topic, bytes)) return;
    if (topic === this.cancelTopic) return this.onCancel(topic, bytes);
    if (topic !== this.grantTopic) return;
    const message = this.bus.decode(topic, bytes, TaskAssigned);
    if (!message || message.payload.agent_id !== this.agentId) return;
    this.accept(message.payload);
  }

  /**
   * The hub canceled an attempt we run (its flow was canceled): stop it, as a graceful stop
   * would, and send no outcome — the hub recorded the task dead already (PROTOCOL §17.3).
   */
  private onCancel(topic: string, bytes: Buffer): void {
    const message = this.bus.decode(topic, bytes, TaskCancel);
    if (!message) return;
    const { task_id: taskId, attempt, reason } = message.payload;
    const entry = this.running.get(taskId);
    if (!entry || entry.attempt !== attempt || entry.abort.signal.aborted) return;
    this.logger.warn(
      { event: 'canceled', taskId, attempt },
      `canceled ${taskId} (attempt ${attempt}): ${reason}`,
    );
    entry.abort.abort();
  }

  private accept(assigned: TaskAssigned): void {
    const { task_id: taskId, attempt } = assigned;
    // A QoS 1 redelivery of a grant we run, or ran: never run one attempt twice.
    if (this.running.get(taskId)?.attempt === attempt || this.ran.has(`${taskId}#${attempt}`))
      return;
    this.logger.debug(
      { taskId, attempt, leaseMs: assigned.lease_ms },
      `grant of ${taskId} attempt ${attempt}, lease ${assigned.lease_ms} ms`,
    );
    const refusal = this.refusalOf(assigned);
    if (refusal) {
      this.logger.warn(
        { event: 'handed-back', taskId, attempt },
        `handing ${taskId} back: ${refusal.reason}`,
      );
      this.publishQuietly(TOPIC.tasksRelease, { task_id: taskId, attempt, ...refusal });
      return;
    }
    const abort = new AbortController();
    const entry: Running = { attempt, abort, done: Promise.resolve() };
    this.running.set(taskId, entry);
    entry.done = this.run(assigned, abort.signal).finally(() => {
      if (this.running.get(taskId) === entry) this.running.delete(taskId);
      this.taskCost.delete(taskId);
      this.remember(`${taskId}#${attempt}`);
      if (!this.draining) void this.claim();
    });
    // Acknowledge at once: the hub counts a crash only against tasks the agent had received.
    void this.claim();
  }

  /** Attempts run lately, bounded: a grant is redelivered soon after, if ever. */
  private remember(attemptKey: string): void {
    this.ran.add(attemptKey);
    if (this.ran.size > RAN_MEMORY) this.ran.delete(this.ran.values().next().value!);
  }

  private refusalOf(assigned: TaskAssigned): { reason: string; refused: boolean } | undefined {
    const { role, concurrency, config } = this.options;
    if (this.draining) return { reason: 'agent is shutting down', refused: false };
    if (!canRoleRun(config.taskTypes, role, assigned.task.type)) {
      return { reason: `role ${role} cannot run task type ${assigned.task.type}`, refused: true };
    }
    if (this.running.size >= concurrency)
      return { reason: 'agent has no free slot', refused: false };
    return undefined;
  }

  private async run(assigned: TaskAssigned, signal: AbortSignal): Promise<void> {
    const { task_id: taskId, attempt, task } = assigned;
    const log = this.logger.child({ taskId, attempt });
    log.info(
      { event: 'claimed', type: task.type },
      `claimed ${taskId} (${task.type}, attempt ${attempt})`,
    );
    const started = performance.now();
    const progress = (message: string, percent?: number): void => {
      log.info({ event: 'progress', percent }, message);
      this.publishQuietly(TOPIC.tasksProgress, {
        task_id: taskId,
        attempt,
        message,
        ...(percent === undefined ? {} : { percent: Math.round(percent) }),
      });
    };
    let outcome: Outcome;
    try {
      outcome = await executeTask(assigned, {
        agentId: this.agentId,
        workspace: this.options.surroundings.workspace,
        sandbox: this.options.surroundings.sandbox,
        protectedPaths: this.options.surroundings.protectedPaths,
        guard: this.guard,
        reportTamper: (command, moved) =>
          this.bus.reportError({
            code: 'SANDBOX_VIOLATION',
            reason: `the command created sheri's own ${moved.map((entry) => entry.path).join(', ')}; moved aside to ${moved.map((entry) => entry.to).join(', ')} and not used`,
            topic: `${this.options.config.swarm}/${TOPIC.tasksNew}`,
            task_id: taskId,
            attempt,
            command,
          }),
        timeoutMs: this.options.config.taskTimeoutMs,
        maxTimeoutMs: this.options.config.maxTaskTimeoutMs,
        outputLimit: this.options.config.outputLimitChars,
        inactivityMs: this.options.config.inactivityMs,
        environment: this.options.config.environment,
        allowedEnv: this.options.config.shellEnv[this.options.role] ?? [],
        policy: this.policy,
        reportRefusal: (command, decision) =>
          this.bus.reportError({
            code: 'POLICY_DENIED',
            reason: `${decision.decision === 'ask' ? 'needs approval' : 'denied'} by rule "${decision.rule}": ${decision.reason}`,
            topic: `${this.options.config.swarm}/${TOPIC.tasksNew}`,
            task_id: taskId,
            attempt,
            command,
            rule: decision.rule,
            ...(decision.subcommand ? { subcommand: decision.subcommand } : {}),
          }),
        requestApproval: (command, decision) =>
          this.requestApproval({ taskId, attempt, command, decision, signal, progress }),
        runbooks: this.options.config.runbooks,
        signal,
        progress,
        logger: this.logger.child({ taskId, attempt }),
        services: this.services,
        publishEvent: (eventTopic, payload) => this.publishQuietly(eventTopic, payload),
        ...(this.llm ? { llm: this.llm } : {}),
      });
    } catch (error) {
      outcome = {
        ok: false,
        retryable: true,
        error: `executor crashed: ${(error as Error).message}`,
      };
    }
    if (signal.aborted) return; // handed back by stop(); the hub requeues it
    const duration_ms = Math.round(performance.now() - started);
    // Only the result is trimmed, never the fields that say whose outcome it is: an over-large
    // message would be rejected and the outcome lost (PROTOCOL §1.4).
    const fitted = fitJson(
      outcome.result,
      this.options.config.maxPayloadBytes - ENVELOPE_ROOM_BYTES,
    );
    if (fitted.trimmed) log.warn('result trimmed to fit the message size limit');
    if (outcome.ok) {
      log.info(
        { event: 'completed', durationMs: duration_ms },
        `completed ${taskId} in ${duration_ms} ms`,
      );
      await this.publishSafely(TOPIC.tasksComplete, {
        task_id: taskId,
        attempt,
        duration_ms,
        result: fitted.value,
      });
    } else {
      log.warn(
        { event: 'failed', durationMs: duration_ms, retryable: outcome.retryable },
        `failed ${taskId} after ${duration_ms} ms: ${outcome.error}`,
      );
      await this.publishSafely(TOPIC.tasksFailed, {
        task_id: taskId,
        attempt,
        duration_ms,
        error: outcome.error.slice(0, 4_000),
        retryable: outcome.retryable,
        ...(fitted.value ? { result: fitted.value } : {}),
      });
    }
  }

  private runningRefs(): TaskRef[] {
    return [...this.running].map(([task_id, { attempt }]) => {
      const cost = this.taskCost.get(task_id);
      return { task_id, attempt, ...(cost === undefined ? {} : { cost_usd: roundUsd(cost) }) };
    });
  }

  private get free(): number {
    return this.draining ? 0 : Math.max(0, this.options.concurrency - this.running.size);
  }

  private async claim(): Promise<void> {
    const claim: ClaimRequest = { free: this.free, running: this.runningRefs() };
    this.logger.debug(
      { free: claim.free, running: claim.running.length },
      `claim: ${claim.free} free, renewing ${claim.running.length} lease(s)`,
    );
    await this.publishSafely(TOPIC.tasksClaim, claim);
  }

  private async heartbeat(): Promise<void> {
    const memory = process.memoryUsage();
    const beat: AgentHeartbeat = {
      status: this.draining ? 'draining' : 'alive',
      uptime: (Date.now() - this.startedAt) / 1000,
      memory: { rss: memory.rss, heapTotal: memory.heapTotal, heapUsed: memory.heapUsed },
      role: this.options.role,
      running: this.runningRefs(),
      free: this.free,
      sandbox: this.sandboxReport,
      ...(this.usage ? { usage: { ...this.usage, cost_usd: roundUsd(this.usage.cost_usd) } } : {}),
    };
    await this.publishSafely(TOPIC.agentsHeartbeat, beat, 0);
  }

  /**
   * Graceful stop (SIGINT/SIGTERM): take no more work, cancel running tasks and hand them back,
   * say goodbye, clear the retained presence, disconnect.
   */
  async stop(reason = 'stopped'): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    clearInterval(this.heartbeatTimer);
    const held = [...this.running];
    const goodbye = async (): Promise<void> => {
      // First tell the hub to grant nothing more, so what we hand back is not granted to us again.
      await this.claim();
      for (const [, entry] of held) entry.abort.abort();
      await Promise.all(held.map(([, entry]) => entry.done));
      for (const [taskId, entry] of held) {
        await this.publishSafely(TOPIC.tasksRelease, {
          task_id: taskId,
          attempt: entry.attempt,
          reason,
        });
      }
      await this.publishSafely(TOPIC.agentsShutdown, {
        reason,
        handed_back: held.map(([id]) => id),
      });
      await this.bus.publishRaw(this.statusTopic, '', { retain: true });
    };
    // With no broker to hear it, a goodbye must not hang the exit: the Last Will or the lease
    // hands the tasks back instead.
    const said = await withTimeout(goodbye(), GOODBYE_TIMEOUT_MS);
    for (const [, entry] of held) entry.abort.abort();
    // The services its tasks started end with it (PROTOCOL §17.4).
    await this.services.stopAll();
    if (!said)
      this.logger.warn('no broker to say goodbye to; the hub will requeue by lease or Last Will');
    await this.bus.close();
    this.logger.info(
      { event: 'left', handedBack: held.map(([id]) => id) },
      `left swarm ${this.options.config.swarm} (${reason}); handed back ${held.length} task(s)`,
    );
  }

  /** For chaos tests: vanish without a goodbye, as kill -9 would. */
  async crash(): Promise<void> {
    this.draining = true;
    clearInterval(this.heartbeatTimer);
    for (const [, entry] of this.running) entry.abort.abort();
    void this.services.stopAll();
    await this.bus.destroy();
  }

  private async publishSafely(topic: string, payload: unknown, qos: 0 | 1 = 1): Promise<void> {
    try {
      await this.bus.publish(topic, payload, { qos });
    } catch (error) {
      this.logger.warn({ err: error, topic }, 'publish failed');
    }
  }

  private publishQuietly(topic: string, payload: unknown): void {
    void this.publishSafely(topic, payload);
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
