import { randomBytes } from 'node:crypto';
import type { Config } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import type { TaskSpec } from '../protocol/messages.js';
import { fitJson } from '../protocol/fit-json.js';
import { rolesForType } from '../protocol/task-types.js';
import { topicFor } from '../protocol/topic-table.js';
import { errorResult, type DelegateRequest, type ToolResult } from '../tools/registry.js';
import type { Bus } from '../transport/bus.js';
import type { RouteHandlers } from '../transport/topic-router.js';

/** A subtask's result handed back to the model is cut to this, keeping its shape. */
const RESULT_BYTES = 40_000;

interface Waiter {
  messageId?: string;
  settle: (result: ToolResult) => void;
}

/**
 * delegate_task on the bus (PROTOCOL §14.3): submit a subtask with the parent's id through the
 * hub like any task, then wait for the hub to say on `tasks/delegated/<agent>` — the agent's own
 * topic, signed for it — how it ended, or why it was refused. Agents do not read others'
 * results; the agent subscribes there once its first delegation waits.
 */
export class Delegations {
  private readonly waiting = new Map<string, Waiter>();
  private subscribed: Promise<void> | undefined;
  private readonly topic: string;

  constructor(
    private readonly bus: Bus,
    private readonly config: Config,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
    agentId: string,
  ) {
    this.topic = topicFor('tasksDelegated', { agent: agentId });
  }

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
      waiter.messageId = await this.bus.publish(topicFor('tasksNew'), spec);
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

  /** Its part of the agent's routes: outcomes on its own `tasks/delegated/<agent>`. */
  routes(): RouteHandlers {
    return {
      tasksDelegated: (message, topic) => {
        if (topic !== this.topic) return;
        const outcome = message.payload;
        const waiter =
          this.waiting.get(outcome.task_id) ??
          [...this.waiting.values()].find(
            (w) => outcome.message_id && w.messageId === outcome.message_id,
          );
        if (waiter) waiter.settle(describeOutcome(outcome));
      },
    };
  }

  private async watch(): Promise<void> {
    this.subscribed ??= this.bus.subscribe({ [this.topic]: 1 }).catch((error: unknown) => {
      this.subscribed = undefined;
      throw error;
    });
    await this.subscribed;
  }
}

function describeOutcome(outcome: {
  task_id: string;
  state: 'complete' | 'dead' | 'rejected';
  agent_id?: string | undefined;
  result?: unknown;
  attempts?: number | undefined;
  error?: string | undefined;
  code?: string | undefined;
}): ToolResult {
  if (outcome.state === 'complete') {
    const result = fitJson(outcome.result, RESULT_BYTES).value;
    const by = outcome.agent_id ? ` by ${outcome.agent_id}` : '';
    return {
      content: `subtask ${outcome.task_id} completed${by}; result:\n${JSON.stringify(result, null, 2)}`,
    };
  }
  if (outcome.state === 'dead') {
    return errorResult(
      `subtask ${outcome.task_id} failed after ${outcome.attempts ?? 0} attempt(s): ${outcome.error ?? 'no error given'}`,
    );
  }
  return errorResult(`the hub rejected the subtask: ${outcome.error ?? outcome.code}`);
}
