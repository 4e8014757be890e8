import { z } from 'zod';
import { formatIssues } from '../protocol/codec.js';
import { authMessage, kindOfStatus, LlmError, parseRetryAfter } from './llm-error.js';
import { ChatUsage, readChatStream, type ChatTurn } from './openai-stream.js';
import {
  isText,
  isToolUse,
  type AssistantBlock,
  type ChatMessage,
  type CompletionRequest,
  type LlmProvider,
  type ModelTurn,
  type ProviderCheck,
  type StopReason,
} from './types.js';
import { SilenceWatch } from './watched-fetch.js';

export interface OpenAiOptions {
  /** e.g. http://localhost:11434/v1 (Ollama), http://localhost:8080/v1 (llama.cpp). */
  baseUrl: string;
  model: string;
  /** Local servers usually need none. */
  apiKey?: string;
  /** Of one request, from sending it to the last byte of its answer. */
  timeoutMs: number;
  /** A streamed answer silent this long is given up. */
  idleTimeoutMs: number;
  /** `stream: true` (server-sent events); false: one JSON reply, for servers that cannot. */
  stream: boolean;
}

const ToolCall = z.looseObject({
  // Some local servers leave the id out, or send arguments as an object.
  id: z.string().nullish(),
  function: z.looseObject({
    name: z.string(),
    arguments: z.union([z.string(), z.record(z.string(), z.unknown())]).nullish(),
  }),
});

const ChatResponse = z.looseObject({
  model: z.string().optional(),
  choices: z
    .array(
      z.looseObject({
        finish_reason: z.string().nullish(),
        message: z.looseObject({
          content: z.string().nullish(),
          tool_calls: z.array(ToolCall).nullish(),
        }),
      }),
    )
    .min(1),
  usage: ChatUsage,
});

const ModelList = z.looseObject({ data: z.array(z.looseObject({ id: z.string() })) });

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

  private get root(): string {
    return this.options.baseUrl.replace(/\/+$/, '');
  }

  private get headers(): Record<string, string> {
    return {
      'content-type': 'application/json',
      ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
    };
  }

  async complete(request: CompletionRequest): Promise<ModelTurn> {
    const url = `${this.root}/chat/completions`;
    const { stream } = this.options;
    const body = {
      model: this.model,
      max_tokens: request.maxTokens,
      messages: [{ role: 'system', content: request.system }, ...toOpenAi(request.messages)],
      tools: request.tools.map((tool) => ({
        type: 'function',
        function: { name: tool.name, description: tool.description, parameters: tool.input_schema },
      })),
      ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    };
    const controller = new AbortController();
    let ended: 'silent' | 'deadline' | undefined;
    const end = (why: 'silent' | 'deadline') => (): void => {
      ended ??= why;
      controller.abort();
    };
    const watch = new SilenceWatch(this.options.idleTimeoutMs, end('silent'));
    const deadline = setTimeout(end('deadline'), this.options.timeoutMs);
    const signal = AbortSignal.any([request.signal, controller.signal]);
    try {
      let response: Response;
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: this.headers,
          body: JSON.stringify(body),
          signal,
        });
        watch.poke();
        if (!response.ok || !stream) {
          // Inside the try: the connection can also drop, or time out, while the body arrives.
          const text = await response.text();
          if (!response.ok) throw this.errorOf(response, text);
          return fromOpenAi(parseReply(url, text), this.model);
        }
        return fromChatTurn(await readChatStream(url, response, watch.poke), this.model);
      } catch (error) {
        if (error instanceof LlmError) throw error;
        throw new LlmError('network', `no answer from ${url}: ${(error as Error).message}`);
      }
    } catch (error) {
      if (request.signal.aborted) throw new LlmError('aborted', 'request canceled');
      if (ended === 'silent') {
        throw new LlmError(
          'network',
          `${url} sent nothing for ${this.options.idleTimeoutMs / 1000} s in the middle of an answer (llm.idleTimeoutMs)`,
        );
      }
      if (ended === 'deadline') {
        throw new LlmError(
          'network',
          `${url} did not finish an answer within ${this.options.timeoutMs / 1000} s (llm.requestTimeoutMs)`,
        );
      }
      throw error;
    } finally {
      watch.stop();
      clearTimeout(deadline);
    }
  }

  /** GET <base>/models: is the server there, does it take the key, does it serve the model? */
  async check(signal: AbortSignal): Promise<ProviderCheck> {
    const url = `${this.root}/models`;
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        headers: this.headers,
        signal: AbortSignal.any([signal, AbortSignal.timeout(15_000)]),
      });
      text = await response.text();
    } catch (error) {
      return {
        ok: false,
        unreachable: true,
        message: `no OpenAI-compatible server answers at ${this.options.baseUrl} (${(error as Error).message}): start it (ollama serve, llama-server …) or point --llm-base-url at it`,
      };
    }
    if (!response.ok) return { ok: false, message: this.errorOf(response, text).message };
    let parsed: z.infer<typeof ModelList> | undefined;
    try {
      parsed = ModelList.parse(JSON.parse(text));
    } catch {
      return { ok: true, message: `${url} did not list its models; "${this.model}" is unchecked` };
    }
    const ids = parsed.data.map((entry) => entry.id);
    if (ids.includes(this.model)) return { ok: true };
    // llama.cpp serves one model under its file name and answers to any name.
    if (ids.length === 1) {
      return { ok: true, message: `the server serves "${ids[0]}"; asking it for "${this.model}"` };
    }
    return {
      ok: false,
      message: `the server at ${this.options.baseUrl} does not serve the model "${this.model}"; it serves ${ids.map((id) => `"${id}"`).join(', ') || 'none'} (for Ollama: ollama pull ${this.model})`,
    };
  }

  private errorOf(response: Response, text: string): LlmError {
    const kind = kindOfStatus(response.status, text);
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

function parseReply(url: string, text: string): z.infer<typeof ChatResponse> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new LlmError('server', `${url} answered with something not JSON: ${text.slice(0, 200)}`);
  }
  const parsed = ChatResponse.safeParse(json);
  if (!parsed.success) {
    throw new LlmError(
      'server',
      `${url} answered in an unexpected shape: ${formatIssues(parsed.error)}`,
    );
  }
  return parsed.data;
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
  return fromChatTurn(
    {
      model: response.model,
      text: choice.message.content ?? '',
      calls: (choice.message.tool_calls ?? []).map((call) => ({
        id: call.id ?? undefined,
        name: call.function.name,
        arguments: call.function.arguments ?? undefined,
      })),
      finishReason: choice.finish_reason ?? null,
      usage: response.usage ?? undefined,
    },
    model,
  );
}

function fromChatTurn(turn: ChatTurn, model: string): ModelTurn {
  const content: AssistantBlock[] = [];
  if (turn.text) content.push({ type: 'text', text: turn.text });
  for (const [index, call] of turn.calls.entries()) {
    const args = call.arguments;
    content.push({
      type: 'tool_use',
      id: call.id || `call_${index}`,
      name: call.name,
      input: typeof args === 'string' || args == null ? parseArguments(args ?? '') : args,
    });
  }
  const cached = turn.usage?.prompt_tokens_details?.cached_tokens ?? 0;
  const stopReason = toStopReason(turn.finishReason, turn.calls.length > 0);
  return {
    content,
    stop_reason: stopReason,
    raw_stop_reason: turn.finishReason,
    ...(stopReason === 'refusal'
      ? { refusal: { category: turn.finishReason, explanation: null } }
      : {}),
    model: turn.model ?? model,
    usage: {
      input_tokens: (turn.usage?.prompt_tokens ?? 0) - cached,
      output_tokens: turn.usage?.completion_tokens ?? 0,
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

/**
 * `length` wins over tool calls: a call cut at the output limit has cut arguments, and must not
 * run. Servers that say `stop` (Ollama) or nothing beside their calls mean the calls.
 */
function toStopReason(reason: string | null, hasCalls: boolean): StopReason {
  switch (reason) {
    case 'length':
      return 'max_tokens';
    case 'content_filter':
      return 'refusal';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'stop':
    case null:
      return hasCalls ? 'tool_use' : 'end_turn';
    default:
      return 'other';
  }
}
