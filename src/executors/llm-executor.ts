import type { TaskAssigned } from '../protocol/messages.js';
import { LlmError } from '../llm/llm-error.js';
import {
  addTokens,
  costOf,
  NO_TOKENS,
  priceOf,
  roundUsd,
  totalTokens,
  type ModelPrice,
} from '../llm/pricing.js';
import { withRetries } from '../llm/retry.js';
import type { LlmSettings } from '../llm/settings.js';
import {
  isText,
  isToolUse,
  type ChatMessage,
  type CompletionRequest,
  type LlmProvider,
  type ModelTurn,
  type TokenCounts,
  type ToolResultBlock,
} from '../llm/types.js';
import type { DelegateRequest, ToolContext, ToolResult } from '../tools/registry.js';
import { llmTools } from '../tools/llm-tools.js';
import type { ExecutionContext, Outcome } from './execute-task.js';
import { buildTaskMessage, describeCall, shellToolResult } from './llm-messages.js';
import { runGuarded, taskEnvironment } from './guarded-command.js';
import { clip } from '../util/text.js';

/** The longest wait before a retry, whatever retry-after the server asks for. */
const MAX_RETRY_WAIT_MS = 60_000;

/** What an agent with a provider lends its prompt tasks. */
export interface LlmServices {
  provider: LlmProvider;
  settings: LlmSettings;
  prices: Readonly<Record<string, ModelPrice>>;
  systemPrompt(canDelegate: boolean): string;
  publishEvent(topic: string, payload: unknown): Promise<void>;
  delegate(
    parent: { taskId: string; depth: number },
    request: DelegateRequest,
    signal: AbortSignal,
  ): Promise<ToolResult>;
  /** Each model response's tokens and cost, for the agent's heartbeat totals. */
  onUsage(tokens: TokenCounts, costUsd: number): void;
}

/**
 * The agent loop (SPEC §4): the model answers, the tools it calls run, their results go back,
 * until it answers without a tool call or a limit (turns, tokens, cost) stops it. Tool failures
 * go back to the model as error results; only provider failures end the loop early.
 */
export async function runLlmTask(
  assigned: TaskAssigned,
  cwd: string,
  context: ExecutionContext,
  inputsFile: string | undefined,
  inputsDir?: string,
): Promise<Outcome> {
  const llm = context.llm!;
  const { settings, provider } = llm;
  const depth = assigned.task.depth ?? 0;
  const canDelegate = depth < settings.maxDelegationDepth;
  // A read-only role (review, security, monitoring) is not even offered the write tools.
  const tools = llmTools({ canDelegate, readOnly: context.policy.readOnly });
  const definitions = tools.definitions();
  const system = llm.systemPrompt(canDelegate);
  const toolContext = makeToolContext(assigned, cwd, context, inputsFile, inputsDir, depth);
  const messages: ChatMessage[] = [
    { role: 'user', content: [{ type: 'text', text: buildTaskMessage(assigned) }] },
  ];
  const price = priceOf(provider.model, llm.prices);
  if (!price && provider.name === 'anthropic') {
    context.progress(`no price known for ${provider.model}; cost counts as $0 (add llm.prices)`);
  }
  let tokens: TokenCounts = NO_TOKENS;
  let cost = 0;
  let toolCalls = 0;
  const summary = (
    turns: number,
    extra: Record<string, unknown> = {},
  ): Record<string, unknown> => ({
    provider: provider.name,
    model: provider.model,
    turns,
    tool_calls: toolCalls,
    usage: { ...tokens, cost_usd: roundUsd(cost) },
    ...(price ? {} : { priced: false }),
    ...extra,
  });
  const fail = (turns: number, error: string, retryable: boolean): Outcome => ({
    ok: false,
    retryable,
    error,
    result: summary(turns),
  });

  for (let turn = 1; turn <= settings.maxTurns; turn++) {
    let response: ModelTurn;
    try {
      response = await askModel(llm, { system, messages, tools: definitions }, context);
    } catch (error) {
      if (context.signal.aborted) return fail(turn, 'canceled', true);
      if (error instanceof LlmError) return fail(turn, error.message, error.retryable);
      throw error;
    }
    const turnCost = costOf(response.usage, price);
    tokens = addTokens(tokens, response.usage);
    cost += turnCost;
    llm.onUsage(response.usage, turnCost);
    messages.push({ role: 'assistant', content: response.content });
    const text = response.content
      .filter(isText)
      .map((block) => block.text)
      .join('\n')
      .trim();
    if (text) context.progress(`model: ${oneLine(text, 300)}`);

    const calls = response.content.filter(isToolUse);
    if (calls.length === 0) {
      return {
        ok: true,
        result: summary(turn, { text, stop_reason: response.stop_reason }),
      };
    }
    if (cost >= settings.maxCostUsd) {
      return fail(
        turn,
        `stopped: the task cost $${cost.toFixed(4)}, reaching its cap of $${settings.maxCostUsd} (llm.maxCostUsd, --max-cost)`,
        false,
      );
    }
    if (totalTokens(tokens) >= settings.maxTaskTokens) {
      return fail(
        turn,
        `stopped: the task used ${totalTokens(tokens)} tokens, reaching its cap of ${settings.maxTaskTokens} (llm.maxTaskTokens)`,
        false,
      );
    }
    if (turn === settings.maxTurns) break;

    const results: ToolResultBlock[] = [];
    for (const call of calls) {
      toolCalls++;
      context.progress(`tool ${describeCall(call.name, call.input)}`);
      const result = await tools.run(call.name, call.input, toolContext);
      if (context.signal.aborted) return fail(turn, 'canceled', true);
      context.progress(
        `tool ${call.name} ${result.isError ? 'error' : 'ok'}: ${oneLine(result.content, 200)}`,
      );
      results.push({
        type: 'tool_result',
        tool_use_id: call.id,
        content: result.content,
        ...(result.isError ? { is_error: true } : {}),
      });
    }
    messages.push({ role: 'user', content: results });
  }
  return fail(
    settings.maxTurns,
    `stopped after ${settings.maxTurns} turns (the limit: llm.maxTurns, --max-turns) before the model finished`,
    false,
  );
}

/** One model request, retried on 429 / 5xx / network errors; each wait told as progress. */
async function askModel(
  llm: LlmServices,
  request: Pick<CompletionRequest, 'system' | 'messages' | 'tools'>,
  context: ExecutionContext,
): Promise<ModelTurn> {
  const { settings, provider } = llm;
  return withRetries(
    () => provider.complete({ ...request, maxTokens: settings.maxTokens, signal: context.signal }),
    {
      maxRetries: settings.maxRetries,
      baseMs: settings.retryBaseMs,
      maxMs: MAX_RETRY_WAIT_MS,
      signal: context.signal,
      onRetry: (error, delayMs, retry) =>
        context.progress(
          `model request failed (${error.message}); retry ${retry}/${settings.maxRetries} in ${(delayMs / 1000).toFixed(1)} s`,
        ),
    },
  );
}

function makeToolContext(
  assigned: TaskAssigned,
  cwd: string,
  context: ExecutionContext,
  inputsFile: string | undefined,
  inputsDir: string | undefined,
  depth: number,
): ToolContext {
  const env = taskEnvironment(assigned, context, inputsFile);
  const readOnlyPaths = inputsDir ? [inputsDir] : [];
  return {
    workspace: cwd,
    // sheri's own config, data directory (ledger, credentials): not the model's to read or write.
    protectedPaths: context.protectedPaths,
    signal: context.signal,
    progress: context.progress,
    async runShell(command, timeoutMs) {
      const run = await runGuarded(
        command,
        {
          cwd,
          env,
          timeoutMs: timeoutMs ?? assigned.task.timeout_ms ?? context.timeoutMs,
          readOnlyPaths,
        },
        context,
      );
      return shellToolResult(command, run);
    },
    async publishEvent(topic, payload) {
      await context.llm!.publishEvent(topic, payload);
      return { content: `published on ${topic}` };
    },
    delegate: (request) =>
      context.llm!.delegate({ taskId: assigned.task_id, depth }, request, context.signal),
  };
}

function oneLine(text: string, max: number): string {
  return clip(text.replace(/\s+/g, ' ').trim(), max);
}
