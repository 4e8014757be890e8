import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { EXIT, SheriError } from '../errors.js';
import type { TaskSpec } from '../protocol/messages.js';
import { subscriptionsFor } from '../protocol/topic-table.js';
import type { Bus } from '../transport/bus.js';
import { TopicRouter } from '../transport/topic-router.js';
import { trusted } from './hub-client.js';

/**
 * What became of a submission published without `--wait` (PROTOCOL §3.9): the hub's word that its
 * ledger holds the task, its refusal, or nothing within the time allowed.
 */
export type Confirmation =
  | { kind: 'recorded'; state: string }
  /** Submitted before (the same task_id or idempotency_key): the existing task is the one. */
  | { kind: 'duplicate'; taskId: string; reason: string }
  | { kind: 'rejected'; reason: string }
  | { kind: 'unconfirmed'; reason: string };

/** The fields of the hub's `task` answer the confirmation reads (hub-replies.ts TaskDetail). */
const RecordedTask = z.object({ state: z.string(), spec: z.unknown() });

/** Pauses between asks: the query may reach the hub before the task it names. */
const ASK_DELAYS_MS = [0, 25, 50, 100, 200, 400, 800, 1_600, 3_200];

/**
 * Waits for the hub to confirm one submission. Listening on `<swarm>/errors` starts before the
 * task is published (the refusal names the envelope id); then the hub is asked for the task until
 * it names it. The hub answers a query only once the turn that read it is in the ledger (§3.8),
 * and a hub that cannot record answers nothing, so an answer naming the task — with the spec that
 * was sent — is the confirmation. A task of the same id but another spec is an earlier one, whose
 * `DUPLICATE_TASK` report decides.
 */
export class SubmitConfirmation {
  private settled: Confirmation | undefined;
  private wake: () => void = () => undefined;

  private constructor(
    private readonly bus: Bus,
    private readonly messageId: string,
  ) {}

  static async listen(bus: Bus, messageId: string): Promise<SubmitConfirmation> {
    const confirmation = new SubmitConfirmation(bus, messageId);
    const router = new TopicRouter(bus, {
      errors: (message) => {
        const report = message.payload;
        if (report.message_id !== messageId || !trusted(bus, message)) return;
        // A replay report means the original was handled: it decides nothing here.
        if (report.code === 'REPLAYED') return;
        confirmation.settle(
          report.code === 'DUPLICATE_TASK' && typeof report.task_id === 'string'
            ? { kind: 'duplicate', taskId: report.task_id, reason: report.reason }
            : { kind: 'rejected', reason: `rejected by ${report.reporter}: ${report.reason}` },
        );
      },
    });
    bus.onMessage((topic, bytes) => {
      if (!confirmation.settled) router.handle(topic, bytes);
    });
    await bus.subscribe(subscriptionsFor('operator', ['errors']));
    return confirmation;
  }

  /**
   * After the publish: ask the hub (`ask`, a `task` query) until it names the task, a report on
   * errors settles it, or `timeoutMs` passes.
   */
  async wait(
    spec: TaskSpec,
    /** Ask the hub for the task, waiting for its answer at most `waitMs`. */
    ask: (taskId: string, waitMs: number) => Promise<unknown>,
    timeoutMs: number,
  ): Promise<Confirmation> {
    const deadline = Date.now() + timeoutMs;
    const sent: unknown = JSON.parse(JSON.stringify(spec));
    let silence: string | undefined;
    for (const delayMs of ASK_DELAYS_MS) {
      if (delayMs) await this.pause(Math.min(delayMs, deadline - Date.now()));
      if (this.settled) return this.settled;
      if (Date.now() >= deadline) break;
      try {
        const task = RecordedTask.parse(await ask(spec.task_id, deadline - Date.now()));
        if (this.settled) return this.settled;
        if (isDeepStrictEqual(task.spec, sent)) {
          return this.settle({ kind: 'recorded', state: task.state });
        }
      } catch (error) {
        // "No such task" is the hub's word (it has not read the task yet); anything else — no
        // answer at all — is its silence, and asking again would only wait as long again.
        if (!(error instanceof SheriError) || error.exitCode !== EXIT.usage) {
          silence =
            error instanceof SheriError
              ? `the hub did not answer within ${timeoutMs / 1000} s`
              : (error as Error).message;
          break;
        }
      }
    }
    if (this.settled) return this.settled;
    return this.settle({
      kind: 'unconfirmed',
      reason: silence ?? `the hub had not recorded it after ${timeoutMs / 1000} s`,
    });
  }

  private settle(outcome: Confirmation): Confirmation {
    this.settled ??= outcome;
    this.wake();
    return this.settled;
  }

  /** Sleep, cut short by a report on errors. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, ms));
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
