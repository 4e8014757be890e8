import Anthropic, { APIConnectionError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import type {
  Message,
  MessageCreateParamsNonStreaming,
} from '@anthropic-ai/sdk/resources/messages/messages';
import { withCacheBreakpoints } from './cache-breakpoints.js';
import { authMessage, kindOfStatus, LlmError, parseRetryAfter } from './llm-error.js';
import type {
  AssistantBlock,
  CompletionRequest,
  LlmProvider,
  ModelTurn,
  ProviderCheck,
  StopReason,
} from './types.js';
import { SilenceWatch, watchedFetch, whileWatching } from './watched-fetch.js';

export interface AnthropicOptions {
  apiKey: string;
  model: string;
  /** The Messages API root; ANTHROPIC_BASE_URL reaches here through the config. */
  baseUrl?: string;
  /** Of one request, from sending it to the last byte of its answer. */
  timeoutMs: number;
  /** A streamed answer silent this long is given up: a hung request, not a slow model. */
  idleTimeoutMs: number;
  /** Cache breakpoints on tools, system prompt and conversation (cache-breakpoints.ts). */
  promptCaching: boolean;
  /** `messages.stream` (the SDK refuses long non-streamed answers); false: one JSON reply. */
  stream: boolean;
}

/**
 * Claude through the official SDK's Messages API. The SDK's own retries are off: the agent loop
 * retries (llm/retry.ts) so that each wait is reported as task progress.
 */
export class AnthropicProvider implements LlmProvider {
  readonly name = 'anthropic';
  readonly model: string;
  private readonly client: Anthropic;

  constructor(private readonly options: AnthropicOptions) {
    this.model = options.model;
    this.client = new Anthropic({
      apiKey: options.apiKey,
      ...(options.baseUrl ? { baseURL: options.baseUrl } : {}),
      maxRetries: 0,
      timeout: options.timeoutMs,
      fetch: watchedFetch,
    });
  }

  async complete(request: CompletionRequest): Promise<ModelTurn> {
    const body = this.options.promptCaching
      ? withCacheBreakpoints(request.tools, request.system, request.messages)
      : { system: request.system, messages: request.messages, tools: request.tools };
    const params = {
      model: this.model,
      max_tokens: request.maxTokens,
      ...body,
    } as unknown as MessageCreateParamsNonStreaming;
    // Our own controller: the task's cancel, the silence watch and the overall deadline end it.
    const controller = new AbortController();
    let ended: 'silent' | 'deadline' | undefined;
    const end = (why: 'silent' | 'deadline') => (): void => {
      ended ??= why;
      controller.abort();
    };
    const watch = new SilenceWatch(this.options.idleTimeoutMs, end('silent'));
    const deadline = setTimeout(end('deadline'), this.options.timeoutMs);
    const cancel = (): void => controller.abort();
    request.signal.addEventListener('abort', cancel, { once: true });
    try {
      const message = this.options.stream
        ? await whileWatching(watch.poke, async () => {
            const stream = this.client.messages.stream(params, { signal: controller.signal });
            for await (const event of stream) void event;
            return stream.finalMessage();
          })
        : await whileWatching(watch.poke, () =>
            this.client.messages.create(params, { signal: controller.signal }),
          );
      return toModelTurn(message);
    } catch (error) {
      if (request.signal.aborted) throw new LlmError('aborted', 'request canceled');
      if (ended === 'silent') {
        throw new LlmError(
          'network',
          `the Anthropic API sent nothing for ${this.options.idleTimeoutMs / 1000} s in the middle of an answer (llm.idleTimeoutMs)`,
        );
      }
      if (ended === 'deadline') {
        throw new LlmError(
          'network',
          `the Anthropic API did not finish an answer within ${this.options.timeoutMs / 1000} s (llm.requestTimeoutMs)`,
        );
      }
      throw toLlmError(error);
    } finally {
      watch.stop();
      clearTimeout(deadline);
      request.signal.removeEventListener('abort', cancel);
    }
  }

  /** GET /v1/models/<model>: the key, the server and the model name in one request. */
  async check(signal: AbortSignal): Promise<ProviderCheck> {
    try {
      await this.client.models.retrieve(this.model, {}, { signal, timeout: 15_000 });
      return { ok: true };
    } catch (error) {
      if (error instanceof APIError && error.status === 404) {
        return {
          ok: false,
          message: `the Anthropic API does not know the model "${this.model}": choose one it lists (--model, llm.model), e.g. claude-sonnet-5-5`,
        };
      }
      const failure = toLlmError(error);
      return { ok: false, unreachable: failure.kind === 'network', message: failure.message };
    }
  }
}

function toModelTurn(message: Message): ModelTurn {
  const usage = message.usage;
  const details = message.stop_details;
  return {
    content: message.content as unknown as AssistantBlock[],
    stop_reason: toStopReason(message.stop_reason),
    raw_stop_reason: message.stop_reason,
    ...(message.stop_reason === 'refusal'
      ? {
          refusal: {
            category: details?.category ?? null,
            explanation: details?.explanation ?? null,
          },
        }
      : {}),
    model: message.model,
    usage: {
      input_tokens: usage.input_tokens,
      output_tokens: usage.output_tokens,
      cache_creation_input_tokens: usage.cache_creation_input_tokens ?? 0,
      cache_read_input_tokens: usage.cache_read_input_tokens ?? 0,
    },
  };
}

function toStopReason(reason: string | null): StopReason {
  switch (reason) {
    case 'end_turn':
    case 'tool_use':
    case 'max_tokens':
    case 'stop_sequence':
    case 'pause_turn':
    case 'refusal':
      return reason;
    case 'model_context_window_exceeded':
      return 'context_window';
    default:
      return 'other';
  }
}

/** Error types the API sends in an `error` event of a stream, which has no HTTP status. */
const STREAM_ERROR_STATUS: Record<string, number> = {
  overloaded_error: 529,
  rate_limit_error: 429,
  api_error: 500,
  invalid_request_error: 400,
  authentication_error: 401,
  permission_error: 403,
  request_too_large: 413,
};

function toLlmError(error: unknown): LlmError {
  if (error instanceof LlmError) return error;
  if (error instanceof APIUserAbortError) return new LlmError('aborted', 'request canceled');
  if (error instanceof APIConnectionError) {
    return new LlmError('network', `no answer from the Anthropic API: ${error.message}`);
  }
  if (error instanceof APIError) {
    const status = error.status ?? STREAM_ERROR_STATUS[error.type ?? ''];
    if (typeof status !== 'number') {
      return new LlmError('network', `Anthropic API: ${error.message}`);
    }
    const text = error.apiMessage ?? error.message;
    const kind = kindOfStatus(status, text);
    const detail = `${status} ${text}`;
    if (kind === 'auth') {
      return new LlmError(kind, authMessage('Anthropic', 'ANTHROPIC_API_KEY', detail), status);
    }
    const retryAfter = parseRetryAfter((name) => error.headers?.get(name));
    return new LlmError(kind, `Anthropic API: ${detail}`, status, retryAfter);
  }
  return new LlmError('network', `Anthropic API: ${(error as Error).message}`);
}
