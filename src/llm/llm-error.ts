/**
 * What went wrong talking to a model, in terms the agent loop acts on: retry after a while, or
 * stop and say why. Providers turn their own errors into these.
 */
export type LlmErrorKind =
  | 'auth' // the key was refused: retrying cannot help
  | 'rate_limit' // 429
  | 'overloaded' // 529, or 503
  | 'server' // other 5xx
  | 'network' // no answer at all, or silence past the inactivity timeout
  | 'bad_request' // 4xx other than the above: the request itself is wrong
  | 'deterministic' // a 5xx that says what is wrong with the request or server setup
  | 'context' // the request does not fit the model's context window
  | 'aborted';

const RETRYABLE: ReadonlySet<LlmErrorKind> = new Set([
  'rate_limit',
  'overloaded',
  'server',
  'network',
]);

export class LlmError extends Error {
  readonly retryable: boolean;

  constructor(
    readonly kind: LlmErrorKind,
    message: string,
    readonly status?: number,
    /** From the server's retry-after (or retry-after-ms) header. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'LlmError';
    this.retryable = RETRYABLE.has(kind);
  }
}

/**
 * 5xx answers that name a mistake in the request or the server's setup: the same request gets
 * the same answer. llama.cpp's `tools param requires --jinja flag`, a grammar it cannot compile,
 * a feature a local server does not implement.
 */
const DETERMINISTIC_5XX = [
  /--jinja/i,
  /\bgrammar\b/i,
  /not (?:supported|implemented)/i,
  /\bunsupported\b/i,
  /\binvalid (?:request|argument|parameter|schema)/i,
  /failed to parse/i,
];

/** What providers say when the prompt does not fit: Anthropic, OpenAI, vLLM, llama.cpp, Ollama. */
const CONTEXT_OVERFLOW = [
  /prompt is too long/i,
  /context[_ ](?:length|window|size)/i,
  /maximum context/i,
  /exceeds? the (?:available )?context/i,
  /too many (?:input )?tokens/i,
];

export function kindOfStatus(status: number, message = ''): LlmErrorKind {
  if (status === 401 || status === 403) return 'auth';
  if (status === 429) return 'rate_limit';
  if (status === 529 || status === 503) return 'overloaded';
  if ((status === 400 || status === 413) && isContextOverflow(message)) return 'context';
  if (status === 501) return 'deterministic';
  if (status >= 500)
    return DETERMINISTIC_5XX.some((p) => p.test(message)) ? 'deterministic' : 'server';
  if (status === 408 || status === 409) return 'server'; // timeouts and conflicts pass
  return 'bad_request';
}

export function isContextOverflow(message: string): boolean {
  return CONTEXT_OVERFLOW.some((pattern) => pattern.test(message));
}

/** `retry-after-ms`, else `retry-after` in seconds or as an HTTP date; undefined when absent. */
export function parseRetryAfter(
  get: (name: string) => string | null | undefined,
  now = Date.now(),
): number | undefined {
  const ms = Number(get('retry-after-ms'));
  if (get('retry-after-ms') && Number.isFinite(ms) && ms >= 0) return ms;
  const value = get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The message a person sees for a refused key, naming the variable to fix. */
export function authMessage(provider: string, variable: string, detail: string): string {
  return `the ${provider} API refused the key (${detail}): check ${variable}`;
}
