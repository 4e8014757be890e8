import { EXIT, SheriError } from '../errors.js';
import type { HubStatus } from '../protocol/messages.js';
import { subscriptionsFor, type TopicKey } from '../protocol/topic-table.js';
import { MAX_REPLY_BYTES, type Bus } from '../transport/bus.js';
import { TopicRouter } from '../transport/topic-router.js';
import { trusted } from './hub-client.js';
import { printResult } from './print-result.js';
import { visible, visibleJson } from '../util/text.js';
import { explainWait, WatchedAgents, WatchedTask, type WaitFacts } from './wait-reason.js';

/** What `--wait` follows, from the topic table. */
const WATCHED: readonly TopicKey[] = [
  'tasksAssigned',
  'tasksProgress',
  'tasksComplete',
  'tasksFailed',
  'tasksDead',
  'errors',
  'hubStatus',
];

/** The queries `--wait` asks the hub (PROTOCOL §10). */
export type WatchQuery = { kind: 'task'; task_id: string } | { kind: 'agents' };

/**
 * `--wait --json` prints one object, whatever the outcome (README "Submit a task"): `state` is
 * the ledger's (`complete`, `dead`), or `rejected` (the hub refused the task, exit 2), or
 * `waiting` (--wait-timeout passed; the task goes on, exit 3).
 */
export interface WaitOutcome {
  task_id: string;
  state: string;
  attempt: number;
  /** The final attempt's result (a dead task's too, when its agent sent one), else null. */
  result: unknown;
  /** Why it is dead, rejected or still waiting; null when complete. */
  error: string | null;
}

export interface WatchOptions {
  json: boolean;
  /** Give up after this many seconds (exit 3); none: wait as long as it takes. */
  waitTimeoutS?: number;
  /** Roles that may run the task, to say whom to start when nobody claims it. */
  roles: readonly string[];
  /**
   * Ask the hub. The bus only hints that a task finished: an agent's message cannot be checked by
   * the CLI, so the hub's signed answer decides (§15.4); and the hub knows why a task waits.
   */
  ask: (query: WatchQuery) => Promise<unknown>;
  /** Say why the task waits once it has had no grant this long (default 5 s, then every 15 s). */
  noticeMs?: number;
  /**
   * The hub's retained status as the submitter read it (a subscription of the same bus to the
   * same topic is not sent the retained message again); changes after it are said.
   */
  hubStatus?: HubStatus;
  /** Where lines go: the result to `out`, the task's steps to `err` (stdout, stderr). */
  out?: (text: string) => void;
  err?: (text: string) => void;
}

const NOTICE_MS = 5_000;
const NOTICE_AGAIN_MS = 15_000;
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
  private granted = false;
  private noticeTimer: NodeJS.Timeout | undefined;
  private lastNotice = '';
  private hubStatus: HubStatus | undefined;
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
    this.hubStatus = options.hubStatus;
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
    // Our credential revoked or rotated meanwhile: no outcome can reach us any more.
    void bus.loginRefused().then((error) => {
      watcher.say(`${error.message}; the task goes on (sheri task show ${watcher.taskId})`);
      watcher.end(EXIT.unavailable, { state: 'waiting', result: null, error: error.message });
    });
    await bus.subscribe(subscriptionsFor('operator', WATCHED));
    return watcher;
  }

  /** The exit code, once the task's outcome is (or was already) seen. */
  outcome(): Promise<number> {
    if (this.code !== undefined) return Promise.resolve(this.code);
    return new Promise<number>((resolve) => {
      this.scheduleNotice(this.options.noticeMs ?? NOTICE_MS);
      const { waitTimeoutS } = this.options;
      const deadline = waitTimeoutS
        ? setTimeout(() => {
            const error = `gave up waiting after ${waitTimeoutS} s; the task goes on (sheri task show ${this.taskId})`;
            this.say(error);
            this.end(EXIT.unavailable, { state: 'waiting', result: null, error });
          }, waitTimeoutS * 1000)
        : undefined;
      this.settleOutcome = (code) => {
        clearTimeout(this.noticeTimer);
        clearTimeout(deadline);
        resolve(code);
      };
    });
  }

  private end(
    code: number,
    outcome: Omit<WaitOutcome, 'task_id' | 'attempt'> & { attempt?: number },
  ): void {
    if (this.code !== undefined) return;
    this.code = code;
    if (this.options.json) {
      const printed: WaitOutcome = {
        task_id: this.taskId,
        state: outcome.state,
        attempt: outcome.attempt ?? this.attempt,
        result: outcome.result,
        error: outcome.error,
      };
      this.out(`${visibleJson(JSON.stringify(printed, null, 2))}\n`);
    }
    this.settleOutcome(code);
  }

  /** Until a grant is seen: say why the task waits, now and then, when the reason changes. */
  private scheduleNotice(delayMs: number): void {
    clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => {
      void this.explain().then(() => {
        if (this.code === undefined && !this.granted) this.scheduleNotice(NOTICE_AGAIN_MS);
      });
    }, delayMs);
  }

  private async explain(): Promise<void> {
    const facts: WaitFacts = {
      taskId: this.taskId,
      roles: this.options.roles,
      hubStatus: this.hubStatus,
    };
    try {
      const reply = await this.options.ask({ kind: 'task', task_id: this.taskId });
      facts.task = WatchedTask.parse(reply);
      if (facts.task.state === 'queued') {
        facts.agents = WatchedAgents.parse(await this.options.ask({ kind: 'agents' }));
      }
    } catch (error) {
      // An answer "no such task" is the hub's word; no answer at all is the hub's silence.
      if (!(error instanceof SheriError) || error.exitCode !== EXIT.usage) {
        facts.hubSilent = (error as Error).message;
      }
    }
    if (this.code !== undefined || this.granted) return;
    const line = explainWait(facts);
    if (line !== this.lastNotice) this.say(line);
    this.lastNotice = line;
  }

  /** One handler per topic followed; only this task's messages count. */
  private routes(): TopicRouter {
    const ours = (payload: { task_id: string }): boolean => payload.task_id === this.taskId;
    return new TopicRouter(
      this.bus,
      {
        hubStatus: (message) => {
          if (!trusted(this.bus, message)) return;
          const status = message.payload;
          const before = this.hubStatus;
          this.hubStatus = status;
          // The retained status at start was said by `task submit`; changes are news.
          if (!before || before.state === status.state) return;
          this.say(
            status.state === 'offline'
              ? `the hub went offline${status.reason ? ` (${status.reason})` : ''}; the task waits for it`
              : 'the hub is back online',
          );
        },
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
          const error = `rejected by ${report.reporter}: ${report.reason}`;
          this.say(error);
          this.end(EXIT.usage, { state: 'rejected', result: null, error });
        },
        tasksAssigned: ({ payload: grant }) => {
          if (!ours(grant) || grant.attempt < this.attempt) return;
          this.attempt = grant.attempt;
          this.granted = true;
          clearTimeout(this.noticeTimer);
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
        if (this.code !== undefined) return;
        const view = WatchedTask.parse(
          await this.options.ask({ kind: 'task', task_id: this.taskId }),
        );
        if (view.state === 'complete' || view.state === 'dead') return this.conclude(view);
      }
      this.say(`the bus said ${this.taskId} finished, but the hub has not recorded it; waiting on`);
    } catch (error) {
      this.say(`the hub did not confirm the outcome: ${(error as Error).message}`);
    } finally {
      this.confirming = false;
    }
  }

  private conclude(view: WatchedTask): void {
    if (view.state === 'complete') {
      this.say(
        this.durationMs !== undefined && view.attempt === this.attempt
          ? `complete in ${this.durationMs} ms`
          : `complete (attempt ${view.attempt})`,
      );
      if (!this.options.json) printResult(view.result, { out: this.out, err: this.err });
      return this.end(EXIT.ok, {
        state: 'complete',
        attempt: view.attempt,
        result: view.result,
        error: null,
      });
    }
    const error = view.last_error ?? 'no error recorded';
    const result = lastAttemptResult(view);
    this.say(`dead after ${view.attempt} attempt(s): ${error}`);
    // What the failing command printed says why: shown as on success, its tail.
    if (!this.options.json && result !== undefined) {
      printResult(result, { out: this.out, err: this.err, failedOnly: true });
    }
    this.end(EXIT.taskFailed, {
      state: 'dead',
      attempt: view.attempt,
      result: result ?? null,
      error,
    });
  }

  /** A line of what the swarm said (errors, progress, reasons): shown, never acted on. */
  private say(line: string): void {
    this.err(`${visible(line)}\n`);
  }
}

/**
 * A dead task's last result, from the hub's history: a retried failure is recorded as `result`,
 * one that is not retried as `failed` with its result (scheduler.ts fail).
 */
function lastAttemptResult(view: WatchedTask): unknown {
  for (const event of [...(view.history ?? [])].reverse()) {
    if (event.attempt !== view.attempt) continue;
    if (event.kind === 'result') return event.detail;
    if (event.kind === 'failed') {
      const detail = event.detail as { result?: unknown } | null;
      if (detail?.result !== undefined) return detail.result;
    }
  }
  return undefined;
}
