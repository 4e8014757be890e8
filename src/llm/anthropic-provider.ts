import Anthropic, { APIConnectionError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import type { MessageCreateParamsNonStreaming } from '@anthropic-ai/sdk/resources/messages/messages';
import { authMessage, kindOfStatus, LlmError, parseRetryAfter } from './llm-error.js';
import type {
  AssistantBlock,
  CompletionRequest,
  LlmProvider,
  ModelTurn,
  StopReason,
} from './types.js';

export interface AnthropicOptions {
  apiKey: string;
  model: string;
  /** The Messages API root; ANTHROPIC_BASE_URL reaches here through the config. */
  baseUrl?: string;
  /** Of one request; a model writing a long answer can take minutes. */
  timeoutMs: number;
}

/**
 * Claude through the official SDK's Messages API. The SDK's own retries are off: the agent loop
 * retries (llm/retry.ts) so that each wait is reported as task progress.
 */
export class AnthropicProvider implements LlmProvider {
  readonly name = 'anthropic';
  readonly model: string;
  private readonly client: Anthropic;

  constructor(options: AnthropicOptions) {
    this.model = options.model;
    this.client = new Anthropic({
      apiKey: options.apiKey,
      ...(options.baseUrl ? { baseURL: options.baseUrl } : {}),
      maxRetries: 0,
      timeout: options.timeoutMs,
    });
  }

  async complete(request: CompletionRequest): Promise<ModelTurn> {
    const params = {
      model: this.model,
      max_tokens: request.maxTokens,
      system: request.system,
      messages: request.messages,
      tools: request.tools,
    } as unknown as MessageCreateParamsNonStreaming;
    try {
      const message = await this.client.messages.create(params, { signal: request.signal });
      const usage = message.usage;
      return {
        content: message.content as unknown as AssistantBlock[],
        stop_reason: toStopReason(message.stop_reason),
        model: message.model,
        usage: {
          input_tokens: usage.input_tokens,
          output_tokens: usage.output_tokens,
          cache_creation_input_tokens: usage.cache_creation_input_tokens ?? 0,
          cache_read_input_tokens: usage.cache_read_input_tokens ?? 0,
        },
      };
    } catch (error) {
      throw toLlmError(error);
    }
  }
}

function toStopReason(reason: string | null): StopReason {
  if (reason === 'end_turn' || reason === 'tool_use' || reason === 'max_tokens') return reason;
  if (reason === 'stop_sequence') return reason;
  return 'other';
}

function toLlmError(error: unknown): LlmError {
  if (error instanceof APIUserAbortError) return new LlmError('aborted', 'request canceled');
  if (error instanceof APIConnectionError) {
    return new LlmError('network', `no answer from the Anthropic API: ${error.message}`);
  }
  if (error instanceof APIError && typeof error.status === 'number') {
    const kind = kindOfStatus(error.status);
    const detail = `${error.status} ${error.apiMessage ?? error.message}`;
    if (kind === 'auth') {
      return new LlmError(
        kind,
        authMessage('Anthropic', 'ANTHROPIC_API_KEY', detail),
        error.status,
      );
    }
    const retryAfter = parseRetryAfter((name) => error.headers?.get(name));
    return new LlmError(kind, `Anthropic API: ${detail}`, error.status, retryAfter);
  }
  return new LlmError('network', `Anthropic API: ${(error as Error).message}`);
}
