import { looksSecret } from '../tools/shell/environment.js';

export const CENSOR = '[Redacted]';

/** Object keys that hold credentials, in the spellings JS code and JSON APIs use. */
const SECRET_KEY =
  /^(password|passwd|secret|token|api[-_]?key|access[-_]?token|refresh[-_]?token|auth[-_]?token|authorization|proxy[-_]?authorization|cookie|set[-_]?cookie|client[-_]?secret|private[-_]?key|x[-_]api[-_]key)$/i;
/** An environment-style name (`ANTHROPIC_API_KEY`): judged as the shell runner judges it. */
const ENV_NAME = /^[A-Z][A-Z0-9_]*$/;
/** Deep enough for `{ config: { environment: {…} } }`; a bound on cycles too. */
const MAX_DEPTH = 6;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key) || (ENV_NAME.test(key) && looksSecret(key));
}

/**
 * A copy of a log object with every secret-looking value replaced. Keys are matched by pattern
 * rather than by pino's fixed redaction paths, because secrets arrive nested anywhere: an API key
 * in a provider's options, `ANTHROPIC_API_KEY` in a logged environment. Only plain objects and
 * arrays are copied; errors and other instances go to pino's serializers untouched.
 */
export function redactSecrets<T>(value: T, depth = 0): T {
  if (depth > MAX_DEPTH || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item, depth + 1)) as T;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    copy[key] =
      isSecretKey(key) && inner !== undefined && inner !== null && inner !== ''
        ? CENSOR
        : redactSecrets(inner, depth + 1);
  }
  return copy as T;
}

/** `mqtt://user:pass@host` → `mqtt://user:[Redacted]@host`; API keys written into a sentence. */
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]+@/gi;
const KEY_LITERAL = /\bsk-[A-Za-z0-9_-]{20,}/g;

/** For message strings, which pino does not redact: credentials in URLs and key literals. */
export function redactText(text: string): string {
  return text.replace(URL_PASSWORD, `$1${CENSOR}@`).replace(KEY_LITERAL, `sk-${CENSOR}`);
}
