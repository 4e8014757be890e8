import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '../../src/tasks/backoff.js';

const BASE_MS = 1_000;
const MAX_MS = 60_000;
const lowest = (): number => 0;
const highest = (): number => 1;

describe('retryDelayMs', () => {
  it('doubles the delay range with every failure', () => {
    const highs = [1, 2, 3, 4, 5].map((failures) =>
      retryDelayMs(failures, BASE_MS, MAX_MS, highest),
    );
    expect(highs).toEqual([1_000, 2_000, 4_000, 8_000, 16_000]);
  });

  it('never goes below half of the exponential delay', () => {
    const lows = [1, 2, 3, 4].map((failures) => retryDelayMs(failures, BASE_MS, MAX_MS, lowest));
    expect(lows).toEqual([500, 1_000, 2_000, 4_000]);
  });

  it('puts the delay between half and all of the exponential delay, by the random draw', () => {
    expect(retryDelayMs(3, BASE_MS, MAX_MS, () => 0.5)).toBe(3_000);
    expect(retryDelayMs(3, BASE_MS, MAX_MS, () => 0.25)).toBe(2_500);
  });

  it('stays within its jitter bounds for many random draws', () => {
    let seed = 42;
    // A small deterministic generator, so a failure here can be replayed.
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const seen = new Set<number>();
    for (let i = 0; i < 1_000; i++) {
      const delay = retryDelayMs(4, BASE_MS, MAX_MS, random);
      expect(delay).toBeGreaterThanOrEqual(4_000);
      expect(delay).toBeLessThanOrEqual(8_000);
      seen.add(delay);
    }
    // Jitter means retries after a burst of failures do not line up.
    expect(seen.size).toBeGreaterThan(100);
  });

  it('caps the delay at the maximum, jitter included', () => {
    expect(retryDelayMs(7, BASE_MS, MAX_MS, highest)).toBe(MAX_MS);
    expect(retryDelayMs(7, BASE_MS, MAX_MS, lowest)).toBe(MAX_MS / 2);
    expect(retryDelayMs(100, BASE_MS, MAX_MS, highest)).toBe(MAX_MS);
  });

  it('stays capped when the exponent overflows to Infinity', () => {
    expect(retryDelayMs(2_000, BASE_MS, MAX_MS, highest)).toBe(MAX_MS);
  });

  it('treats zero failures like the first', () => {
    expect(retryDelayMs(0, BASE_MS, MAX_MS, highest)).toBe(BASE_MS);
  });

  it('returns whole milliseconds', () => {
    expect(Number.isInteger(retryDelayMs(1, 333, MAX_MS, () => 0.3))).toBe(true);
  });

  it('retries at once when the base delay is 0', () => {
    expect(retryDelayMs(3, 0, MAX_MS, highest)).toBe(0);
  });

  it('uses Math.random when no random source is given', () => {
    const delay = retryDelayMs(2, BASE_MS, MAX_MS);
    expect(delay).toBeGreaterThanOrEqual(1_000);
    expect(delay).toBeLessThanOrEqual(2_000);
  });
});
