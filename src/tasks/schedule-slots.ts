import { Cron } from 'croner';
import type { ScheduleTiming } from '../protocol/flow-messages.js';

/**
 * When a schedule's slots fall (PROTOCOL §17.7). An interval's slots are the multiples of it
 * since the Unix epoch (every 2 s: each even second), so they do not move when the hub restarts;
 * a cron expression's are croner's (seconds allowed as a sixth field, a timezone optional). Pure
 * arithmetic, no timers: the hub asks on its tick.
 */

/** Counting missed slots stops here; past it they are "at least this many". */
export const MAX_COUNTED_SLOTS = 10_000;

export interface SlotWindow {
  /** Slots in (after, upTo]; capped at MAX_COUNTED_SLOTS. */
  count: number;
  /** The newest of them. */
  newest?: number;
}

/** A cron expression croner accepts, or why not. */
export function cronProblem(pattern: string, timezone?: string): string | undefined {
  try {
    new Cron(pattern, { paused: true, ...(timezone ? { timezone } : {}) }).nextRun();
    return undefined;
  } catch (error) {
    return `cron "${pattern}": ${(error as Error).message}`;
  }
}

function cronOf(timing: ScheduleTiming): Cron {
  return new Cron(timing.cron!, {
    paused: true,
    ...(timing.timezone ? { timezone: timing.timezone } : {}),
  });
}

/** The slots after `after` (exclusive) up to `upTo` (inclusive). */
export function slotsIn(timing: ScheduleTiming, after: number, upTo: number): SlotWindow {
  if (upTo <= after) return { count: 0 };
  if (timing.every_ms !== undefined) {
    const every = timing.every_ms;
    const first = Math.floor(after / every) + 1;
    const last = Math.floor(upTo / every);
    if (last < first) return { count: 0 };
    return { count: Math.min(MAX_COUNTED_SLOTS, last - first + 1), newest: last * every };
  }
  const cron = cronOf(timing);
  const newest = cron.previousRuns(1, new Date(upTo + 1))[0]?.getTime();
  if (newest === undefined || newest <= after) return { count: 0 };
  let count = 0;
  let at: Date | null = new Date(after);
  while (count < MAX_COUNTED_SLOTS) {
    at = cron.nextRun(at);
    if (!at || at.getTime() > upTo) break;
    count += 1;
  }
  return { count, newest };
}

/** The first slot after `after`, or undefined when there is none (a cron date in the past). */
export function nextSlot(timing: ScheduleTiming, after: number): number | undefined {
  if (timing.every_ms !== undefined) {
    return (Math.floor(after / timing.every_ms) + 1) * timing.every_ms;
  }
  return cronOf(timing).nextRun(new Date(after))?.getTime();
}

/** A slot as the last part of a task or flow id: `20261201T110152Z`. */
export function slotId(slot: number): string {
  return new Date(slot)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
}

/** `every 2 s`, `cron "*\/5 * * * *" (Europe/Paris)`. */
export function describeTiming(timing: ScheduleTiming): string {
  if (timing.every_ms !== undefined) return `every ${describeMs(timing.every_ms)}`;
  return `cron "${timing.cron}"${timing.timezone ? ` (${timing.timezone})` : ''}`;
}

function describeMs(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms % size === 0) return `${ms / size} ${unit}`;
  }
  return `${ms} ms`;
}
