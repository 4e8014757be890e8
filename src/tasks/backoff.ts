/**
 * Delay before retry number `failures` (1 = first retry): exponential from `baseMs`, capped at
 * `maxMs`, with "equal jitter" so that a burst of failures does not retry in lockstep.
 */
export function retryDelayMs(
  failures: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(exponential / 2 + (random() * exponential) / 2);
}
