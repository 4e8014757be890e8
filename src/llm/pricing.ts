import type { TokenCounts } from './types.js';

/** USD per million tokens. Cache prices default to 1.25× (write) and 0.1× (read) of input. */
export interface ModelPrice {
  input: number;
  output: number;
  cache_write?: number;
  cache_read?: number;
}

/**
 * Anthropic's published prices (platform.claude.com model pages, November 2026). Users add or
 * correct entries with `llm.prices` in sheri.config.json; local models cost nothing by default.
 */
export const DEFAULT_PRICES: Readonly<Record<string, ModelPrice>> = {
  'claude-fable-5-1': { input: 10, output: 50 },
  'claude-opus-5-5': { input: 4, output: 20 },
  'claude-sonnet-5-5': { input: 2, output: 10, cache_write: 2.5, cache_read: 0.2 },
  'claude-opus-5': { input: 5, output: 25 },
  'claude-sonnet-5': { input: 2, output: 10, cache_write: 2.5, cache_read: 0.2 },
  'claude-opus-4-5': { input: 5, output: 25 },
  'claude-sonnet-4-6': { input: 3, output: 15 },
  'claude-sonnet-4-5': { input: 3, output: 15 },
  'claude-haiku-4-5': { input: 1, output: 5 },
};

/** The price of `model`: an exact entry, else the entry its dated id starts with. */
export function priceOf(
  model: string,
  prices: Readonly<Record<string, ModelPrice>>,
): ModelPrice | undefined {
  if (prices[model]) return prices[model];
  // `claude-haiku-4-5-20251001` is priced as `claude-haiku-4-5`.
  const base = Object.keys(prices)
    .filter((name) => model.startsWith(`${name}-`))
    .sort((a, b) => b.length - a.length)[0];
  return base ? prices[base] : undefined;
}

export function costOf(tokens: TokenCounts, price: ModelPrice | undefined): number {
  if (!price) return 0;
  const perToken = 1 / 1_000_000;
  const cost =
    tokens.input_tokens * price.input +
    tokens.output_tokens * price.output +
    tokens.cache_creation_input_tokens * (price.cache_write ?? price.input * 1.25) +
    tokens.cache_read_input_tokens * (price.cache_read ?? price.input * 0.1);
  return cost * perToken;
}

/** Dollars as messages carry them: to the millionth, so sums do not show float noise. */
export function roundUsd(usd: number): number {
  return Math.round(usd * 1_000_000) / 1_000_000;
}

export function addTokens(a: TokenCounts, b: TokenCounts): TokenCounts {
  return {
    input_tokens: a.input_tokens + b.input_tokens,
    output_tokens: a.output_tokens + b.output_tokens,
    cache_creation_input_tokens: a.cache_creation_input_tokens + b.cache_creation_input_tokens,
    cache_read_input_tokens: a.cache_read_input_tokens + b.cache_read_input_tokens,
  };
}

export const NO_TOKENS: TokenCounts = {
  input_tokens: 0,
  output_tokens: 0,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
};

export function totalTokens(tokens: TokenCounts): number {
  return (
    tokens.input_tokens +
    tokens.output_tokens +
    tokens.cache_creation_input_tokens +
    tokens.cache_read_input_tokens
  );
}
