import { EXIT } from '../errors.js';
import type { FlowDefinition, FlowUpdate } from '../protocol/flow-messages.js';
import { subscriptionsFor, type TopicKey } from '../protocol/topic-table.js';
import type { FlowDetail } from '../tasks/flow-queries.js';
import { MAX_REPLY_BYTES, type Bus } from '../transport/bus.js';
import { TopicRouter } from '../transport/topic-router.js';
import { trusted } from './hub-client.js';
import { changeLine, liveLines, waitTexts, type Paint } from './flow-view.js';
import { visible } from '../util/text.js';

export interface FlowWatchOptions {
  /** Redraw in place (a terminal), or print one line per change. */
  live: boolean;
  paint: Paint;
  /** Ask the hub for the flow (its signed answer is the verdict, as for `--wait`, §15.4). */
  detail: (flowId: string) => Promise<FlowDetail>;
  /** Where the view goes (stderr); the summary is the caller's. */
  write: (text: string) => void;
  columns: () => number;
  /** Give up after this many seconds (exit 3). */
  waitTimeoutS?: number;
}

export interface FlowVerdict {
  code: number;
  detail?: FlowDetail;
  /** Why the hub refused the submission. */
  refused?: string;
}

/** What `sheri flow run --wait` follows, from the topic table. */
const WATCHED: readonly TopicKey[] = ['flowUpdate', 'tasksProgress', 'errors'];

const REDRAW_MS = 100;
const TICK_MS = 250;
/** Without news for this long, ask the hub how the flow is (a lost update, a hub restart). */
const RESYNC_MS = 5_000;

/**
 * Follows one flow for `sheri flow run --wait` and `sheri demo`: listens before the flow is
 * published (it knows the envelope id its submission will carry), draws the steps as the hub's
 * signed `flows/update`s say, with each running step's latest progress line, and ends with the
 * hub's own record of the flow. A refusal of the submission ends it with exit 2.
 */
export class FlowWatcher {
  private update: FlowUpdate | undefined;
  private readonly progress = new Map<string, string>();
  private drawn = 0;
  private frame = 0;
  private settled = false;
  private stopped = false;
  private timers: NodeJS.Timeout[] = [];
  private lastNews = Date.now();
  private dirty = true;
  private finish: (verdict: FlowVerdict) => void = () => undefined;
  private readonly done: Promise<FlowVerdict>;
  private readonly router: TopicRouter;

  private constructor(
    private readonly bus: Bus,
    private readonly flowId: string,
    private readonly messageId: string,
    private readonly waitsFor: ReadonlyMap<string, string>,
    private readonly options: FlowWatchOptions,
  ) {
    this.done = new Promise((resolve) => (this.finish = resolve));
    this.router = this.routes();
  }

  static async start(
    bus: Bus,
    flowId: string,
    messageId: string,
    definition: FlowDefinition,
    options: FlowWatchOptions,
  ): Promise<FlowWatcher> {
    const waitsFor = waitTexts(definition.steps);
    const watcher = new FlowWatcher(bus, flowId, messageId, waitsFor, options);
    bus.onMessage((topic, bytes) => {
      if (!watcher.settled) watcher.router.handle(topic, bytes);
    });
    // Our credential revoked or rotated meanwhile: no update can reach us any more.
    void bus.loginRefused().then((error) => {
      watcher.say(`${error.message}; the flow goes on (sheri flow show ${watcher.flowId})`);
      watcher.end({ code: EXIT.unavailable });
    });
    await bus.subscribe(subscriptionsFor('operator', WATCHED));
    return watcher;
  }

  /** Resolves once the flow has ended (or was refused, or the wait timed out). */
  outcome(): Promise<FlowVerdict> {
    // The hub's refusal can arrive before the submission's own PUBACK, so before this is asked:
    // no timer then, for stop() (already done) would never clear it, and the CLI would live on.
    if (this.settled) return this.done;
    if (this.options.live) this.options.write('\x1b[?25l'); // no cursor while redrawing
    this.timers.push(setInterval(() => this.onTick(), this.options.live ? REDRAW_MS : TICK_MS));
    if (this.options.waitTimeoutS) {
      this.timers.push(
        setTimeout(() => {
          this.say(
            `gave up waiting after ${this.options.waitTimeoutS} s; the flow goes on (sheri flow show ${this.flowId})`,
          );
          this.end({ code: EXIT.unavailable });
        }, this.options.waitTimeoutS * 1000),
      );
    }
    return this.done;
  }

  /** Stop drawing and listening (Ctrl-C, or done); the last drawing stays. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    if (this.options.live) {
      this.draw(true);
      this.options.write('\x1b[?25h');
    }
  }

  /** One handler per topic followed; only this flow's messages count. */
  private routes(): TopicRouter {
    return new TopicRouter(
      this.bus,
      {
        flowUpdate: (message) => {
          // Only the hub's signed word moves the view (PROTOCOL §15.4).
          if (!trusted(this.bus, message) || message.payload.flow_id !== this.flowId) return;
          this.apply(message.payload);
        },
        tasksProgress: ({ payload }) => {
          // Agents' own words, shown as the bus carries them (the CLI cannot check their signature).
          if (!payload.task_id.startsWith(`${this.flowId}.`)) return;
          // An agent's words (a model's, in a prompt task): shown, never acted on by the terminal.
          this.progress.set(
            payload.task_id,
            visible(payload.message).split('\n')[0]!.slice(0, 200),
          );
          this.dirty = true;
        },
        errors: (message) => {
          const report = message.payload;
          if (report.message_id !== this.messageId || !trusted(this.bus, message)) return;
          if (report.code === 'REPLAYED') return; // our own message, delivered twice
          if (report.code === 'DUPLICATE_FLOW') {
            this.say(`${report.reason}; following it`);
            void this.conclude();
            return;
          }
          this.end({
            code: EXIT.usage,
            refused: `rejected by ${report.reporter}: ${report.reason}`,
          });
        },
      },
      // The CLI reads what the swarm says; it is not the place to police its size.
      { decode: { maxBytes: MAX_REPLY_BYTES } },
    );
  }

  private apply(update: FlowUpdate): void {
    this.lastNews = Date.now();
    if (!this.options.live) {
      const before = new Map((this.update?.steps ?? []).map((step) => [step.id, step]));
      for (const step of update.steps) {
        const line = changeLine(before.get(step.id), step, Date.now());
        if (line) this.say(line);
      }
    }
    this.update = update;
    this.dirty = true;
    if (update.state !== 'running') void this.conclude();
  }

  private onTick(): void {
    this.frame += 1;
    if (this.options.live && this.update?.steps.some((step) => step.state === 'running'))
      this.dirty = true;
    if (this.options.live && this.dirty) this.draw();
    if (Date.now() - this.lastNews > RESYNC_MS) {
      this.lastNews = Date.now();
      void this.resync();
    }
  }

  /** The hub's word on the flow now: it may have ended while an update was lost. */
  private async resync(): Promise<void> {
    try {
      const detail = await this.options.detail(this.flowId);
      if (this.settled) return;
      this.apply(detail as unknown as FlowUpdate);
    } catch {
      // Not recorded yet (the hub is away, or has not read it): keep waiting.
    }
  }

  private async conclude(): Promise<void> {
    try {
      const detail = await this.options.detail(this.flowId);
      if (detail.state === 'running') return;
      this.update = detail as unknown as FlowUpdate;
      this.end({ code: detail.state === 'succeeded' ? EXIT.ok : EXIT.taskFailed, detail });
    } catch (error) {
      this.say(`the hub did not confirm the flow's end: ${(error as Error).message}`);
    }
  }

  private end(verdict: FlowVerdict): void {
    if (this.settled) return;
    this.settled = true;
    this.stop();
    this.finish(verdict);
  }

  private draw(final = false): void {
    if (!this.update) return;
    this.dirty = false;
    const lines = liveLines(
      {
        update: this.update,
        progress: this.progress,
        waitsFor: this.waitsFor,
        now: Date.now(),
        frame: this.frame,
      },
      this.options.columns(),
      this.options.paint,
    );
    const up = this.drawn > 0 ? `\x1b[${this.drawn}A\x1b[0J` : '';
    this.options.write(`${up}${lines.join('\n')}\n`);
    this.drawn = final ? 0 : lines.length;
  }

  /** A line of what the swarm said (refusals, reasons): shown, never acted on (visible). */
  private say(said: string): void {
    const line = visible(said);
    if (this.options.live && this.drawn > 0) {
      // Above the live block: clear it, say the line, draw it again below.
      this.options.write(`\x1b[${this.drawn}A\x1b[0J${line}\n`);
      this.drawn = 0;
      this.dirty = true;
      return;
    }
    this.options.write(`${line}\n`);
  }
}
