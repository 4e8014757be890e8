import { setTimeout as sleep } from 'node:timers/promises';
import { retryDelayMs } from '../tasks/backoff.js';
import { LlmError } from './llm-error.js';

export interface RetryOptions {
  /** Retries after the first attempt. */
  maxRetries: number;
  baseMs: number;
  maxMs: number;
  signal: AbortSignal;
  /** Told before each wait, so the task's progress says why it pauses. */
  onRetry?: (error: LlmError, delayMs: number, retry: number) => void;
}

/**
 * Call `attempt` again on a retryable LlmError: after the server's retry-after when it gave one
 * (capped at `maxMs`), else exponential backoff with jitter. Anything else is thrown at once.
 */
export async function withRetries<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  for (let retry = 1; ; retry++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof LlmError) || !error.retryable || retry > options.maxRetries) {
        throw error;
      }
      const delay = Math.min(
        error.retryAfterMs ?? retryDelayMs(retry, options.baseMs, options.maxMs),
        options.maxMs,
      );
      options.onRetry?.(error, delay, retry);
      await sleep(delay, undefined, { signal: options.signal });
    }
  }
}
