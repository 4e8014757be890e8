import type { Logger } from '../logging/logger.js';
import type { TaskRef } from '../protocol/messages.js';
import type { Bus } from '../transport/bus.js';

/** Outcomes kept unconfirmed at most; past this the oldest is dropped, with a log line. */
export const MAX_UNSETTLED = 10_000;
/**
 * Sends of one outcome at most (the first and its resends) before the agent gives up on a
 * confirmation — a hub that never confirms (older than PROTOCOL §4.8) would otherwise record a
 * stale result on every heartbeat for ever. The hub's lease decides then (§4.2).
 */
export const MAX_SENDS = 10;

/** The agent's room, sent with every outcome: it is also its claim (PROTOCOL §3.2). */
export interface Capacity {
  free: number;
  running: TaskRef[];
}

interface Unsettled {
  topic: string;
  /** The outcome without the room, which is taken afresh at each send. */
  payload: Record<string, unknown> & { task_id: string; attempt: number };
  /** Monotonic ms of the last send. */
  sentAt: number;
  sends: number;
}

export interface OutboxOptions {
  logger: Logger;
  capacity: () => Capacity;
  /** Monotonic ms. */
  now: () => number;
  max?: number;
  maxSends?: number;
}

/**
 * Outcomes and releases the hub has not confirmed yet (PROTOCOL §4.8). A broker that PUBACKed
 * one may still lose it before the hub's session has it (mosquitto killed -9 between autosaves,
 * or stopped with `persistence false`), and mqtt.js resends only what the broker did not
 * acknowledge; so each is kept until the hub's `tasks/settled/<agent>` lists it, and sent again —
 * a fresh envelope each time, so the replay guard (§15.4) takes it as new, the hub deduplicating
 * by task and attempt — after every reconnect, when the hub comes back online, and whenever it
 * has waited `resendAfterMs` unconfirmed while the hub is online.
 */
export class OutcomeOutbox {
  private readonly unsettled = new Map<string, Unsettled>();
  /** The hub's last word on `hub/status`: while it is offline, resends would only pile up in its session. */
  private hubOnline = true;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly bus: Bus,
    private readonly options: OutboxOptions,
  ) {}

  get size(): number {
    return this.unsettled.size;
  }

  /** What waits for a confirmation, as `task#attempt`. */
  keys(): string[] {
    return [...this.unsettled.keys()];
  }

  /** Send an outcome or release and keep it until the hub confirms it. */
  async send(
    topic: string,
    payload: Record<string, unknown> & { task_id: string; attempt: number },
  ): Promise<void> {
    const key = `${payload.task_id}#${payload.attempt}`;
    const entry: Unsettled = { topic, payload, sentAt: this.options.now(), sends: 0 };
    this.unsettled.delete(key);
    this.unsettled.set(key, entry);
    const max = this.options.max ?? MAX_UNSETTLED;
    if (this.unsettled.size > max) {
      const [oldest] = this.unsettled.keys();
      this.unsettled.delete(oldest!);
      this.options.logger.warn(
        { event: 'unsettled-dropped', outcome: oldest, max },
        `more than ${max} outcomes wait for the hub's confirmation: ${oldest} dropped unconfirmed (the hub's lease decides it)`,
      );
    }
    await this.publish(key, entry);
  }

  /** The hub recorded these (PROTOCOL §4.8): no more sends. */
  settled(results: readonly { task_id: string; attempt: number }[]): void {
    for (const ref of results) this.unsettled.delete(`${ref.task_id}#${ref.attempt}`);
    if (this.unsettled.size === 0) for (const wake of [...this.waiters]) wake();
  }

  /**
   * What `hub/status` says now. Each `online` — the hub (re)started or reconnected, perhaps to a
   * broker that forgot its session — and it hears every unconfirmed outcome again.
   */
  hubState(online: boolean): void {
    this.hubOnline = online;
    if (online) this.resend(0);
  }

  /** Send again what has waited at least `olderThanMs` since its last send (0: everything). */
  resend(olderThanMs: number): void {
    if (!this.hubOnline || !this.bus.connected) return;
    const now = this.options.now();
    let again = 0;
    for (const [key, entry] of [...this.unsettled]) {
      if (now - entry.sentAt < olderThanMs) continue;
      if (entry.sends >= (this.options.maxSends ?? MAX_SENDS)) {
        this.unsettled.delete(key);
        this.options.logger.warn(
          { event: 'unsettled-given-up', outcome: key, sends: entry.sends },
          `no confirmation from the hub of ${key} after ${entry.sends} sends; not sent again (the hub's lease decides it)`,
        );
        continue;
      }
      entry.sentAt = now;
      again += 1;
      void this.publish(key, entry);
    }
    if (again > 0) {
      this.options.logger.info(
        { event: 'unsettled-resent', outcomes: again },
        `sent ${again} outcome(s) again that the hub has not confirmed`,
      );
    }
    if (this.unsettled.size === 0) for (const wake of [...this.waiters]) wake();
  }

  /** Resolves true once nothing waits for a confirmation, false after `timeoutMs`. */
  async drained(timeoutMs: number): Promise<boolean> {
    if (this.unsettled.size === 0) return true;
    if (!this.hubOnline) return false;
    return new Promise((resolve) => {
      const done = (value: boolean): void => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve(value);
      };
      const wake = (): void => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.waiters.add(wake);
    });
  }

  private async publish(key: string, entry: Unsettled): Promise<void> {
    entry.sends += 1;
    const { free, running } = this.options.capacity();
    try {
      await this.bus.publish(entry.topic, { ...entry.payload, free, running }, { qos: 1 });
    } catch (error) {
      // Kept: the next reconnect sends it again.
      this.options.logger.warn({ err: error, topic: entry.topic, outcome: key }, 'publish failed');
    }
  }
}
