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

export interface WatchOptions {
  json: boolean;
  /** Give up after this many seconds (exit 3); none: wait as long as it takes. */
  waitTimeoutS?: number;
  /** Roles that may run the task, to say whom to start when nobody claims it. */
  roles: readonly string[];
  /** Where lines go: the result to `out`, the task's steps to `err` (stdout, stderr). */
  out?: (text: string) => void;
  err?: (text: string) => void;
}

const QUIET_NOTICE_MS = 5_000;

/**
 * Follows one task on the bus for `sheri task submit --wait`: prints its steps to stderr and its
 * result to stdout, and resolves with the exit code — 0 complete, 1 dead, 2 rejected, 3 timeout.
 * It is listening before the task is published (it knows the envelope id the submission will
 * carry), and an outcome counts whenever it arrives: one that comes before `outcome()` is called
 * — a task done before its publisher heard the broker's acknowledgement — settles it at once.
 */
export class TaskWatcher {
  /** The highest attempt heard of: results of lower ones are stale (PROTOCOL §4.6). */
  private attempt = 0;
  private quietTimer: NodeJS.Timeout | undefined;
  private code: number | undefined;
  private settle: (code: number) => void = () => undefined;
  private readonly out: (text: string) => void;
  private readonly err: (text: string) => void;

  private constructor(
    private taskId: string,
    private readonly messageId: string,
    private readonly options: WatchOptions,
  ) {
    this.out = options.out ?? ((text) => process.stdout.write(text));
    this.err = options.err ?? ((text) => process.stderr.write(text));
  }

  /** Subscribe, for the task `taskId` whose submission will carry the envelope id `messageId`. */
  static async start(
    bus: Bus,
    taskId: string,
    messageId: string,
    options: WatchOptions,
  ): Promise<TaskWatcher> {
    const watcher = new TaskWatcher(taskId, messageId, options);
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

  /** The exit code, once the task's outcome is (or was already) seen. */
  outcome(): Promise<number> {
    if (this.code !== undefined) return Promise.resolve(this.code);
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
      this.quietTimer = quiet;
      this.settle = (code) => {
        clearTimeout(quiet);
        clearTimeout(deadline);
        resolve(code);
      };
    });
  }

  private finish(code: number): void {
    if (this.code !== undefined) return;
    this.code = code;
    this.settle(code);
  }

  private handle(topic: string, bytes: Buffer): void {
    if (this.code !== undefined) return;
    switch (topic) {
      case TOPIC.errors:
        return this.on(bytes, ErrorReport, (report) => {
          if (report.message_id !== this.messageId) return;
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
          if (grant.attempt < this.attempt) return;
          this.attempt = grant.attempt;
          clearTimeout(this.quietTimer);
          this.say(`assigned to ${grant.agent_id} (attempt ${grant.attempt})`);
        });
      case TOPIC.tasksProgress:
        return this.onTask(bytes, TaskProgress, (progress) => {
          if (progress.attempt >= this.attempt) this.say(`  ${progress.message}`);
        });
      case TOPIC.tasksFailed:
        return this.onTask(bytes, TaskFailed, (failed) => {
          if (failed.attempt >= this.attempt) {
            this.say(`attempt ${failed.attempt} failed: ${failed.error}`);
          }
        });
      case TOPIC.tasksComplete:
        return this.onTask(bytes, TaskComplete, (done) => {
          // A stale attempt's result is not the task's outcome (PROTOCOL §4.6); one of an attempt
          // whose grant has not reached us yet is newer than any we know, so it counts.
          if (done.attempt < this.attempt) return;
          this.say(`complete in ${done.duration_ms} ms`);
          if (this.options.json) this.out(`${JSON.stringify(done, null, 2)}\n`);
          else printResult(done.result, this.out, this.err);
          this.finish(EXIT.ok);
        });
      case TOPIC.tasksDead:
        return this.onTask(bytes, TaskDead, (dead) => {
          this.say(`dead after ${dead.attempts} attempt(s): ${dead.error}`);
          if (this.options.json) this.out(`${JSON.stringify(dead, null, 2)}\n`);
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
    this.err(`${line}\n`);
  }
}

/** The tail of each command's output, or a model's answer: the part a user looks at first. */
function printResult(
  result: unknown,
  out: (text: string) => void,
  err: (text: string) => void,
): void {
  const answer = result as {
    text?: unknown;
    model?: string;
    turns?: number;
    usage?: { input_tokens: number; output_tokens: number; cost_usd: number };
  };
  if (typeof answer?.text === 'string') {
    out(`${answer.text}\n`);
    const usage = answer.usage;
    if (usage) {
      err(
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
    out(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  for (const command of commands) {
    out(`$ ${command.command}  (exit ${command.exit_code})\n`);
    const output = [command.stdout, command.stderr].filter(Boolean).join('\n').trimEnd();
    if (output) out(`${output}\n`);
  }
}
