import { describe, expect, it } from 'vitest';
import { EXIT, SheriError } from '../../src/errors.js';
import { kindOfStatus, LlmError, parseRetryAfter } from '../../src/llm/llm-error.js';
import { costOf, priceOf, DEFAULT_PRICES } from '../../src/llm/pricing.js';
import { buildLlmConfig, resolveLlmSettings } from '../../src/llm/settings.js';
import { withRetries } from '../../src/llm/retry.js';

const env =
  (values: Record<string, string>) =>
  (name: string): string | undefined =>
    values[name];

describe('LLM settings', () => {
  it('picks Claude with the default model when ANTHROPIC_API_KEY is set, and none without', () => {
    const withKey = buildLlmConfig(undefined, {}, env({ ANTHROPIC_API_KEY: 'k' }));
    expect(resolveLlmSettings(withKey, 'review')).toMatchObject({
      provider: 'anthropic',
      model: 'claude-sonnet-5-5',
      apiKey: 'k',
      maxTurns: 30,
    });
    expect(resolveLlmSettings(buildLlmConfig(undefined, {}, env({})), 'review').provider).toBe(
      'none',
    );
  });

  it('layers defaults, the file, the role entry and flags, flags winning', () => {
    const config = buildLlmConfig(
      {
        model: 'claude-haiku-4-5',
        maxTurns: 10,
        roles: { review: { model: 'claude-opus-5-5', maxCostUsd: 2 } },
      },
      { maxTurns: 5 },
      env({ ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: 'http://proxy:8080' }),
    );
    expect(resolveLlmSettings(config, 'review')).toMatchObject({
      model: 'claude-opus-5-5',
      maxCostUsd: 2,
      maxTurns: 5,
      baseUrl: 'http://proxy:8080',
    });
    expect(resolveLlmSettings(config, 'testing')).toMatchObject({
      model: 'claude-haiku-4-5',
      maxCostUsd: 5,
    });
  });

  it('points openai at Ollama by default and needs a model name', () => {
    const config = buildLlmConfig(undefined, { llm: 'openai', model: 'llama3.1' }, env({}));
    expect(resolveLlmSettings(config, 'general')).toMatchObject({
      provider: 'openai',
      baseUrl: 'http://localhost:11434/v1',
      model: 'llama3.1',
    });
    const noModel = buildLlmConfig(undefined, { llm: 'openai' }, env({}));
    expect(() => resolveLlmSettings(noModel, 'general')).toThrow(/needs --model/);
  });

  it('says what to do when anthropic is chosen without a key, or the provider is unknown', () => {
    const config = buildLlmConfig(undefined, { llm: 'anthropic' }, env({}));
    const error = (() => {
      try {
        resolveLlmSettings(config, 'general');
      } catch (caught) {
        return caught as SheriError;
      }
    })();
    expect(error).toBeInstanceOf(SheriError);
    expect(error?.exitCode).toBe(EXIT.config);
    expect(() => buildLlmConfig(undefined, { llm: 'claude' }, env({}))).toThrow(
      '--llm must be one of anthropic, openai, none, got "claude"',
    );
    expect(() => buildLlmConfig(undefined, { llmBaseUrl: 'localhost:11434' }, env({}))).toThrow(
      'is not a URL',
    );
  });
});

describe('models without a price under a cost cap', () => {
  const refusal = (run: () => unknown): SheriError | undefined => {
    try {
      run();
    } catch (caught) {
      return caught as SheriError;
    }
    return undefined;
  };

  it('refuses an unpriced Claude model, since the default $5 cap is a cap too', () => {
    const config = buildLlmConfig(
      undefined,
      { model: 'claude-mythos-5-2' },
      env({ ANTHROPIC_API_KEY: 'k' }),
    );
    const error = refusal(() => resolveLlmSettings(config, 'review'));
    expect(error).toBeInstanceOf(SheriError);
    expect(error?.exitCode).toBe(EXIT.config);
    expect(error?.message).toBe(
      'no price is known for the model "claude-mythos-5-2", so the cost cap ($5 per task, --max-cost / llm.maxCostUsd) could not be enforced: add its price in US dollars per million tokens to sheri.config.json, e.g. "llm": { "prices": { "claude-mythos-5-2": { "input": 3, "output": 15 } } } (0 and 0 for a free local model)',
    );
  });

  it('refuses an unpriced local model when --max-cost is given, and takes it once llm.prices prices it', () => {
    const flags = { llm: 'openai', model: 'qwen3', maxCost: 0.01 };
    expect(
      refusal(() => resolveLlmSettings(buildLlmConfig(undefined, flags, env({})), 'general'))
        ?.message,
    ).toContain('no price is known for the model "qwen3", so the cost cap ($0.01 per task');
    const priced = buildLlmConfig({ prices: { qwen3: { input: 0, output: 0 } } }, flags, env({}));
    expect(resolveLlmSettings(priced, 'general').price).toEqual({ input: 0, output: 0 });
  });

  it('runs an unpriced local model when no cap was set, its cost not counted', () => {
    const config = buildLlmConfig(undefined, { llm: 'openai', model: 'qwen3' }, env({}));
    expect(resolveLlmSettings(config, 'general').price).toBeUndefined();
  });
});

describe('prices', () => {
  it('prices a dated model id as its family, and cache tokens at their own rates', () => {
    expect(priceOf('claude-haiku-4-5-20251001', DEFAULT_PRICES)).toEqual({ input: 1, output: 5 });
    expect(priceOf('llama3.1', DEFAULT_PRICES)).toBeUndefined();
    const tokens = {
      input_tokens: 1_000_000,
      output_tokens: 100_000,
      cache_creation_input_tokens: 1_000_000,
      cache_read_input_tokens: 1_000_000,
    };
    // haiku: $1 in + $0.50 out + $1.25 cache write (1.25×) + $0.10 cache read (0.1×).
    expect(costOf(tokens, { input: 1, output: 5 })).toBeCloseTo(2.85, 10);
    expect(costOf(tokens, undefined)).toBe(0);
  });
});

describe('retries', () => {
  it('reads retry-after in seconds, as a date, and retry-after-ms', () => {
    const headers = (h: Record<string, string>) => (name: string) => h[name];
    expect(parseRetryAfter(headers({ 'retry-after': '3' }))).toBe(3_000);
    expect(parseRetryAfter(headers({ 'retry-after-ms': '250', 'retry-after': '3' }))).toBe(250);
    const now = Date.parse('2026-11-21T10:00:00Z');
    expect(parseRetryAfter(headers({ 'retry-after': 'Sat, 21 Nov 2026 10:00:05 GMT' }), now)).toBe(
      5_000,
    );
    expect(parseRetryAfter(headers({}))).toBeUndefined();
  });

  it('retries retryable errors up to the limit and gives up on others at once', async () => {
    const signal = new AbortController().signal;
    let calls = 0;
    const flaky = async (): Promise<string> => {
      calls++;
      if (calls < 3) throw new LlmError('overloaded', 'busy', 529);
      return 'ok';
    };
    const waits: number[] = [];
    const options = {
      maxRetries: 4,
      baseMs: 1,
      maxBackoffMs: 5,
      maxWaitMs: 1_000,
      signal,
      onRetry: (_: LlmError, ms: number) => waits.push(ms),
    };
    await expect(withRetries(flaky, options)).resolves.toBe('ok');
    expect(calls).toBe(3);
    expect(waits).toHaveLength(2);
    calls = 0;
    const refused = async (): Promise<string> => {
      calls++;
      throw new LlmError('auth', 'bad key', 401);
    };
    await expect(withRetries(refused, options)).rejects.toThrow('bad key');
    expect(calls).toBe(1);
    calls = 0;
    const always = async (): Promise<string> => {
      calls++;
      throw new LlmError('rate_limit', 'slow down', 429, 1);
    };
    await expect(withRetries(always, { ...options, maxRetries: 2 })).rejects.toThrow('slow down');
    expect(calls).toBe(3);
  });

  it('gives up on a 5xx that repeats its message, and on a retry-after past the longest wait', async () => {
    const signal = new AbortController().signal;
    const options = { maxRetries: 4, baseMs: 1, maxBackoffMs: 5, maxWaitMs: 1_000, signal };
    let calls = 0;
    const same = async (): Promise<string> => {
      calls++;
      throw new LlmError('server', 'Anthropic API: 500 boom', 500);
    };
    await expect(withRetries(same, options)).rejects.toMatchObject({
      kind: 'deterministic',
      retryable: false,
      message: 'Anthropic API: 500 boom (the same answer twice: retrying will not help)',
    });
    expect(calls).toBe(2);
    calls = 0;
    const patient = async (): Promise<string> => {
      calls++;
      throw new LlmError('rate_limit', '429 slow down', 429, 120_000);
    };
    await expect(withRetries(patient, options)).rejects.toMatchObject({
      kind: 'rate_limit',
      retryable: true,
    });
    expect(calls).toBe(1);
  });

  it('tells deterministic server answers and context overflows from transient ones', () => {
    expect(kindOfStatus(500, 'tools param requires --jinja flag')).toBe('deterministic');
    expect(kindOfStatus(500, 'internal error')).toBe('server');
    expect(kindOfStatus(400, 'prompt is too long: 210000 tokens > 200000 maximum')).toBe('context');
    expect(
      kindOfStatus(400, 'the request exceeds the available context size, try increasing it'),
    ).toBe('context');
    expect(kindOfStatus(400, "This model's maximum context length is 8192 tokens")).toBe('context');
    expect(kindOfStatus(400, 'max_tokens: must be at most 64000')).toBe('bad_request');
  });
});
