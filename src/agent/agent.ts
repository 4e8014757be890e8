import { hostname } from 'node:os';
import type { Config } from '../config/load.js';
import { executeTask, type Outcome } from '../executors/execute-task.js';
import type { Logger } from '../logging/logger.js';
import {
  HubStatus,
  TaskAssigned,
  type AgentHeartbeat,
  type AgentRegister,
  type ClaimRequest,
  type TaskRef,
} from '../protocol/messages.js';
import { canRoleRun, typesForRole } from '../protocol/task-types.js';
import { agentStatusTopic, localTopic, TOPIC } from '../protocol/topics.js';
import { Bus } from '../transport/bus.js';

export interface AgentOptions {
  config: Config;
  role: string;
  agentId: string;
  concurrency: number;
  workspace: string;
  logger: Logger;
  version?: string;
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
  private readonly startedAt = Date.now();
  private readonly logger: Logger;

  private constructor(
    private readonly options: AgentOptions,
    readonly bus: Bus,
  ) {
    this.logger = options.logger;
  }

  static async start(options: AgentOptions, signal?: AbortSignal): Promise<Agent> {
    const { config } = options;
    const statusTopic = localTopic(config.swarm, agentStatusTopic(config.swarm, options.agentId))!;
    // The handler is installed before connecting; it reaches the agent once it exists.
    const self: { agent?: Agent } = {};
    const bus = await Bus.connect(
      {
        url: config.broker,
        swarm: config.swarm,
        sender: { agentId: options.agentId, role: options.role },
        clientId: options.agentId,
        // The Last Will clears the retained presence; the hub requeues what this agent held.
        will: { topic: statusTopic, payload: '', retain: true },
        logger: options.logger,
        maxPayloadBytes: config.maxPayloadBytes,
        onMessage: (topic, bytes) => self.agent?.handle(topic, bytes),
      },
      signal,
    );
    const agent = new Agent(options, bus);
    self.agent = agent;
    bus.client.on('connect', () => void agent.announce());
    await bus.subscribe({ [TOPIC.tasksAssigned]: 1, [TOPIC.hubStatus]: 1 });
    await agent.announce();
    agent.heartbeatTimer = setInterval(() => void agent.heartbeat(), config.heartbeatMs);
    const types = typesForRole(config.taskTypes, options.role);
    options.logger.info(
      { role: options.role, concurrency: options.concurrency, types },
      `agent ${options.agentId} joined swarm ${config.swarm} as ${options.role}`,
    );
    return agent;
  }

  get agentId(): string {
    return this.options.agentId;
  }

  get runningTasks(): string[] {
    return [...this.running.keys()];
  }

  /** Register, mark presence, and ask for work; again after every reconnect. */
  private async announce(): Promise<void> {
    const { role, concurrency, agentId, config } = this.options;
    const register: AgentRegister = {
      role,
      concurrency,
      types: typesForRole(config.taskTypes, role),
      pid: process.pid,
      hostname: hostname(),
      ...(this.options.version ? { version: this.options.version } : {}),
    };
    const statusTopic = localTopic(config.swarm, agentStatusTopic(config.swarm, agentId))!;
    try {
      await this.bus.publish(TOPIC.agentsRegister, register);
      await this.bus.publish(
        statusTopic,
        { state: 'online', role, since: new Date(this.startedAt).toISOString() },
        { retain: true },
      );
      await this.claim();
    } catch (error) {
      this.logger.warn({ err: error }, 'could not announce; will retry on reconnect');
    }
  }

  private handle(topic: string, bytes: Buffer): void {
    if (topic === TOPIC.hubStatus) {
      // An empty retained status means the hub is gone; a fresh one means it is back: ask again.
      if (bytes.length > 0 && this.bus.decode(topic, bytes, HubStatus)) void this.claim();
      return;
    }
    if (topic !== TOPIC.tasksAssigned) return;
    const message = this.bus.decode(topic, bytes, TaskAssigned);
    if (!message || message.payload.agent_id !== this.agentId) return;
    this.accept(message.payload);
  }

  private accept(assigned: TaskAssigned): void {
    const { task_id: taskId, attempt } = assigned;
    const current = this.running.get(taskId);
    if (current?.attempt === attempt) return; // a QoS 1 redelivery of a grant we already run
    const refusal = this.draining
      ? 'agent is shutting down'
      : !canRoleRun(this.options.config.taskTypes, this.options.role, assigned.task.type)
        ? `role ${this.options.role} cannot run task type ${assigned.task.type}`
        : this.running.size >= this.options.concurrency
          ? 'agent has no free slot'
          : undefined;
    if (refusal) {
      this.logger.warn({ taskId, attempt }, `handing task back: ${refusal}`);
      this.publishQuietly(TOPIC.tasksRelease, { task_id: taskId, attempt, reason: refusal });
      return;
    }
    const abort = new AbortController();
    const entry: Running = { attempt, abort, done: Promise.resolve() };
    this.running.set(taskId, entry);
    entry.done = this.run(assigned, abort.signal).finally(() => {
      if (this.running.get(taskId) === entry) this.running.delete(taskId);
      if (!this.draining) void this.claim();
    });
  }

  private async run(assigned: TaskAssigned, signal: AbortSignal): Promise<void> {
    const { task_id: taskId, attempt, task } = assigned;
    const log = this.logger.child({ taskId, attempt });
    log.info(`claimed ${taskId} (${task.type}, attempt ${attempt})`);
    const started = performance.now();
    const progress = (message: string, percent?: number): void => {
      log.info(message);
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
        workspace: this.options.workspace,
        timeoutMs: this.options.config.taskTimeoutMs,
        outputLimit: this.options.config.outputTailChars,
        runbooks: this.options.config.runbooks,
        signal,
        progress,
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
    if (outcome.ok) {
      log.info(`completed ${taskId} in ${duration_ms} ms`);
      await this.publishSafely(TOPIC.tasksComplete, {
        task_id: taskId,
        attempt,
        duration_ms,
        result: outcome.result,
      });
    } else {
      log.warn(`failed ${taskId} after ${duration_ms} ms: ${outcome.error}`);
      await this.publishSafely(TOPIC.tasksFailed, {
        task_id: taskId,
        attempt,
        duration_ms,
        error: outcome.error,
        retryable: outcome.retryable,
        ...(outcome.result ? { result: outcome.result } : {}),
      });
    }
  }

  private runningRefs(): TaskRef[] {
    return [...this.running].map(([task_id, { attempt }]) => ({ task_id, attempt }));
  }

  private get free(): number {
    return this.draining ? 0 : Math.max(0, this.options.concurrency - this.running.size);
  }

  private async claim(): Promise<void> {
    const claim: ClaimRequest = { free: this.free, running: this.runningRefs() };
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
    // First tell the hub to grant nothing more, so what we hand back is not granted to us again.
    await this.claim();
    const held = [...this.running];
    for (const [, entry] of held) entry.abort.abort();
    await Promise.all(held.map(([, entry]) => entry.done));
    for (const [taskId, entry] of held) {
      await this.publishSafely(TOPIC.tasksRelease, {
        task_id: taskId,
        attempt: entry.attempt,
        reason,
      });
    }
    await this.publishSafely(TOPIC.agentsShutdown, { reason, handed_back: held.map(([id]) => id) });
    const { swarm } = this.options.config;
    await this.bus
      .publishRaw(localTopic(swarm, agentStatusTopic(swarm, this.agentId))!, '', { retain: true })
      .catch(() => undefined);
    await this.bus.close();
    this.logger.info(
      `agent ${this.agentId} left the swarm (${reason}); handed back ${held.length} task(s)`,
    );
  }

  /** For chaos tests: vanish without a goodbye, as kill -9 would. */
  async crash(): Promise<void> {
    this.draining = true;
    clearInterval(this.heartbeatTimer);
    for (const [, entry] of this.running) entry.abort.abort();
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
