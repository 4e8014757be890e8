/**
 * A shallow copy of `value` without `keys`. Loose zod objects keep unknown keys, so a field is
 * dropped by name; callers that need a type parse the copy with its schema.
 */
export function omitKeys(value: object, ...keys: string[]): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const key of keys) delete copy[key];
  return copy;
}
