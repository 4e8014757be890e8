import { setTimeout as sleep } from 'node:timers/promises';
import { retryDelayMs } from '../tasks/backoff.js';
import { LlmError } from './llm-error.js';

export interface RetryOptions {
  /** Retries after the first attempt. */
  maxRetries: number;
  baseMs: number;
  /** Longest wait of our own backoff (when the server names none). */
  maxBackoffMs: number;
  /** Longest `retry-after` honoured; a server asking for more gets the task handed back. */
  maxWaitMs: number;
  signal: AbortSignal;
  /** Told before each wait, so the task's progress says why it pauses. */
  onRetry?: (error: LlmError, delayMs: number, retry: number) => void;
}

/**
 * Call `attempt` again on a retryable LlmError: after the server's retry-after when it gave one,
 * else exponential backoff with jitter. Anything else is thrown at once, and so is:
 * - a 5xx with the very message of the previous attempt: the server answers this request this way
 *   (a missing server flag, a grammar it rejects), so waiting cannot help;
 * - a retry-after longer than `maxWaitMs`: waiting less would only be refused again, so the
 *   error goes up (still retryable), and the hub retries the task later with its own backoff.
 */
export async function withRetries<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  let previous: string | undefined;
  for (let retry = 1; ; retry++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof LlmError) || !error.retryable || retry > options.maxRetries) {
        throw error;
      }
      if (error.kind === 'server' && error.message === previous) {
        throw new LlmError(
          'deterministic',
          `${error.message} (the same answer twice: retrying will not help)`,
          error.status,
        );
      }
      previous = error.message;
      if (error.retryAfterMs !== undefined && error.retryAfterMs > options.maxWaitMs) {
        throw new LlmError(
          error.kind,
          `${error.message}; the server asks to wait ${seconds(error.retryAfterMs)} s, more than llm.maxRetryWaitMs (${seconds(options.maxWaitMs)} s), so the task goes back to be retried later`,
          error.status,
          error.retryAfterMs,
        );
      }
      const delay = error.retryAfterMs ?? retryDelayMs(retry, options.baseMs, options.maxBackoffMs);
      options.onRetry?.(error, delay, retry);
      await sleep(delay, undefined, { signal: options.signal });
    }
  }
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1);
}
