import type { Command } from 'commander';
import { EXIT, SheriError } from '../../errors.js';
import { DEFAULT_MODEL, DEFAULT_OPENAI_BASE_URL, LLM_DEFAULTS } from '../../llm/llm-defaults.js';

/** How an agent runs prompt tasks; the same flags on `sheri agent`, `sheri --mqtt` and `sheri up`. */
export function addLlmOptions(command: Command): Command {
  return command
    .option(
      '--llm <provider>',
      'anthropic (Claude; default when ANTHROPIC_API_KEY is set), openai (any OpenAI-compatible server: Ollama, llama.cpp, vLLM) or none (env SHERI_LLM)',
    )
    .option(
      '--model <name>',
      `model for prompt tasks (env SHERI_MODEL; default ${DEFAULT_MODEL} for anthropic)`,
    )
    .option(
      '--llm-base-url <url>',
      `API root (env SHERI_LLM_BASE_URL; ANTHROPIC_BASE_URL for anthropic; default ${DEFAULT_OPENAI_BASE_URL} for openai)`,
    )
    .option(
      '--max-turns <n>',
      `model requests per prompt task (default ${LLM_DEFAULTS.maxTurns})`,
      parseCount('--max-turns'),
    )
    .option(
      '--max-cost <usd>',
      `stop a prompt task once it has cost this many US dollars (default ${LLM_DEFAULTS.maxCostUsd}); a model with no known price is refused at start (price it in llm.prices)`,
      parseUsd,
    );
}

function parseCount(name: string) {
  return (value: string): number => {
    const number = Number(value);
    if (!Number.isInteger(number) || number < 1) {
      throw new SheriError(
        `${name} must be a whole number of at least 1, got "${value}"`,
        EXIT.usage,
      );
    }
    return number;
  };
}

function parseUsd(value: string): number {
  const number = Number(value.replace(/^\$/, ''));
  if (!Number.isFinite(number) || number < 0) {
    throw new SheriError(
      `--max-cost must be an amount in US dollars like 0.50, got "${value}"`,
      EXIT.usage,
    );
  }
  return number;
}

export const LLM_HELP = `
Prompt tasks (a task with a prompt) run through an LLM that works with tools in the workspace:
  export ANTHROPIC_API_KEY=sk-ant-…        Claude (--model to choose; ANTHROPIC_BASE_URL honoured)
  --llm openai --model llama3.1            a local model through Ollama (default ${DEFAULT_OPENAI_BASE_URL})
  --llm openai --llm-base-url http://localhost:8080/v1 --model qwen3   llama.cpp, vLLM, …
Without a provider, prompt tasks fail at once, saying so; tasks with commands need none.
The agent asks its server for the model before it joins (exit 3 unreachable, 4 refused or unknown
model; llm.checkAtStart false skips it). Answers stream; one silent for llm.idleTimeoutMs (120 s)
is retried. An answer cut at its output limit is never run: it is asked again with twice the
limit, up to llm.maxOutputTokens (32768), then the task fails. Old tool results are cleared past
llm.contextTokens (150000). Claude requests carry prompt-cache breakpoints (llm.promptCaching).
MCP servers (stdio, run in the sandbox, or streamable HTTP) are given per role under "mcp" in
sheri.config.json; see README "Prompt tasks".`;
