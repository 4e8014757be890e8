/**
 * Shrink a JSON value until its encoding fits `maxBytes`, by cutting its long strings (keeping
 * their ends, where errors are) — so an over-large result is reported trimmed, never rejected by
 * the receiver's size limit and lost.
 */
export function fitJson<T>(value: T, maxBytes: number): { value: T; trimmed: boolean } {
  if (byteLength(value) <= maxBytes) return { value, trimmed: false };
  // The largest cap on every string's length that makes the whole fit, by bisection.
  let low = MIN_KEPT_CHARS;
  let high = longestString(value);
  let best: unknown;
  while (low <= high) {
    const cap = Math.floor((low + high) / 2);
    const candidate = capStrings(value, cap);
    if (byteLength(candidate) <= maxBytes) {
      best = candidate;
      low = cap + 1;
    } else {
      high = cap - 1;
    }
  }
  if (best !== undefined) return { value: best as T, trimmed: true };
  const note = `result of ${byteLength(value)} bytes was too large for the message size limit of ${maxBytes} bytes`;
  return { value: { trimmed: true, note } as T, trimmed: true };
}

/** Strings are never cut shorter than this; below it, the value is replaced by a note. */
const MIN_KEPT_CHARS = 80;

function byteLength(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '');
}

function longestString(value: unknown): number {
  if (typeof value === 'string') return value.length;
  if (value && typeof value === 'object') {
    return Math.max(0, ...Object.values(value).map(longestString));
  }
  return 0;
}

/** A copy of `value` in which every string longer than `cap` keeps only its last `cap` chars. */
function capStrings(value: unknown, cap: number): unknown {
  if (typeof value === 'string') {
    if (value.length <= cap) return value;
    const cut = value.length - cap;
    return `[… ${cut} chars cut to fit the message size limit …]\n${value.slice(-cap)}`;
  }
  if (Array.isArray(value)) return value.map((item) => capStrings(item, cap));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) => [key, capStrings(inner, cap)]),
    );
  }
  return value;
}
