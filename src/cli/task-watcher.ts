import type { z } from 'zod';
import { EXIT } from '../errors.js';
import { decodeMessage } from '../protocol/codec.js';
import {
  ErrorReport,
  TaskAssigned,
  TaskComplete,
  TaskDead,
  TaskFailed,
  TaskProgress,
} from '../protocol/messages.js';
import { TOPIC } from '../protocol/topics.js';
import type { Bus } from '../transport/bus.js';
import { printJson } from './common.js';

export interface WatchOptions {
  json: boolean;
  /** Give up after this many seconds (exit 3); none: wait as long as it takes. */
  waitTimeoutS?: number;
  /** Roles that may run the task, to say whom to start when nobody claims it. */
  roles: readonly string[];
}

const QUIET_NOTICE_MS = 5_000;

/**
 * Follows one task on the bus for `sheri task submit --wait`: prints its steps to stderr and its
 * result to stdout, and resolves with the exit code — 0 complete, 1 dead, 2 rejected, 3 timeout.
 * Subscribes before the task is published, so no step can be missed.
 */
export class TaskWatcher {
  private attempt = 0;
  private messageId = '';
  private quietTimer: NodeJS.Timeout | undefined;
  private finish: (code: number) => void = () => undefined;

  private constructor(
    private taskId: string,
    private readonly options: WatchOptions,
  ) {}

  static async start(bus: Bus, taskId: string, options: WatchOptions): Promise<TaskWatcher> {
    const watcher = new TaskWatcher(taskId, options);
    bus.onMessage((topic, bytes) => watcher.handle(topic, bytes));
    await bus.subscribe({
      [TOPIC.tasksAssigned]: 1,
      [TOPIC.tasksProgress]: 1,
      [TOPIC.tasksComplete]: 1,
      [TOPIC.tasksFailed]: 1,
      [TOPIC.tasksDead]: 1,
      [TOPIC.errors]: 1,
    });
    return watcher;
  }

  /** Wait for the outcome of the task published in the message `messageId`. */
  outcome(messageId: string): Promise<number> {
    this.messageId = messageId;
    return new Promise<number>((resolve) => {
      const quiet = setTimeout(
        () =>
          this.say(
            `still queued after 5 s — is an agent of role ${this.options.roles.join(' or ')} running? (sheri agents)`,
          ),
        QUIET_NOTICE_MS,
      );
      const { waitTimeoutS } = this.options;
      const deadline = waitTimeoutS
        ? setTimeout(() => {
            this.say(
              `gave up waiting after ${waitTimeoutS} s; the task goes on (sheri task show ${this.taskId})`,
            );
            this.finish(EXIT.unavailable);
          }, waitTimeoutS * 1000)
        : undefined;
      this.finish = (code) => {
        clearTimeout(quiet);
        clearTimeout(deadline);
        this.finish = () => undefined;
        resolve(code);
      };
      this.quietTimer = quiet;
    });
  }

  private handle(topic: string, bytes: Buffer): void {
    switch (topic) {
      case TOPIC.errors:
        return this.on(bytes, ErrorReport, (report) => {
          if (report.message_id !== this.messageId || !this.messageId) return;
          if (report.code === 'DUPLICATE_TASK' && typeof report.task_id === 'string') {
            // Submitted before (or this very message delivered twice): its outcome is ours.
            this.taskId = report.task_id;
            if (report.state === 'complete' || report.state === 'dead') {
              this.say(`${report.reason} (sheri task show ${report.task_id})`);
              this.finish(report.state === 'complete' ? EXIT.ok : EXIT.taskFailed);
            } else {
              this.say(`${report.reason}; following task ${report.task_id}`);
            }
            return;
          }
          this.say(`rejected by ${report.reporter}: ${report.reason}`);
          this.finish(EXIT.usage);
        });
      case TOPIC.tasksAssigned:
        return this.onTask(bytes, TaskAssigned, (grant) => {
          this.attempt = grant.attempt;
          clearTimeout(this.quietTimer);
          this.say(`assigned to ${grant.agent_id} (attempt ${grant.attempt})`);
        });
      case TOPIC.tasksProgress:
        return this.onTask(bytes, TaskProgress, (progress) => {
          if (progress.attempt === this.attempt) this.say(`  ${progress.message}`);
        });
      case TOPIC.tasksFailed:
        return this.onTask(bytes, TaskFailed, (failed) => {
          if (failed.attempt === this.attempt) {
            this.say(`attempt ${failed.attempt} failed: ${failed.error}`);
          }
        });
      case TOPIC.tasksComplete:
        return this.onTask(bytes, TaskComplete, (done) => {
          // A stale attempt's result is not the task's outcome (PROTOCOL §4).
          if (done.attempt !== this.attempt) return;
          this.say(`complete in ${done.duration_ms} ms`);
          if (this.options.json) printJson(done);
          else printResult(done.result);
          this.finish(EXIT.ok);
        });
      case TOPIC.tasksDead:
        return this.onTask(bytes, TaskDead, (dead) => {
          this.say(`dead after ${dead.attempts} attempt(s): ${dead.error}`);
          if (this.options.json) printJson(dead);
          this.finish(EXIT.taskFailed);
        });
    }
  }

  private on<S extends z.ZodType>(
    bytes: Buffer,
    schema: S,
    act: (payload: z.output<S>) => void,
  ): void {
    // The CLI reads what the swarm says; it is not the place to police its size.
    const decoded = decodeMessage(bytes, schema, Number.MAX_SAFE_INTEGER);
    if (decoded.ok) act(decoded.payload);
  }

  private onTask<S extends z.ZodType<{ task_id: string }>>(
    bytes: Buffer,
    schema: S,
    act: (payload: z.output<S>) => void,
  ): void {
    this.on(bytes, schema, (payload) => {
      if (payload.task_id === this.taskId) act(payload);
    });
  }

  private say(line: string): void {
    process.stderr.write(`${line}\n`);
  }
}

/** The tail of each command's output, or a model's answer: the part a user looks at first. */
function printResult(result: unknown): void {
  const answer = result as {
    text?: unknown;
    model?: string;
    turns?: number;
    usage?: { input_tokens: number; output_tokens: number; cost_usd: number };
  };
  if (typeof answer?.text === 'string') {
    process.stdout.write(`${answer.text}\n`);
    const usage = answer.usage;
    if (usage) {
      process.stderr.write(
        `(${answer.model}: ${answer.turns} turns, ${usage.input_tokens} in / ${usage.output_tokens} out tokens, $${usage.cost_usd.toFixed(4)})\n`,
      );
    }
    return;
  }
  const commands = (
    result as {
      commands?: { command: string; exit_code: number | null; stdout: string; stderr: string }[];
    }
  )?.commands;
  if (!Array.isArray(commands)) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  for (const command of commands) {
    process.stdout.write(`$ ${command.command}  (exit ${command.exit_code})\n`);
    const output = [command.stdout, command.stderr].filter(Boolean).join('\n').trimEnd();
    if (output) process.stdout.write(`${output}\n`);
  }
}
