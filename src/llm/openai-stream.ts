import { z } from 'zod';
import { formatIssues } from '../protocol/codec.js';
import { kindOfStatus, LlmError } from './llm-error.js';

export const ChatUsage = z
  .looseObject({
    prompt_tokens: z.number().default(0),
    completion_tokens: z.number().default(0),
    prompt_tokens_details: z.looseObject({ cached_tokens: z.number().default(0) }).nullish(),
  })
  .nullish();

/** One streamed chat-completions answer, put together. */
export interface ChatTurn {
  model?: string | undefined;
  text: string;
  calls: { id?: string | undefined; name: string; arguments?: string | Record<string, unknown> }[];
  finishReason: string | null;
  usage?: z.infer<typeof ChatUsage> | undefined;
}

const Chunk = z.looseObject({
  model: z.string().optional(),
  choices: z
    .array(
      z.looseObject({
        finish_reason: z.string().nullish(),
        delta: z
          .looseObject({
            content: z.string().nullish(),
            tool_calls: z
              .array(
                z.looseObject({
                  index: z.number().optional(),
                  id: z.string().nullish(),
                  function: z
                    .looseObject({
                      name: z.string().nullish(),
                      arguments: z.union([z.string(), z.record(z.string(), z.unknown())]).nullish(),
                    })
                    .nullish(),
                }),
              )
              .nullish(),
          })
          .nullish(),
      }),
    )
    .default([]),
  usage: ChatUsage,
  error: z.looseObject({ message: z.string().optional(), code: z.unknown() }).nullish(),
});

/**
 * Read the server-sent events of `stream: true` (`data: {chunk}` lines, then `data: [DONE]`):
 * text deltas appended, each tool call's name and argument pieces joined by its index, the
 * finish reason and (with `stream_options.include_usage`) the usage of the last chunk. Every
 * chunk of bytes is told to `onActivity`, for the inactivity timeout.
 */
export async function readChatStream(
  url: string,
  response: Response,
  onActivity: () => void,
): Promise<ChatTurn> {
  const turn: ChatTurn = { text: '', calls: [], finishReason: null };
  const calls = new Map<number, ChatTurn['calls'][number] & { pieces: string[] }>();
  let done = false;
  let buffer = '';
  const decoder = new TextDecoder();
  const take = (line: string): void => {
    if (!line.startsWith('data:')) return;
    const data = line.slice(5).trim();
    if (data === '[DONE]') {
      done = true;
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      throw new LlmError('server', `${url} streamed something not JSON: ${data.slice(0, 200)}`);
    }
    const parsed = Chunk.safeParse(json);
    if (!parsed.success) {
      throw new LlmError(
        'server',
        `${url} streamed a chunk of an unexpected shape: ${formatIssues(parsed.error)}`,
      );
    }
    const chunk = parsed.data;
    if (chunk.error) {
      const message = chunk.error.message ?? JSON.stringify(chunk.error);
      const status = typeof chunk.error.code === 'number' ? chunk.error.code : 500;
      throw new LlmError(kindOfStatus(status, message), `${url}: ${status} ${message}`, status);
    }
    if (chunk.model) turn.model = chunk.model;
    if (chunk.usage) turn.usage = chunk.usage;
    for (const choice of chunk.choices) {
      if (choice.finish_reason) turn.finishReason = choice.finish_reason;
      const delta = choice.delta;
      if (delta?.content) turn.text += delta.content;
      for (const [position, piece] of (delta?.tool_calls ?? []).entries()) {
        const index = piece.index ?? position;
        let call = calls.get(index);
        if (!call) {
          call = { name: '', pieces: [] };
          calls.set(index, call);
        }
        if (piece.id) call.id = piece.id;
        if (piece.function?.name) call.name += piece.function.name;
        const args = piece.function?.arguments;
        if (typeof args === 'string') call.pieces.push(args);
        else if (args) call.arguments = args;
      }
    }
  };
  const reader = response.body!.getReader();
  try {
    for (;;) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      onActivity();
      buffer += decoder.decode(value, { stream: true });
      const lines = buffer.split(/\r?\n/);
      buffer = lines.pop()!;
      for (const line of lines) take(line);
    }
    take(buffer);
  } finally {
    reader.releaseLock();
  }
  if (!done && turn.finishReason === null) {
    throw new LlmError('network', `${url} ended its stream in the middle of an answer`);
  }
  turn.calls = [...calls.entries()]
    .sort(([a], [b]) => a - b)
    .map(([, call]) => ({
      ...(call.id ? { id: call.id } : {}),
      name: call.name,
      ...(call.arguments
        ? { arguments: call.arguments }
        : call.pieces.length > 0
          ? { arguments: call.pieces.join('') }
          : {}),
    }));
  return turn;
}
