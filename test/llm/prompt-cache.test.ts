import { describe, expect, it } from 'vitest';
import { withCacheBreakpoints } from '../../src/llm/cache-breakpoints.js';
import type { ChatMessage } from '../../src/llm/types.js';
import { PromptCache } from '../helpers/fake-llm-cache.js';

const TOOLS = [
  { name: 'read_file', description: 'Read a file.', input_schema: { type: 'object' } },
  { name: 'list_files', description: 'List a folder.', input_schema: { type: 'object' } },
];
const SYSTEM = `You are the reviewer. ${'Rules of the house. '.repeat(300)}`;

function turn(n: number): ChatMessage[] {
  const messages: ChatMessage[] = [
    { role: 'user', content: [{ type: 'text', text: 'Review it.' }] },
  ];
  for (let i = 1; i <= n; i++) {
    messages.push({
      role: 'assistant',
      content: [{ type: 'tool_use', id: `t${i}`, name: 'read_file', input: { path: `f${i}` } }],
    });
    messages.push({
      role: 'user',
      content: [{ type: 'tool_result', tool_use_id: `t${i}`, content: `file ${i} `.repeat(500) }],
    });
  }
  return messages;
}

const request = (messages: ChatMessage[]) =>
  withCacheBreakpoints(TOOLS, SYSTEM, messages) as unknown as Record<string, unknown>;

describe('prompt-cache breakpoints (our requests) and the fake API that prices them', () => {
  it('marks the last tool, the system prompt and the last two user messages: four breakpoints', () => {
    const body = withCacheBreakpoints(TOOLS, SYSTEM, turn(3));
    expect(body.tools.map((tool) => tool.cache_control)).toEqual([
      undefined,
      { type: 'ephemeral' },
    ]);
    expect(body.system).toEqual([
      { type: 'text', text: SYSTEM, cache_control: { type: 'ephemeral' } },
    ]);
    const marked = (body.messages as { content: { cache_control?: unknown }[] }[]).map((message) =>
      message.content.some((block) => block.cache_control !== undefined),
    );
    expect(marked).toEqual([false, false, false, false, true, false, true]);
  });

  it('reads back the prefix a previous request wrote, and writes only what is new', () => {
    const cache = new PromptCache();
    const first = cache.measure(request(turn(1)));
    expect(first).toMatchObject({ cache_read_input_tokens: 0, input_tokens: 0 });
    expect(first.cache_creation_input_tokens).toBe(first.total);
    const second = cache.measure(request(turn(2)));
    expect(second.cache_read_input_tokens).toBe(first.total);
    expect(second.cache_creation_input_tokens).toBe(second.total - first.total);
  });

  it('misses after a change early in the conversation, and caches nothing without breakpoints or below the minimum', () => {
    const cache = new PromptCache();
    cache.measure(request(turn(2)));
    const changed = turn(3);
    (changed[2]!.content[0] as { content: string }).content = 'cleared';
    const after = cache.measure(request(changed));
    // Only tools, system and the first message are still the same bytes.
    expect(after.cache_read_input_tokens).toBeLessThan(after.total / 2);
    expect(
      new PromptCache().measure({ system: SYSTEM, messages: turn(2), tools: TOOLS }),
    ).toMatchObject({
      cache_read_input_tokens: 0,
      cache_creation_input_tokens: 0,
      breakpoints: 0,
    });
    const small = new PromptCache().measure(
      withCacheBreakpoints([], 'short', [
        { role: 'user', content: [{ type: 'text', text: 'hi' }] },
      ]) as never,
    );
    expect(small).toMatchObject({ cache_creation_input_tokens: 0, breakpoints: 2 });
  });

  it('refuses a fifth breakpoint, as the API does', () => {
    const body = request(turn(2)) as { messages: { content: Record<string, unknown>[] }[] };
    body.messages[0]!.content[0]!.cache_control = { type: 'ephemeral' };
    body.messages[1]!.content[0]!.cache_control = { type: 'ephemeral' };
    expect(() => new PromptCache().measure(body as never)).toThrow(
      'A maximum of 4 blocks with cache_control may be provided. Found 6.',
    );
  });
});
