/**
 * Shrink a JSON value until its encoding fits `maxBytes`, by cutting its longest strings (keeping
 * their ends, where errors are) — so an over-large result is reported trimmed, never rejected by
 * the receiver's size limit and lost.
 */
export function fitJson<T>(value: T, maxBytes: number): { value: T; trimmed: boolean } {
  if (byteLength(value) <= maxBytes) return { value, trimmed: false };
  const copy = structuredClone(value) as unknown;
  for (let round = 0; round < 64; round++) {
    const longest = findLongestString(copy);
    if (!longest || longest.text.length <= 80) break;
    const keep = Math.floor(longest.text.length / 2);
    const cut = longest.text.length - keep;
    longest.set(
      `[… ${cut} chars cut to fit the message size limit …]\n${longest.text.slice(-keep)}`,
    );
    if (byteLength(copy) <= maxBytes) return { value: copy as T, trimmed: true };
  }
  const note = `result of ${byteLength(value)} bytes was too large for the message size limit of ${maxBytes} bytes`;
  return { value: { trimmed: true, note } as T, trimmed: true };
}

function byteLength(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '');
}

interface Slot {
  text: string;
  set(text: string): void;
}

function findLongestString(root: unknown): Slot | undefined {
  let best: Slot | undefined;
  const visit = (holder: Record<string, unknown> | unknown[], key: string | number): void => {
    const value = (holder as Record<string | number, unknown>)[key];
    if (typeof value === 'string') {
      if (!best || value.length > best.text.length) {
        best = {
          text: value,
          set: (text) => ((holder as Record<string | number, unknown>)[key] = text),
        };
      }
    } else if (Array.isArray(value)) {
      value.forEach((_, index) => visit(value, index));
    } else if (value && typeof value === 'object') {
      for (const inner of Object.keys(value)) visit(value as Record<string, unknown>, inner);
    }
  };
  visit({ root }, 'root');
  return best;
}
