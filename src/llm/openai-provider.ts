import { z } from 'zod';
import { formatIssues } from '../protocol/codec.js';
import { authMessage, kindOfStatus, LlmError, parseRetryAfter } from './llm-error.js';
import {
  isText,
  isToolUse,
  type AssistantBlock,
  type ChatMessage,
  type CompletionRequest,
  type LlmProvider,
  type ModelTurn,
  type StopReason,
} from './types.js';

export interface OpenAiOptions {
  /** e.g. http://localhost:11434/v1 (Ollama), http://localhost:8080/v1 (llama.cpp). */
  baseUrl: string;
  model: string;
  /** Local servers usually need none. */
  apiKey?: string;
  timeoutMs: number;
}

const ChatResponse = z.looseObject({
  model: z.string().optional(),
  choices: z
    .array(
      z.looseObject({
        finish_reason: z.string().nullish(),
        message: z.looseObject({
          content: z.string().nullish(),
          tool_calls: z
            .array(
              z.looseObject({
                // Some local servers leave the id out, or send arguments as an object.
                id: z.string().nullish(),
                function: z.looseObject({
                  name: z.string(),
                  arguments: z.union([z.string(), z.record(z.string(), z.unknown())]).nullish(),
                }),
              }),
            )
            .nullish(),
        }),
      }),
    )
    .min(1),
  usage: z
    .looseObject({
      prompt_tokens: z.number().default(0),
      completion_tokens: z.number().default(0),
      prompt_tokens_details: z.looseObject({ cached_tokens: z.number().default(0) }).nullish(),
    })
    .nullish(),
});

/**
 * Any server speaking the OpenAI chat-completions protocol with tools (Ollama, llama.cpp, vLLM),
 * over plain fetch. Translates our Messages-shaped conversation both ways.
 */
export class OpenAiProvider implements LlmProvider {
  readonly name = 'openai';
  readonly model: string;

  constructor(private readonly options: OpenAiOptions) {
    this.model = options.model;
  }

  async complete(request: CompletionRequest): Promise<ModelTurn> {
    const url = `${this.options.baseUrl.replace(/\/+$/, '')}/chat/completions`;
    const body = {
      model: this.model,
      max_tokens: request.maxTokens,
      messages: [{ role: 'system', content: request.system }, ...toOpenAi(request.messages)],
      tools: request.tools.map((tool) => ({
        type: 'function',
        function: { name: tool.name, description: tool.description, parameters: tool.input_schema },
      })),
    };
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
        },
        body: JSON.stringify(body),
        signal: AbortSignal.any([request.signal, AbortSignal.timeout(this.options.timeoutMs)]),
      });
      // Inside the try: the connection can also drop, or time out, while the body arrives.
      text = await response.text();
    } catch (error) {
      if (request.signal.aborted) throw new LlmError('aborted', 'request canceled');
      throw new LlmError('network', `no answer from ${url}: ${(error as Error).message}`);
    }
    if (!response.ok) throw this.errorOf(response, text);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new LlmError(
        'server',
        `${url} answered with something not JSON: ${text.slice(0, 200)}`,
      );
    }
    const parsed = ChatResponse.safeParse(json);
    if (!parsed.success) {
      throw new LlmError(
        'server',
        `${url} answered in an unexpected shape: ${formatIssues(parsed.error)}`,
      );
    }
    return fromOpenAi(parsed.data, this.model);
  }

  private errorOf(response: Response, text: string): LlmError {
    const kind = kindOfStatus(response.status);
    const detail = `${response.status} ${text.slice(0, 300)}`;
    if (kind === 'auth') {
      return new LlmError(
        kind,
        authMessage('OpenAI-compatible', 'OPENAI_API_KEY', detail),
        response.status,
      );
    }
    const retryAfter = parseRetryAfter((name) => response.headers.get(name));
    return new LlmError(kind, `${this.options.baseUrl}: ${detail}`, response.status, retryAfter);
  }
}

function toOpenAi(messages: ChatMessage[]): unknown[] {
  const out: unknown[] = [];
  for (const message of messages) {
    if (message.role === 'assistant') {
      const text = message.content.filter(isText).map((block) => block.text);
      const calls = message.content.filter(isToolUse).map((block) => ({
        id: block.id,
        type: 'function',
        function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) },
      }));
      out.push({
        role: 'assistant',
        content: text.length > 0 ? text.join('\n') : null,
        ...(calls.length > 0 ? { tool_calls: calls } : {}),
      });
      continue;
    }
    for (const block of message.content) {
      if (block.type === 'text') out.push({ role: 'user', content: block.text });
      else {
        const prefix = block.is_error ? 'Error: ' : '';
        out.push({
          role: 'tool',
          tool_call_id: block.tool_use_id,
          content: prefix + block.content,
        });
      }
    }
  }
  return out;
}

function fromOpenAi(response: z.infer<typeof ChatResponse>, model: string): ModelTurn {
  const choice = response.choices[0]!;
  const content: AssistantBlock[] = [];
  if (choice.message.content) content.push({ type: 'text', text: choice.message.content });
  for (const [index, call] of (choice.message.tool_calls ?? []).entries()) {
    const args = call.function.arguments;
    content.push({
      type: 'tool_use',
      id: call.id || `call_${index}`,
      name: call.function.name,
      input: typeof args === 'string' || args == null ? parseArguments(args ?? '') : args,
    });
  }
  const hasCalls = content.some(isToolUse);
  const cached = response.usage?.prompt_tokens_details?.cached_tokens ?? 0;
  return {
    content,
    stop_reason: hasCalls ? 'tool_use' : toStopReason(choice.finish_reason),
    model: response.model ?? model,
    usage: {
      input_tokens: (response.usage?.prompt_tokens ?? 0) - cached,
      output_tokens: response.usage?.completion_tokens ?? 0,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: cached,
    },
  };
}

/** Small local models sometimes send arguments that are not JSON; the tool then reports it. */
function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text || '{}');
  } catch {
    return { __unparsed_arguments: text };
  }
}

function toStopReason(reason: string | null | undefined): StopReason {
  if (reason === 'stop') return 'end_turn';
  if (reason === 'length') return 'max_tokens';
  if (reason === 'tool_calls') return 'tool_use';
  return 'other';
}
