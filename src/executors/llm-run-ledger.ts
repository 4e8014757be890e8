import { addTokens, NO_TOKENS, roundUsd, totalTokens, type ModelPrice } from '../llm/pricing.js';
import type { LlmProvider, ModelTurn, StopReason, TokenCounts } from '../llm/types.js';
import type { Outcome } from './execute-task.js';
import type { Compaction } from './llm-context.js';

/**
 * Why a prompt task's loop ended, in its result (PROTOCOL §14.1): `answer` is the only success.
 */
export type StoppedBy =
  | 'answer'
  | 'max_turns'
  | 'cost_cap'
  | 'token_cap'
  | 'truncated'
  | 'refusal'
  | 'context'
  | 'unknown_stop'
  | 'provider_error'
  | 'canceled';

/** What one task's loop has spent and done, and the outcome it makes of it. */
export class RunLedger {
  turns = 0;
  toolCalls = 0;
  readonly compactions: Compaction[] = [];
  private tokens: TokenCounts = NO_TOKENS;
  private cost = 0;
  private lastStop: StopReason | undefined;
  private lastRawStop: string | null = null;

  constructor(
    private readonly provider: LlmProvider,
    private readonly price: ModelPrice | undefined,
    private readonly capUsd: number,
    private readonly maxTaskTokens: number,
  ) {}

  add(response: ModelTurn, costUsd: number): void {
    this.turns++;
    this.tokens = addTokens(this.tokens, response.usage);
    this.cost += costUsd;
    this.lastStop = response.stop_reason;
    this.lastRawStop = response.raw_stop_reason;
  }

  /** A cap reached after an answer that calls tools: the calls are not run. */
  overLimit(): Outcome | undefined {
    if (this.price && this.cost >= this.capUsd) {
      return this.fail(
        'cost_cap',
        `stopped: the task cost $${this.cost.toFixed(4)}, reaching its cap of $${this.capUsd} (llm.maxCostUsd, --max-cost, or what the swarm budget left)`,
      );
    }
    if (totalTokens(this.tokens) >= this.maxTaskTokens) {
      return this.fail(
        'token_cap',
        `stopped: the task used ${totalTokens(this.tokens)} tokens, reaching its cap of ${this.maxTaskTokens} (llm.maxTaskTokens)`,
      );
    }
    return undefined;
  }

  complete(text: string): Outcome {
    return { ok: true, result: this.summary('answer', { text }) };
  }

  fail(
    stoppedBy: StoppedBy,
    error: string,
    retryable = false,
    extra: Record<string, unknown> = {},
  ): Outcome {
    return { ok: false, retryable, error, result: this.summary(stoppedBy, extra) };
  }

  private summary(stoppedBy: StoppedBy, extra: Record<string, unknown>): Record<string, unknown> {
    return {
      provider: this.provider.name,
      model: this.provider.model,
      turns: this.turns,
      tool_calls: this.toolCalls,
      usage: { ...this.tokens, cost_usd: roundUsd(this.cost) },
      ...(this.price ? {} : { priced: false }),
      stopped_by: stoppedBy,
      ...(this.lastStop ? { stop_reason: this.lastStop } : {}),
      ...(this.lastRawStop && this.lastRawStop !== this.lastStop
        ? { provider_stop_reason: this.lastRawStop }
        : {}),
      ...(this.compactions.length > 0 ? { compactions: this.compactions } : {}),
      ...extra,
    };
  }
}
