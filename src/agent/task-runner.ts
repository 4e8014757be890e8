import type { Config } from '../config/load.js';
import type { ApprovalAnswer, Outcome } from '../executors/execute-task.js';
import type { LlmServices } from '../executors/llm-executor.js';
import type { ServiceSupervisor } from '../executors/service-supervisor.js';
import { addTokens, NO_TOKENS, roundUsd } from '../llm/pricing.js';
import type { Logger } from '../logging/logger.js';
import { fitJson } from '../protocol/fit-json.js';
import type { TaskCancel } from '../protocol/flow-messages.js';
import type { TaskAssigned, TaskRef, Usage } from '../protocol/messages.js';
import { topicFor } from '../protocol/topic-table.js';
import type { StateGuard } from '../tools/protected-files.js';
import type { Decision, ShellPolicy } from '../tools/shell/policy.js';
import type { Bus } from '../transport/bus.js';
import type { AgentSurroundings } from './agent-setup.js';
import type { Ask } from './approval-requests.js';

/** Room for the envelope and the outcome's other fields (the error is cut to 4,000 chars). */
const ENVELOPE_ROOM_BYTES = 32_768;

interface Running {
  attempt: number;
  abort: AbortController;
  done: Promise<void>;
}

export interface RunnerOptions {
  config: Config;
  agentId: string;
  role: string;
  concurrency: number;
  surroundings: AgentSurroundings;
  policy: ShellPolicy;
  guard: StateGuard;
  llm: LlmServices | undefined;
  /** The services the agent's tasks started, kept running past them (PROTOCOL §17.4). */
  services: ServiceSupervisor;
  logger: Logger;
  requestApproval: (ask: Ask) => Promise<ApprovalAnswer>;
  /** The agent said something about this attempt (progress, outcome): the hub knows it has it. */
  spoke: (taskId: string, attempt: number) => void;
  /** An attempt ended (whatever the outcome, or handed back), just before its outcome is sent. */
  ended: (taskId: string, attempt: number) => void;
  /**
   * Send an outcome, kept until the hub confirms it (PROTOCOL §4.8); the agent's room is added
   * to it at each send, so it is also the next claim (§3.2).
   */
  report: (
    topic: string,
    payload: Record<string, unknown> & { task_id: string; attempt: number },
  ) => Promise<void>;
  draining: () => boolean;
}

/**
 * Runs the attempts an agent accepted (PROTOCOL §3.6): each through the executor, its progress
 * and its outcome on the bus, the outcome carrying the agent's room after it (§3.2) so it is
 * also the next claim. Keeps what each running prompt task has cost, for heartbeats (§14.4).
 */
export class TaskRunner {
  private readonly running = new Map<string, Running>();
  /** What each running prompt task has cost so far, for the hub's swarm budget (§14.5). */
  private readonly taskCost = new Map<string, number>();
  /** Every LLM task's tokens and cost since the agent started. */
  private total: Usage | undefined;

  constructor(
    private readonly bus: Bus,
    private readonly options: RunnerOptions,
  ) {}

  get size(): number {
    return this.running.size;
  }

  /** Task id → attempt, of what runs now. */
  get attempts(): ReadonlyMap<string, number> {
    return new Map([...this.running].map(([taskId, entry]) => [taskId, entry.attempt]));
  }

  get usage(): Usage | undefined {
    return this.total && { ...this.total, cost_usd: roundUsd(this.total.cost_usd) };
  }

  /** Free slots: none while stopping. */
  get free(): number {
    return this.options.draining() ? 0 : Math.max(0, this.options.concurrency - this.running.size);
  }

  /** What runs, as claims and heartbeats list it (with its cost so far, PROTOCOL §14.5). */
  refs(): TaskRef[] {
    return [...this.running].map(([task_id, { attempt }]) => {
      const cost = this.taskCost.get(task_id);
      return { task_id, attempt, ...(cost === undefined ? {} : { cost_usd: roundUsd(cost) }) };
    });
  }

  /** An LLM call's tokens and cost (llm-services onUsage). */
  addUsage(tokens: Parameters<typeof addTokens>[1], costUsd: number, taskId: string): void {
    const before = this.total ?? { ...NO_TOKENS, cost_usd: 0 };
    this.total = { ...addTokens(before, tokens), cost_usd: before.cost_usd + costUsd };
    this.taskCost.set(taskId, (this.taskCost.get(taskId) ?? 0) + costUsd);
  }

  start(assigned: TaskAssigned): void {
    const { task_id: taskId, attempt } = assigned;
    const abort = new AbortController();
    const entry: Running = { attempt, abort, done: Promise.resolve() };
    this.running.set(taskId, entry);
    let over = false;
    // Called before the outcome goes out, so the room it reports counts this slot free and a
    // redelivered grant of this attempt is known as run.
    const end = (): void => {
      if (over) return;
      over = true;
      if (this.running.get(taskId) === entry) this.running.delete(taskId);
      this.taskCost.delete(taskId);
      this.options.ended(taskId, attempt);
    };
    entry.done = this.run(assigned, abort.signal, end).finally(end);
  }

  /**
   * The hub canceled an attempt we run (its flow was canceled, PROTOCOL §17.3): stop it, as a
   * graceful stop would, and send no outcome — the hub recorded the task dead already. Resolves
   * once it has ended; undefined when that attempt does not run here (over, or never ours).
   */
  cancel(cancel: TaskCancel): Promise<void> | undefined {
    const { task_id: taskId, attempt, reason } = cancel;
    const entry = this.running.get(taskId);
    if (!entry || entry.attempt !== attempt || entry.abort.signal.aborted) return undefined;
    this.options.logger.warn(
      { event: 'canceled', taskId, attempt },
      `canceled ${taskId} (attempt ${attempt}): ${reason}`,
    );
    entry.abort.abort();
    return entry.done;
  }

  /** Cancel every running attempt (a stop, a crash); each ends without an outcome. */
  abortAll(): void {
    for (const entry of this.running.values()) entry.abort.abort();
  }

  /** What runs now, to hand back on a graceful stop. */
  held(): { taskId: string; attempt: number; done: Promise<void>; abort: AbortController }[] {
    return [...this.running].map(([taskId, entry]) => ({ taskId, ...entry }));
  }

  private async run(
    assigned: TaskAssigned,
    signal: AbortSignal,
    finished: () => void,
  ): Promise<void> {
    const { task_id: taskId, attempt, task } = assigned;
    const { config, role, logger } = this.options;
    const log = logger.child({ taskId, attempt });
    log.info(
      { event: 'claimed', type: task.type },
      `claimed ${taskId} (${task.type}, attempt ${attempt})`,
    );
    const started = performance.now();
    const progress = (message: string, percent?: number): void => {
      log.info({ event: 'progress', percent }, message);
      this.options.spoke(taskId, attempt);
      this.publishQuietly(topicFor('tasksProgress'), {
        task_id: taskId,
        attempt,
        message,
        ...(percent === undefined ? {} : { percent: Math.round(percent) }),
      });
    };
    const refusedOn = topicFor('tasksNew');
    let outcome: Outcome;
    try {
      // Imported at the first grant, not at start (issue 10): an idle agent never loads the
      // executors, the shell parser or the policy engine, and every command still passes them.
      const { executeTask } = await import('../executors/execute-task.js');
      outcome = await executeTask(assigned, {
        agentId: this.options.agentId,
        workspace: this.options.surroundings.workspace,
        sandbox: this.options.surroundings.sandbox,
        protectedPaths: this.options.surroundings.protectedPaths,
        guard: this.options.guard,
        reportTamper: (command, what) =>
          this.bus.reportError({
            code: 'SANDBOX_VIOLATION',
            reason: `the command ${what}`,
            topic: `${config.swarm}/${refusedOn}`,
            task_id: taskId,
            attempt,
            command,
          }),
        timeoutMs: config.taskTimeoutMs,
        maxTimeoutMs: config.maxTaskTimeoutMs,
        outputLimit: config.outputLimitChars,
        inactivityMs: config.inactivityMs,
        environment: config.environment,
        allowedEnv: config.shellEnv[role] ?? [],
        policy: this.options.policy,
        reportRefusal: (command, decision: Decision) =>
          this.bus.reportError({
            code: 'POLICY_DENIED',
            reason: `${decision.decision === 'ask' ? 'needs approval' : 'denied'} by rule "${decision.rule}": ${decision.reason}`,
            topic: `${config.swarm}/${refusedOn}`,
            task_id: taskId,
            attempt,
            command,
            rule: decision.rule,
            ...(decision.subcommand ? { subcommand: decision.subcommand } : {}),
          }),
        requestApproval: (command, decision) =>
          this.options.requestApproval({ taskId, attempt, command, decision, signal, progress }),
        runbooks: config.runbooks,
        signal,
        progress,
        logger: log,
        services: this.options.services,
        publishEvent: (eventTopic, payload) => this.publishQuietly(eventTopic, payload),
        ...(this.options.llm ? { llm: this.options.llm } : {}),
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
    const fitted = fitJson(outcome.result, config.maxPayloadBytes - ENVELOPE_ROOM_BYTES);
    if (fitted.trimmed) log.warn('result trimmed to fit the message size limit');
    finished();
    this.options.spoke(taskId, attempt);
    // The room after this attempt rides with its outcome (added by report): it is the agent's
    // next claim (§3.2).
    if (outcome.ok) {
      log.info(
        { event: 'completed', durationMs: duration_ms },
        `completed ${taskId} in ${duration_ms} ms`,
      );
      await this.options.report(topicFor('tasksComplete'), {
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
      await this.options.report(topicFor('tasksFailed'), {
        task_id: taskId,
        attempt,
        duration_ms,
        error: outcome.error.slice(0, 4_000),
        retryable: outcome.retryable,
        ...(fitted.value ? { result: fitted.value } : {}),
      });
    }
  }

  private async publishSafely(topic: string, payload: unknown): Promise<void> {
    try {
      await this.bus.publish(topic, payload, { qos: 1 });
    } catch (error) {
      this.options.logger.warn({ err: error, topic }, 'publish failed');
    }
  }

  private publishQuietly(topic: string, payload: unknown): void {
    void this.publishSafely(topic, payload);
  }
}
