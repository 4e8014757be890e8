import { setTimeout as sleep } from 'node:timers/promises';
import { httpUrlProblem, type HttpCheckSpec } from '../protocol/step-specs.js';
import type { ExecutionContext, Outcome } from './execute-task.js';

/** Body kept in the result and events: enough to tell which release answered, and why not. */
const BODY_CHARS = 2_000;
const BODY_READ_BYTES = 64 * 1024;

export interface CheckAnswer {
  url: string;
  ok: boolean;
  status: number | null;
  attempts: number;
  duration_ms: number;
  body: string;
  error?: string;
}

/**
 * A task's `http_check` (PROTOCOL §17.4): the agent itself GETs the URL — no command, so no
 * policy rule applies — up to `attempts` times, until it answers `expect_status` (and contains
 * `expect_body`). It sends no body, no credentials and follows no redirect; only roles whose
 * sandbox has the network make one, since it reaches what the agent's host reaches.
 */
export async function runHttpCheck(
  check: HttpCheckSpec,
  context: ExecutionContext,
): Promise<Outcome> {
  const problem = httpUrlProblem(check.url);
  if (problem) return { ok: false, retryable: false, error: `http_check: ${problem}` };
  if (!context.policy.network) {
    return {
      ok: false,
      retryable: false,
      error: `http_check: this role has no network (shellPolicies.<role>.network), so it makes no HTTP check; run it on a role with network, such as monitoring`,
    };
  }
  const started = performance.now();
  let answer: CheckAnswer = {
    url: check.url,
    ok: false,
    status: null,
    attempts: 0,
    duration_ms: 0,
    body: '',
  };
  for (let attempt = 1; attempt <= check.attempts; attempt++) {
    if (context.signal.aborted) break;
    context.progress(
      `GET ${check.url} (try ${attempt}/${check.attempts})`,
      ((attempt - 1) / check.attempts) * 100,
    );
    const reply = await ask(check, context.signal);
    answer = { ...reply, attempts: attempt, duration_ms: Math.round(performance.now() - started) };
    context.progress(`GET ${check.url}: ${describe(answer, check)}`);
    if (answer.ok || attempt === check.attempts) break;
    await sleep(check.interval_ms, undefined, { signal: context.signal }).catch(() => undefined);
  }
  const result = {
    http_check: answer,
    outputs: { status: answer.status === null ? '' : String(answer.status), url: check.url },
  };
  if (answer.ok) return { ok: true, result };
  return {
    ok: false,
    // The service may come back: the hub retries as the step's retries allow.
    retryable: true,
    error: `health check GET ${check.url} ${describe(answer, check)} after ${answer.attempts} tr${answer.attempts === 1 ? 'y' : 'ies'}${answer.body ? `: ${answer.body.slice(0, 300)}` : ''}`,
    result,
  };
}

async function ask(
  check: HttpCheckSpec,
  signal: AbortSignal,
): Promise<Omit<CheckAnswer, 'attempts' | 'duration_ms'>> {
  try {
    const response = await fetch(check.url, {
      method: 'GET',
      redirect: 'manual',
      signal: AbortSignal.any([signal, AbortSignal.timeout(check.timeout_ms)]),
    });
    const body = await readSome(response);
    const ok =
      response.status === check.expect_status &&
      (check.expect_body === undefined || body.includes(check.expect_body));
    return { url: check.url, ok, status: response.status, body: body.slice(0, BODY_CHARS) };
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (error as Error).message;
    return { url: check.url, ok: false, status: null, body: '', error: why };
  }
}

/** The start of the body, never more than BODY_READ_BYTES of it. */
async function readSome(response: Response): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < BODY_READ_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, BODY_READ_BYTES).toString('utf8');
}

function describe(
  answer: Omit<CheckAnswer, 'attempts' | 'duration_ms'>,
  check: HttpCheckSpec,
): string {
  if (answer.status === null) return `got no answer (${answer.error ?? 'no reply'})`;
  if (answer.ok) return `answered ${answer.status}`;
  if (answer.status !== check.expect_status)
    return `answered ${answer.status} (expected ${check.expect_status})`;
  return `answered ${answer.status} without "${check.expect_body}" in its body`;
}
