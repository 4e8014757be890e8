import type { TaskAssigned } from '../protocol/messages.js';
import { LlmError } from '../llm/llm-error.js';
import { costOf, type ModelPrice } from '../llm/pricing.js';
import { withRetries } from '../llm/retry.js';
import type { LlmSettings } from '../llm/settings.js';
import {
  isText,
  isToolUse,
  type CompletionRequest,
  type LlmProvider,
  type ModelTurn,
  type TokenCounts,
  type ToolResultBlock,
} from '../llm/types.js';
import type { DelegateRequest, ToolContext, ToolResult } from '../tools/registry.js';
import { llmTools } from '../tools/llm-tools.js';
import {
  McpConfigError,
  openMcpTools,
  withMcpTools,
  type McpRoleTools,
} from '../tools/mcp/mcp-tools.js';
import type { ExecutionContext, Outcome } from './execute-task.js';
import { buildTaskMessage, describeCall, shellToolResult } from './llm-messages.js';
import { runGuarded, taskEnvironment } from './guarded-command.js';
import { Conversation } from './llm-context.js';
import { RunLedger, type StoppedBy } from './llm-run-ledger.js';
import { clip } from '../util/text.js';

/** The longest wait of our own backoff before a retry, when the server names none. */
const MAX_BACKOFF_MS = 60_000;

/** What an agent with a provider lends its prompt tasks. */
export interface LlmServices {
  provider: LlmProvider;
  settings: LlmSettings;
  prices: Readonly<Record<string, ModelPrice>>;
  /** The role's MCP servers and the tools it may call (mcp in sheri.config.json). */
  mcp?: McpRoleTools;
  systemPrompt(canDelegate: boolean): string;
  publishEvent(topic: string, payload: unknown): Promise<void>;
  delegate(
    parent: { taskId: string; depth: number },
    request: DelegateRequest,
    signal: AbortSignal,
  ): Promise<ToolResult>;
  /** Each model response's tokens and cost, for the agent's heartbeat totals. */
  onUsage(tokens: TokenCounts, costUsd: number, taskId: string): void;
}

/**
 * The agent loop (SPEC §4, PROTOCOL §14.1): the model answers, the tools it calls run, their
 * results go back, until it answers without a tool call or something stops it. Every stop reason
 * is handled on purpose: an answer cut at the output limit is asked again with a larger limit and
 * its tool calls are never run; a paused turn is sent back to continue; a refusal fails with its
 * category; a full context is compacted. Tool failures go back to the model as error results.
 */
export async function runLlmTask(
  assigned: TaskAssigned,
  cwd: string,
  context: ExecutionContext,
  inputsFile: string | undefined,
  inputsDir?: string,
): Promise<Outcome> {
  const llm = context.llm!;
  const depth = assigned.task.depth ?? 0;
  const canDelegate = depth < llm.settings.maxDelegationDepth;
  const env = taskEnvironment(assigned, context, inputsFile);
  let mcp;
  try {
    mcp = llm.mcp ? await openMcpTools(llm.mcp, { cwd, env, context }) : undefined;
  } catch (error) {
    // A server that did not start may start next time; a config mistake will not go away.
    const retryable = !(error instanceof McpConfigError);
    return { ok: false, retryable, error: (error as Error).message };
  }
  try {
    // A read-only role (review, security, monitoring) is not even offered the write tools.
    const tools = withMcpTools(llmTools({ canDelegate, readOnly: context.policy.readOnly }), mcp);
    const toolContext = makeToolContext(assigned, cwd, env, context, inputsDir, depth);
    return await converse(assigned, context, llm, tools, toolContext, canDelegate);
  } finally {
    await mcp?.close();
  }
}

async function converse(
  assigned: TaskAssigned,
  context: ExecutionContext,
  llm: LlmServices,
  tools: ReturnType<typeof withMcpTools>,
  toolContext: ToolContext,
  canDelegate: boolean,
): Promise<Outcome> {
  const { settings, provider } = llm;
  const definitions = tools.definitions();
  const system = llm.systemPrompt(canDelegate);
  const conversation = new Conversation(
    { role: 'user', content: [{ type: 'text', text: buildTaskMessage(assigned) }] },
    system.length + JSON.stringify(definitions).length,
  );
  // The hub's swarm budget (PROTOCOL §14.5) may leave this task less than the role's own cap.
  const capUsd = Math.min(settings.maxCostUsd, assigned.max_cost_usd ?? Infinity);
  const run = new RunLedger(provider, settings.price, capUsd, settings.maxTaskTokens);
  let maxTokens = settings.maxTokens;
  // Lowered when the model's context window turns out smaller than the budget.
  let budget = settings.contextTokens;

  for (let turn = 1; ; turn++) {
    if (turn > settings.maxTurns) {
      return run.fail(
        'max_turns',
        `stopped after ${settings.maxTurns} turns (the limit: llm.maxTurns, --max-turns) before the model finished`,
      );
    }
    if (conversation.estimate() > budget) {
      const failed = compact(conversation, run, context, turn, 'budget', budget);
      if (failed) return failed;
    }
    const chars = conversation.chars();
    let response: ModelTurn;
    try {
      response = await askModel(
        llm,
        { system, messages: conversation.messages, tools: definitions, maxTokens },
        context,
      );
    } catch (error) {
      if (context.signal.aborted) return run.fail('canceled', 'canceled', true);
      if (!(error instanceof LlmError)) throw error;
      if (error.kind === 'context') {
        context.progress(`the request did not fit the model's context window (${error.message})`);
        budget = Math.min(budget, Math.floor(conversation.estimate() * 0.9));
        const failed = compact(conversation, run, context, turn, 'context_window', budget);
        if (failed) return failed;
        continue;
      }
      return run.fail('provider_error', error.message, error.retryable);
    }
    const turnCost = costOf(response.usage, settings.price);
    run.add(response, turnCost);
    llm.onUsage(response.usage, turnCost, assigned.task_id);
    conversation.measured(response.usage, chars);
    const text = response.content
      .filter(isText)
      .map((block) => block.text)
      .join('\n')
      .trim();
    const calls = response.content.filter(isToolUse);

    switch (response.stop_reason) {
      case 'max_tokens': {
        // Cut mid-answer: its last block is incomplete, a tool call's arguments included. Not
        // one of its calls runs; the answer is dropped and asked for again with more room.
        const what = calls.length > 0 ? `while calling ${calls.at(-1)!.name}` : 'in its answer';
        if (maxTokens >= settings.maxOutputTokens) {
          return run.fail(
            'truncated',
            `the model's answer was cut at its output limit of ${maxTokens} tokens ${what}, again, at the largest limit allowed (llm.maxOutputTokens ${settings.maxOutputTokens}); nothing of it was run or kept`,
          );
        }
        const next = Math.min(maxTokens * 2, settings.maxOutputTokens);
        context.progress(
          `the model's answer was cut at ${maxTokens} output tokens ${what}; not run, asking again with ${next}`,
        );
        maxTokens = next;
        continue;
      }
      case 'context_window': {
        // The window filled while it wrote: the answer is cut, like max_tokens; make room.
        budget = Math.min(budget, Math.floor(conversation.estimate() * 0.9));
        const failed = compact(conversation, run, context, turn, 'context_window', budget);
        if (failed) return failed;
        continue;
      }
      case 'refusal': {
        const { category, explanation } = response.refusal ?? { category: null, explanation: null };
        if (text) context.progress(`model: ${oneLine(text, 300)}`);
        return run.fail(
          'refusal',
          `the model refused the task (category ${category ?? 'none given'})${explanation ? `: ${explanation}` : ''}`,
          false,
          { refusal: { category, explanation }, text },
        );
      }
      case 'pause_turn':
        // PROTOCOL §14.1: a paused turn goes back as it is, and the model carries on.
        conversation.push({ role: 'assistant', content: response.content });
        context.progress('the model paused a long turn; letting it continue');
        continue;
      case 'other':
        return run.fail(
          'unknown_stop',
          `the model stopped for a reason sheri does not know ("${response.raw_stop_reason}"), so its answer cannot be trusted to be whole`,
        );
      case 'end_turn':
      case 'stop_sequence':
      case 'tool_use':
        break;
    }
    maxTokens = settings.maxTokens;
    conversation.push({ role: 'assistant', content: response.content });
    if (text) context.progress(`model: ${oneLine(text, 300)}`);
    if (calls.length === 0) return run.complete(text);
    const limit = run.overLimit();
    if (limit) return limit;
    // No request would follow to take their results: the calls are not run.
    if (turn === settings.maxTurns) continue;

    const results: ToolResultBlock[] = [];
    for (const call of calls) {
      run.toolCalls++;
      context.progress(`tool ${describeCall(call.name, call.input)}`);
      const result = await tools.run(call.name, call.input, toolContext);
      if (context.signal.aborted) return run.fail('canceled', 'canceled', true);
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
    conversation.push({ role: 'user', content: results });
  }
}

/**
 * Clear old tool results — for the budget down to a quarter of it, so the prompt cache is
 * rewritten once every few turns, not every turn (llm-context.ts); for a full context window, all
 * of them — said as progress and kept for the result. Returns the failure when that is not
 * enough.
 */
function compact(
  conversation: Conversation,
  run: RunLedger,
  context: ExecutionContext,
  turn: number,
  reason: 'budget' | 'context_window',
  budget: number,
): Outcome | undefined {
  const before = conversation.estimate();
  const cleared = conversation.clearOldResults(reason === 'budget' ? Math.floor(budget / 4) : 0);
  const after = conversation.estimate();
  const why =
    reason === 'budget'
      ? `its context budget of ${budget} tokens (llm.contextTokens)`
      : "the model's context window";
  if (cleared > 0) {
    run.compactions.push({ turn, reason, cleared, before_tokens: before, after_tokens: after });
    context.progress(
      `context compacted: cleared ${cleared} old tool result(s), ~${before} → ~${after} tokens, to fit ${why}`,
    );
  }
  if (cleared > 0 && after <= budget) return undefined;
  return run.fail(
    'context',
    `the conversation needs ~${after} tokens, more than ${why}, even with every old tool result cleared`,
  );
}

/** One model request, retried on 429 / 5xx / network errors; each wait told as progress. */
async function askModel(
  llm: LlmServices,
  request: Omit<CompletionRequest, 'signal'>,
  context: ExecutionContext,
): Promise<ModelTurn> {
  const { settings, provider } = llm;
  return withRetries(() => provider.complete({ ...request, signal: context.signal }), {
    maxRetries: settings.maxRetries,
    baseMs: settings.retryBaseMs,
    maxBackoffMs: MAX_BACKOFF_MS,
    maxWaitMs: settings.maxRetryWaitMs,
    signal: context.signal,
    onRetry: (error, delayMs, retry) =>
      context.progress(
        `model request failed (${error.message}); retry ${retry}/${settings.maxRetries} in ${(delayMs / 1000).toFixed(1)} s`,
      ),
  });
}

function makeToolContext(
  assigned: TaskAssigned,
  cwd: string,
  env: Record<string, string>,
  context: ExecutionContext,
  inputsDir: string | undefined,
  depth: number,
): ToolContext {
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

export type { StoppedBy };
