import type { ChatMessage, ToolDefinition } from './types.js';

/**
 * Prompt caching on the Messages API: a `cache_control` breakpoint on a block caches the whole
 * prefix up to it, in the order the API reads a request — tools, then the system prompt, then
 * messages. A later request that starts with the same bytes reads that prefix at a tenth of the
 * input price instead of paying it again; writing it costs 1.25×. At most four breakpoints; a
 * prefix shorter than the model's minimum (1,024 to 4,096 tokens) is simply not cached.
 *
 * An agent loop resends its whole history each turn, so we mark:
 * 1. the last tool definition — the tools, stable for the whole task;
 * 2. the system prompt — tools and profile together;
 * 3. the last block of the previous turn's user message — the prefix the previous request wrote,
 *    read back even when this turn adds more than the API's 20-block lookback (parallel calls);
 * 4. the last block of the newest user message — the prefix the next turn will read.
 */
export const CACHE_CONTROL = { type: 'ephemeral' } as const;

export interface CachedRequest {
  tools: (ToolDefinition & { cache_control?: typeof CACHE_CONTROL })[];
  system: { type: 'text'; text: string; cache_control?: typeof CACHE_CONTROL }[];
  messages: unknown[];
}

export function withCacheBreakpoints(
  tools: readonly ToolDefinition[],
  system: string,
  messages: readonly ChatMessage[],
): CachedRequest {
  const marked = new Set<number>();
  const users = messages.flatMap((message, index) => (message.role === 'user' ? [index] : []));
  for (const index of users.slice(-2)) marked.add(index);
  return {
    tools: tools.map((tool, index) =>
      index === tools.length - 1 ? { ...tool, cache_control: CACHE_CONTROL } : tool,
    ),
    system: [{ type: 'text', text: system, cache_control: CACHE_CONTROL }],
    messages: messages.map((message, index) => {
      if (!marked.has(index) || message.content.length === 0) return message;
      const content = [...message.content];
      content[content.length - 1] = { ...content.at(-1)!, cache_control: CACHE_CONTROL };
      return { ...message, content };
    }),
  };
}
