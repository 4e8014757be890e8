import { randomBytes } from 'node:crypto';
import type { Config } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import { ErrorReport, TaskComplete, TaskDead, type TaskSpec } from '../protocol/messages.js';
import { fitJson } from '../protocol/fit-json.js';
import { rolesForType } from '../protocol/task-types.js';
import { TOPIC } from '../protocol/topics.js';
import { errorResult, type DelegateRequest, type ToolResult } from '../tools/registry.js';
import type { Bus } from '../transport/bus.js';

/** A subtask's result handed back to the model is cut to this, keeping its shape. */
const RESULT_BYTES = 40_000;
const WATCHED = [TOPIC.tasksComplete, TOPIC.tasksDead, TOPIC.errors];

interface Waiter {
  messageId?: string;
  settle: (result: ToolResult) => void;
}

/**
 * delegate_task on the bus (PROTOCOL §14): submit a subtask with the parent's id through the
 * hub like any task, then wait for its complete or dead message — or the hub's rejection on
 * errors. The agent listens on those topics only while some delegation waits.
 */
export class Delegations {
  private readonly waiting = new Map<string, Waiter>();
  private subscribed: Promise<void> | undefined;

  constructor(
    private readonly bus: Bus,
    private readonly config: Config,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {}

  async delegate(
    parent: { taskId: string; depth: number },
    request: DelegateRequest,
    signal: AbortSignal,
  ): Promise<ToolResult> {
    const roles = rolesForType(this.config.taskTypes, request.type);
    if (roles.length === 0) {
      const known = Object.keys(this.config.taskTypes).join(', ');
      return errorResult(`unknown task type "${request.type}"; types are ${known}`);
    }
    const suffix = `.sub-${randomBytes(3).toString('hex')}`;
    const taskId =
      parent.taskId.length + suffix.length <= 128
        ? `${parent.taskId}${suffix}`
        : `sub-${randomBytes(8).toString('hex')}`;
    const spec: TaskSpec = {
      task_id: taskId,
      type: request.type,
      payload: request.payload ?? {},
      ...(request.prompt ? { prompt: request.prompt } : {}),
      ...(request.commands ? { commands: request.commands } : {}),
      parent_task_id: parent.taskId,
      depth: parent.depth + 1,
    };
    const waitMs = Math.min(request.timeoutMs ?? this.timeoutMs, this.timeoutMs);
    const waiter: Waiter = { settle: () => undefined };
    const outcome = new Promise<ToolResult>((resolve) => (waiter.settle = resolve));
    this.waiting.set(taskId, waiter);
    const timer = setTimeout(
      () =>
        waiter.settle(
          errorResult(
            `subtask ${taskId} (${request.type}) did not finish within ${waitMs / 1000} s; it may still run (sheri task show ${taskId})`,
          ),
        ),
      waitMs,
    );
    const onAbort = (): void => waiter.settle(errorResult('canceled'));
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await this.watch();
      waiter.messageId = await this.bus.publish(TOPIC.tasksNew, spec);
      this.logger.info({ taskId, type: request.type }, `delegated ${taskId} to ${roles.join('/')}`);
      return await outcome;
    } catch (error) {
      return errorResult(`could not submit the subtask: ${(error as Error).message}`);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      this.waiting.delete(taskId);
    }
  }

  /** Route a message; true when it was one of ours. */
  handle(topic: string, bytes: Buffer): boolean {
    if (this.waiting.size === 0 || !(WATCHED as string[]).includes(topic)) return false;
    if (topic === TOPIC.tasksComplete) {
      const message = this.bus.decode(topic, bytes, TaskComplete);
      const waiter = message && this.waiting.get(message.payload.task_id);
      if (!message || !waiter) return true;
      const result = fitJson(message.payload.result, RESULT_BYTES).value;
      waiter.settle({
        content: `subtask ${message.payload.task_id} completed by ${message.envelope.agent_id} in ${message.payload.duration_ms} ms; result:\n${JSON.stringify(result, null, 2)}`,
      });
    } else if (topic === TOPIC.tasksDead) {
      const message = this.bus.decode(topic, bytes, TaskDead);
      const waiter = message && this.waiting.get(message.payload.task_id);
      if (message && waiter) {
        waiter.settle(
          errorResult(
            `subtask ${message.payload.task_id} failed after ${message.payload.attempts} attempt(s): ${message.payload.error}`,
          ),
        );
      }
    } else {
      const message = this.bus.decode(topic, bytes, ErrorReport);
      const id = message?.payload.message_id;
      const waiter = [...this.waiting.values()].find((w) => id && w.messageId === id);
      waiter?.settle(errorResult(`the hub rejected the subtask: ${message!.payload.reason}`));
    }
    return true;
  }

  private async watch(): Promise<void> {
    this.subscribed ??= this.bus
      .subscribe(Object.fromEntries(WATCHED.map((topic) => [topic, 1 as const])))
      .catch((error: unknown) => {
        this.subscribed = undefined;
        throw error;
      });
    await this.subscribed;
  }
}
