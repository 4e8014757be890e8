import { AnthropicProvider } from './anthropic-provider.js';
import { OpenAiProvider } from './openai-provider.js';
import type { LlmSettings } from './settings.js';
import type { LlmProvider } from './types.js';

/** The provider a role's settings name; undefined for "none". */
export function createProvider(settings: LlmSettings): LlmProvider | undefined {
  if (settings.provider === 'anthropic') {
    return new AnthropicProvider({
      apiKey: settings.apiKey ?? '',
      model: settings.model,
      timeoutMs: settings.requestTimeoutMs,
      idleTimeoutMs: settings.idleTimeoutMs,
      promptCaching: settings.promptCaching,
      stream: settings.stream,
      ...(settings.baseUrl ? { baseUrl: settings.baseUrl } : {}),
    });
  }
  if (settings.provider === 'openai') {
    return new OpenAiProvider({
      baseUrl: settings.baseUrl ?? '',
      model: settings.model,
      timeoutMs: settings.requestTimeoutMs,
      idleTimeoutMs: settings.idleTimeoutMs,
      stream: settings.stream,
      ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
    });
  }
  return undefined;
}
