import type { Reply } from './fake-llm-server.js';

/**
 * The fake server's answers in each API's wire format: a Messages API message or its stream of
 * events (message_start, content_block_start/delta/stop, message_delta with the stop reason and
 * stop_details, message_stop), a chat completion or its `chat.completion.chunk`s and `[DONE]`.
 * A call cut at the output limit streams its arguments cut too, as a real cut answer does.
 */

type ToolId = (index: number) => string;

function anthropicStop(reply: Reply): string {
  return reply.stop ?? (reply.calls?.length ? 'tool_use' : 'end_turn');
}

function openaiFinish(reply: Reply): string {
  return reply.stop ?? (reply.calls?.length ? 'tool_calls' : 'stop');
}

function cut(reply: Reply): boolean {
  return reply.stop === 'max_tokens' || reply.stop === 'length';
}

function tokensOf(reply: Reply): {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
} {
  const tokens = reply.tokens ?? { input: 100, output: 50 };
  return { cacheRead: 0, cacheWrite: 0, ...tokens } as never;
}

function anthropicUsage(reply: Reply): Record<string, number> {
  const t = tokensOf(reply);
  return {
    input_tokens: t.input,
    output_tokens: t.output,
    cache_creation_input_tokens: t.cacheWrite,
    cache_read_input_tokens: t.cacheRead,
  };
}

export function anthropicMessage(reply: Reply, model: string, id: string, toolId: ToolId): unknown {
  const content: unknown[] = [];
  if (reply.text) content.push({ type: 'text', text: reply.text });
  for (const [index, call] of (reply.calls ?? []).entries()) {
    content.push({ type: 'tool_use', id: toolId(index), name: call.name, input: call.input });
  }
  return {
    id,
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: anthropicStop(reply),
    stop_sequence: null,
    stop_details: reply.stopDetails ? { type: 'refusal', ...reply.stopDetails } : null,
    usage: anthropicUsage(reply),
  };
}

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** `text` in a few pieces, as a stream delivers it. */
function pieces(text: string, count = 3): string[] {
  if (text.length === 0) return [];
  const size = Math.ceil(text.length / count);
  const out: string[] = [];
  for (let at = 0; at < text.length; at += size) out.push(text.slice(at, at + size));
  return out;
}

export function anthropicEvents(reply: Reply, model: string, id: string, toolId: ToolId): string[] {
  const usage = anthropicUsage(reply);
  const events = [
    sse('message_start', {
      type: 'message_start',
      message: {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        stop_details: null,
        usage: { ...usage, output_tokens: 1 },
      },
    }),
    sse('ping', { type: 'ping' }),
  ];
  let index = 0;
  if (reply.text) {
    events.push(
      sse('content_block_start', {
        type: 'content_block_start',
        index,
        content_block: { type: 'text', text: '' },
      }),
    );
    for (const text of pieces(reply.text)) {
      events.push(
        sse('content_block_delta', {
          type: 'content_block_delta',
          index,
          delta: { type: 'text_delta', text },
        }),
      );
    }
    if (reply.stall) return events;
    events.push(sse('content_block_stop', { type: 'content_block_stop', index }));
    index++;
  }
  if (reply.stall) return events;
  const calls = reply.calls ?? [];
  for (const [position, call] of calls.entries()) {
    events.push(
      sse('content_block_start', {
        type: 'content_block_start',
        index,
        content_block: { type: 'tool_use', id: toolId(position), name: call.name, input: {} },
      }),
    );
    let json = JSON.stringify(call.input);
    if (cut(reply) && position === calls.length - 1) json = json.slice(0, -1); // the arguments end where the output did
    for (const partial_json of pieces(json)) {
      events.push(
        sse('content_block_delta', {
          type: 'content_block_delta',
          index,
          delta: { type: 'input_json_delta', partial_json },
        }),
      );
    }
    events.push(sse('content_block_stop', { type: 'content_block_stop', index }));
    index++;
  }
  events.push(
    sse('message_delta', {
      type: 'message_delta',
      delta: {
        stop_reason: anthropicStop(reply),
        stop_sequence: null,
        stop_details: reply.stopDetails ? { type: 'refusal', ...reply.stopDetails } : null,
      },
      usage: { output_tokens: usage.output_tokens },
    }),
    sse('message_stop', { type: 'message_stop' }),
  );
  return events;
}

function openaiUsage(reply: Reply): Record<string, unknown> {
  const t = tokensOf(reply);
  return {
    prompt_tokens: t.input + t.cacheRead,
    completion_tokens: t.output,
    total_tokens: t.input + t.output + t.cacheRead,
    prompt_tokens_details: { cached_tokens: t.cacheRead },
  };
}

export function openaiCompletion(reply: Reply, model: string, id: string, toolId: ToolId): unknown {
  const calls = (reply.calls ?? []).map((call, index) => ({
    id: toolId(index),
    type: 'function',
    function: { name: call.name, arguments: JSON.stringify(call.input) },
  }));
  return {
    id,
    object: 'chat.completion',
    model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: reply.text ?? null,
          ...(calls.length ? { tool_calls: calls } : {}),
        },
        finish_reason: openaiFinish(reply),
      },
    ],
    usage: openaiUsage(reply),
  };
}

export function openaiChunks(
  reply: Reply,
  model: string,
  id: string,
  toolId: ToolId,
  includeUsage: boolean,
): string[] {
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): string =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', model, choices, ...extra })}\n\n`;
  const out = [chunk([{ index: 0, delta: { role: 'assistant' }, finish_reason: null }])];
  for (const content of pieces(reply.text ?? '')) {
    out.push(chunk([{ index: 0, delta: { content }, finish_reason: null }]));
  }
  if (reply.stall) return out;
  const calls = reply.calls ?? [];
  for (const [index, call] of calls.entries()) {
    out.push(
      chunk([
        {
          index: 0,
          delta: {
            tool_calls: [
              {
                index,
                id: toolId(index),
                type: 'function',
                function: { name: call.name, arguments: '' },
              },
            ],
          },
          finish_reason: null,
        },
      ]),
    );
    let json = JSON.stringify(call.input);
    if (cut(reply) && index === calls.length - 1) json = json.slice(0, -1); // the arguments end where the output did
    for (const piece of pieces(json)) {
      out.push(
        chunk([
          {
            index: 0,
            delta: { tool_calls: [{ index, function: { arguments: piece } }] },
            finish_reason: null,
          },
        ]),
      );
    }
  }
  out.push(chunk([{ index: 0, delta: {}, finish_reason: openaiFinish(reply) }]));
  if (includeUsage) out.push(chunk([], { usage: openaiUsage(reply) }));
  out.push('data: [DONE]\n\n');
  return out;
}
