import type { LlmSettings } from './settings.js';
import type { LlmProvider } from './types.js';

/**
 * The provider a role's settings name; undefined for "none". Its SDK is loaded here, so an
 * agent without a model never loads one (~170 ms at start, issue 10).
 */
export async function createProvider(settings: LlmSettings): Promise<LlmProvider | undefined> {
  if (settings.provider === 'anthropic') {
    const { AnthropicProvider } = await import('./anthropic-provider.js');
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
    const { OpenAiProvider } = await import('./openai-provider.js');
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
