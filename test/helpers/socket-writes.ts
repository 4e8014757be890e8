/** Count the system-call writes of a socket (its own `_writev`/`_write`, wrapped, not mocked). */
export function countWrites(stream: unknown): { writes: number } {
  const socket = stream as Record<'_writev' | '_write', (...args: unknown[]) => unknown>;
  const counted = { writes: 0 };
  for (const method of ['_writev', '_write'] as const) {
    const original = socket[method].bind(socket);
    socket[method] = (...args: unknown[]) => {
      counted.writes += 1;
      return original(...args);
    };
  }
  return counted;
}
