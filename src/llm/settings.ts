import { z } from 'zod';
import { EXIT, SheriError } from '../errors.js';
import { DEFAULT_PRICES, priceOf, type ModelPrice } from './pricing.js';
import {
  DEFAULT_MODEL,
  DEFAULT_OPENAI_BASE_URL,
  LLM_DEFAULTS,
  type LlmLimits,
} from './llm-defaults.js';

// Kept apart (llm-defaults.ts) so that --help can print them without loading zod.
export { DEFAULT_MODEL, DEFAULT_OPENAI_BASE_URL, LLM_DEFAULTS, type LlmLimits };

export const PROVIDERS = ['anthropic', 'openai', 'none'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

const Limits = {
  provider: z.enum(PROVIDERS).optional(),
  model: z.string().min(1).optional(),
  baseUrl: z.url().optional(),
  maxTurns: z.int().min(1).max(1000).optional(),
  maxTokens: z.int().min(1).optional(),
  maxOutputTokens: z.int().min(1).optional(),
  maxTaskTokens: z.int().min(1).optional(),
  contextTokens: z.int().min(1_000).optional(),
  maxCostUsd: z.number().min(0).optional(),
  delegateTimeoutMs: z.int().min(100).optional(),
  maxDelegationDepth: z.int().min(0).max(20).optional(),
  requestTimeoutMs: z.int().min(100).optional(),
  idleTimeoutMs: z.int().min(100).optional(),
  maxRetries: z.int().min(0).max(20).optional(),
  retryBaseMs: z.int().min(0).optional(),
  maxRetryWaitMs: z.int().min(0).optional(),
  promptCaching: z.boolean().optional(),
  stream: z.boolean().optional(),
  checkAtStart: z.boolean().optional(),
};

/** `llm` in sheri.config.json: settings for every role, `roles` for one, `prices` per model. */
export const LlmFileSettings = z.strictObject({
  ...Limits,
  roles: z.record(z.string(), z.strictObject(Limits)).optional(),
  prices: z
    .record(
      z.string(),
      z.strictObject({
        input: z.number().min(0),
        output: z.number().min(0),
        cache_write: z.number().min(0).optional(),
        cache_read: z.number().min(0).optional(),
      }),
    )
    .optional(),
});
export type LlmFileSettings = z.infer<typeof LlmFileSettings>;
type LimitsInput = z.infer<z.ZodObject<typeof Limits>>;

/** Command-line choices; they beat the file, for every role this process runs. */
export interface LlmFlags {
  llm?: string;
  model?: string;
  llmBaseUrl?: string;
  maxTurns?: number;
  maxCost?: number;
}

/** What the config holds: the layers, resolved per role when an agent starts. */
export interface LlmConfig {
  file: LlmFileSettings;
  flags: LimitsInput;
  prices: Readonly<Record<string, ModelPrice>>;
  anthropicApiKey?: string;
  anthropicBaseUrl?: string;
  openaiApiKey?: string;
}

/** One role's settings: defaults ← file ← file's role entry ← flags. */
export interface LlmSettings extends LlmLimits {
  provider: ProviderName;
  model: string;
  apiKey?: string;
  /** The model's price (default table, else `llm.prices`); undefined: unpriced, cost not counted. */
  price?: ModelPrice;
}

export function buildLlmConfig(
  file: LlmFileSettings | undefined,
  flags: LlmFlags,
  env: (name: string) => string | undefined,
): LlmConfig {
  const provider = flags.llm ?? env('SHERI_LLM');
  if (provider !== undefined && !(PROVIDERS as readonly string[]).includes(provider)) {
    throw new SheriError(
      `--llm must be one of ${PROVIDERS.join(', ')}, got "${provider}"`,
      EXIT.usage,
    );
  }
  const baseUrl = flags.llmBaseUrl ?? env('SHERI_LLM_BASE_URL');
  if (baseUrl !== undefined && !/^https?:\/\/[^/]/.test(baseUrl)) {
    throw new SheriError(
      `--llm-base-url "${baseUrl}" is not a URL; expected e.g. http://localhost:11434/v1`,
      EXIT.usage,
    );
  }
  const fromFlags: LimitsInput = {
    ...(provider ? { provider: provider as ProviderName } : {}),
    ...defined('model', flags.model ?? env('SHERI_MODEL')),
    ...defined('baseUrl', baseUrl),
    ...defined('maxTurns', flags.maxTurns),
    ...defined('maxCostUsd', flags.maxCost),
  };
  return {
    file: file ?? {},
    flags: fromFlags,
    prices: { ...DEFAULT_PRICES, ...file?.prices },
    ...defined('anthropicApiKey', env('ANTHROPIC_API_KEY')),
    ...defined('anthropicBaseUrl', env('ANTHROPIC_BASE_URL')),
    ...defined('openaiApiKey', env('OPENAI_API_KEY')),
  };
}

export function resolveLlmSettings(config: LlmConfig, role: string): LlmSettings {
  const merged = { ...LLM_DEFAULTS, ...config.file, ...config.file.roles?.[role], ...config.flags };
  delete (merged as { roles?: unknown }).roles;
  delete (merged as { prices?: unknown }).prices;
  // Unset means: Claude when a key is at hand, else none (a prompt task then fails, saying how).
  const provider = merged.provider ?? (config.anthropicApiKey ? 'anthropic' : 'none');
  if (provider === 'anthropic') {
    if (!config.anthropicApiKey) {
      throw new SheriError(
        'the anthropic provider needs an API key: export ANTHROPIC_API_KEY=… (or choose --llm openai for a local model)',
        EXIT.config,
      );
    }
    const model = merged.model ?? DEFAULT_MODEL;
    return {
      ...merged,
      provider,
      model,
      apiKey: config.anthropicApiKey,
      ...defined('baseUrl', merged.baseUrl ?? config.anthropicBaseUrl),
      // Claude always costs money: the cap (default $5) is always set, so a price is needed.
      price: requirePrice(model, config, role, true),
    };
  }
  if (provider === 'openai') {
    if (!merged.model) {
      throw new SheriError(
        '--llm openai needs --model: the name your server knows the model by (e.g. llama3.1 for Ollama)',
        EXIT.usage,
      );
    }
    // A local server is free and its models unpriced; only a cap someone set needs a price.
    const price = requirePrice(merged.model, config, role, capSetFor(config, role));
    return {
      ...merged,
      provider,
      model: merged.model,
      baseUrl: merged.baseUrl ?? DEFAULT_OPENAI_BASE_URL,
      ...defined('apiKey', config.openaiApiKey),
      ...defined('price', price),
    };
  }
  return { ...merged, provider, model: merged.model ?? '' };
}

/** Was a cost cap given (flag, file, or the role's entry), rather than left at its default? */
function capSetFor(config: LlmConfig, role: string): boolean {
  return (
    config.flags.maxCostUsd !== undefined ||
    config.file.roles?.[role]?.maxCostUsd !== undefined ||
    config.file.maxCostUsd !== undefined
  );
}

/**
 * The model's price; when a cost cap must hold and there is none, a refusal (SheriError) that
 * says how to add one — an unpriced model would cost "$0" and never reach the cap.
 */
function requirePrice(
  model: string,
  config: LlmConfig,
  role: string,
  capSet: boolean,
): ModelPrice | undefined {
  const price = priceOf(model, config.prices);
  if (price || !capSet) return price;
  const cap = resolveCap(config, role);
  throw new SheriError(
    `no price is known for the model "${model}", so the cost cap ($${cap} per task, --max-cost / llm.maxCostUsd) could not be enforced: add its price in US dollars per million tokens to sheri.config.json, e.g. "llm": { "prices": { "${model}": { "input": 3, "output": 15 } } } (0 and 0 for a free local model)`,
    EXIT.config,
  );
}

function resolveCap(config: LlmConfig, role: string): number {
  return (
    config.flags.maxCostUsd ??
    config.file.roles?.[role]?.maxCostUsd ??
    config.file.maxCostUsd ??
    LLM_DEFAULTS.maxCostUsd
  );
}

function defined<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
