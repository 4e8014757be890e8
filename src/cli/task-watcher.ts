import { EXIT } from '../errors.js';
import { subscriptionsFor, type TopicKey } from '../protocol/topic-table.js';
import { MAX_REPLY_BYTES, type Bus } from '../transport/bus.js';
import { TopicRouter } from '../transport/topic-router.js';
import { trusted } from './hub-client.js';

/** What `--wait` follows, from the topic table. */
const WATCHED: readonly TopicKey[] = [
  'tasksAssigned',
  'tasksProgress',
  'tasksComplete',
  'tasksFailed',
  'tasksDead',
  'errors',
];

/** What the hub's ledger says of the task (`sheri task show`), the verdict of `--wait`. */
export interface LedgerView {
  state: string;
  attempt: number;
  result: unknown;
  last_error: string | null;
}

export interface WatchOptions {
  json: boolean;
  /** Give up after this many seconds (exit 3); none: wait as long as it takes. */
  waitTimeoutS?: number;
  /** Roles that may run the task, to say whom to start when nobody claims it. */
  roles: readonly string[];
  /**
   * Ask the hub what its ledger says of a task. The bus only hints that a task finished: an
   * agent's message cannot be checked by the CLI, so the hub's signed answer decides (§15.4).
   */
  confirm: (taskId: string) => Promise<LedgerView>;
  /** Where lines go: the result to `out`, the task's steps to `err` (stdout, stderr). */
  out?: (text: string) => void;
  err?: (text: string) => void;
}

const QUIET_NOTICE_MS = 5_000;
/** Pauses between asking the hub to confirm an outcome the bus announced. */
const CONFIRM_DELAYS_MS = [0, 50, 100, 200, 400, 800, 1_600, 3_200];

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
  private settleOutcome: (code: number) => void = () => undefined;
  private readonly out: (text: string) => void;
  private readonly err: (text: string) => void;

  private confirming = false;
  /** What the bus said the finishing attempt took, for the closing line. */
  private durationMs: number | undefined;
  private readonly router: TopicRouter;

  private constructor(
    private taskId: string,
    private readonly messageId: string,
    private readonly options: WatchOptions,
    private readonly bus: Bus,
  ) {
    this.out = options.out ?? ((text) => process.stdout.write(text));
    this.err = options.err ?? ((text) => process.stderr.write(text));
    this.router = this.routes();
  }

  /** Subscribe, for the task `taskId` whose submission will carry the envelope id `messageId`. */
  static async start(
    bus: Bus,
    taskId: string,
    messageId: string,
    options: WatchOptions,
  ): Promise<TaskWatcher> {
    const watcher = new TaskWatcher(taskId, messageId, options, bus);
    bus.onMessage((topic, bytes) => {
      if (watcher.code === undefined) watcher.router.handle(topic, bytes);
    });
    await bus.subscribe(subscriptionsFor('operator', WATCHED));
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
      this.settleOutcome = (code) => {
        clearTimeout(quiet);
        clearTimeout(deadline);
        resolve(code);
      };
    });
  }

  private finish(code: number): void {
    if (this.code !== undefined) return;
    this.code = code;
    this.settleOutcome(code);
  }

  /** One handler per topic followed; only this task's messages count. */
  private routes(): TopicRouter {
    const ours = (payload: { task_id: string }): boolean => payload.task_id === this.taskId;
    return new TopicRouter(
      this.bus,
      {
        errors: (message) => {
          const report = message.payload;
          if (report.message_id !== this.messageId) return;
          // Only the hub's own word counts; a replay report means the original was handled.
          if (!trusted(this.bus, message) || report.code === 'REPLAYED') return;
          if (report.code === 'DUPLICATE_TASK' && typeof report.task_id === 'string') {
            // Submitted before (or this very message delivered twice): its outcome is ours.
            this.taskId = report.task_id;
            if (report.state === 'complete' || report.state === 'dead') {
              this.say(`${report.reason} (sheri task show ${report.task_id})`);
              void this.settle();
            } else {
              this.say(`${report.reason}; following task ${report.task_id}`);
            }
            return;
          }
          this.say(`rejected by ${report.reporter}: ${report.reason}`);
          this.finish(EXIT.usage);
        },
        tasksAssigned: ({ payload: grant }) => {
          if (!ours(grant) || grant.attempt < this.attempt) return;
          this.attempt = grant.attempt;
          clearTimeout(this.quietTimer);
          this.say(`assigned to ${grant.agent_id} (attempt ${grant.attempt})`);
        },
        tasksProgress: ({ payload: progress }) => {
          if (ours(progress) && progress.attempt >= this.attempt) this.say(`  ${progress.message}`);
        },
        tasksFailed: ({ payload: failed }) => {
          if (ours(failed) && failed.attempt >= this.attempt) {
            this.say(`attempt ${failed.attempt} failed: ${failed.error}`);
          }
        },
        tasksComplete: ({ payload: done }) => {
          // A stale attempt's result is not the task's outcome (PROTOCOL §4.6); one of an attempt
          // whose grant has not reached us yet is newer than any we know, so it counts.
          if (!ours(done) || done.attempt < this.attempt) return;
          this.durationMs = done.duration_ms;
          void this.settle();
        },
        tasksDead: ({ payload: dead }) => {
          if (ours(dead)) void this.settle();
        },
      },
      // The CLI reads what the swarm says; it is not the place to police its size.
      { decode: { maxBytes: MAX_REPLY_BYTES } },
    );
  }

  /**
   * The bus says the task finished: ask the hub, whose ledger is the truth, and print what it
   * recorded. A forged `tasks/complete` (the hub still has the task assigned) changes nothing.
   */
  private async settle(): Promise<void> {
    if (this.confirming) return;
    this.confirming = true;
    try {
      // The hub may not have recorded it yet (delivery to its persistent session can lag the
      // bus, PROTOCOL §8.4): ask again a few times before waiting on.
      for (const delayMs of CONFIRM_DELAYS_MS) {
        if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
        const view = await this.options.confirm(this.taskId);
        if (view.state === 'complete' || view.state === 'dead') return this.conclude(view);
      }
      this.say(`the bus said ${this.taskId} finished, but the hub has not recorded it; waiting on`);
    } catch (error) {
      this.say(`the hub did not confirm the outcome: ${(error as Error).message}`);
    } finally {
      this.confirming = false;
    }
  }

  private conclude(view: LedgerView): void {
    if (view.state === 'complete') {
      this.say(
        this.durationMs !== undefined && view.attempt === this.attempt
          ? `complete in ${this.durationMs} ms`
          : `complete (attempt ${view.attempt})`,
      );
      if (this.options.json) {
        this.printJson({ task_id: this.taskId, state: view.state, result: view.result });
      } else printResult(view.result, this.out, this.err);
      this.finish(EXIT.ok);
    } else {
      this.say(`dead after ${view.attempt} attempt(s): ${view.last_error ?? 'no error recorded'}`);
      if (this.options.json) {
        this.printJson({ task_id: this.taskId, state: view.state, error: view.last_error });
      }
      this.finish(EXIT.taskFailed);
    }
  }

  private say(line: string): void {
    this.err(`${line}\n`);
  }

  private printJson(value: unknown): void {
    this.out(`${JSON.stringify(value, null, 2)}\n`);
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
