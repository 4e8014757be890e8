// The LLM defaults, without zod: `--help` prints them (src/cli/commands/llm-options.ts).

/** Limits and choices of the agent loop for one role; defaults below, units in the names. */
export interface LlmLimits {
  model?: string;
  baseUrl?: string;
  maxTurns: number; // model requests per task
  maxTokens: number; // output tokens a model response may have at first
  maxOutputTokens: number; // a response cut at its limit is asked again with twice it, up to this
  maxTaskTokens: number; // all tokens of one task, input included
  contextTokens: number; // the conversation's size budget; old tool results are cleared past it
  maxCostUsd: number; // per task
  delegateTimeoutMs: number; // how long delegate_task waits for a subtask
  maxDelegationDepth: number; // a subtask of a subtask of … stops here
  requestTimeoutMs: number; // one model request, from sending to its last byte
  idleTimeoutMs: number; // a streamed answer silent this long is given up (and retried)
  maxRetries: number; // of one request on 429 / 5xx / network errors
  retryBaseMs: number; // first wait before a retry when the server names none; doubles each time
  maxRetryWaitMs: number; // longest retry-after honoured; beyond it the task goes back to the hub
  promptCaching: boolean; // Anthropic: cache breakpoints on tools, system prompt, conversation
  stream: boolean; // stream answers (needed past ~21k output tokens by the SDK); false: one JSON reply
  checkAtStart: boolean; // ask the server for the model before joining the swarm
}

export const LLM_DEFAULTS: LlmLimits = {
  maxTurns: 30,
  maxTokens: 8_192,
  maxOutputTokens: 32_768,
  maxTaskTokens: 2_000_000,
  contextTokens: 150_000,
  maxCostUsd: 5,
  delegateTimeoutMs: 600_000,
  maxDelegationDepth: 3,
  requestTimeoutMs: 3_600_000,
  idleTimeoutMs: 120_000,
  maxRetries: 4,
  retryBaseMs: 1_000,
  maxRetryWaitMs: 300_000,
  promptCaching: true,
  stream: true,
  checkAtStart: true,
};

export const DEFAULT_MODEL = 'claude-sonnet-5-5';
/** Ollama's OpenAI-compatible endpoint, the most common local server. */
export const DEFAULT_OPENAI_BASE_URL = 'http://localhost:11434/v1';
