import type { ChatMessage, TokenCounts, ToolResultBlock } from '../llm/types.js';

/** What one compaction did, for the task's progress and its result (PROTOCOL §14.1). */
export interface Compaction {
  /** The model request it came before (1-based). */
  turn: number;
  reason: 'budget' | 'context_window';
  /** Tool results whose content was replaced by a note. */
  cleared: number;
  before_tokens: number;
  after_tokens: number;
}

/** Tokens per character before any answer measured one: more than most text has, so on the safe side. */
const FIRST_GUESS_TOKENS_PER_CHAR = 1 / 3;

/**
 * The conversation of one task, and its size. Every request resends all of it, so it must stay
 * under the task's context budget (`llm.contextTokens`). Its size is measured, not guessed: each
 * answer's usage says how many tokens the request had (input + cache reads + cache writes), which
 * gives the tokens per character of this conversation; the next request is estimated from that.
 *
 * Compaction clears old tool results — it replaces their content with a short note that says
 * what was there and that the tool can be called again — oldest first, and never the newest
 * turn's. Clearing rather than summarising: it costs no model request (a summary would be one
 * more request over the very context that is too big), loses nothing the model cannot get back
 * (files and commands are still there to re-read), and is deterministic. It clears deep, all the
 * old results at once: a cleared block changes the conversation from that point on, so the
 * provider's prompt cache must write everything after it again; one deep compaction every few
 * turns costs one rewrite, where clearing a little each turn would cost one every turn.
 * Tool calls themselves (the model's own words) are kept, so it knows what it did.
 */
export class Conversation {
  readonly messages: ChatMessage[];
  private tokensPerChar = FIRST_GUESS_TOKENS_PER_CHAR;

  /** `fixedChars`: the system prompt and tool definitions, sent with every request. */
  constructor(
    first: ChatMessage,
    private readonly fixedChars: number,
  ) {
    this.messages = [first];
  }

  push(message: ChatMessage): void {
    this.messages.push(message);
  }

  /** Characters of the next request, as it will be serialised. */
  chars(): number {
    return this.fixedChars + JSON.stringify(this.messages).length;
  }

  /** An answer came: `usage` tells how many tokens its request (of `chars`) had. */
  measured(usage: TokenCounts, chars: number): void {
    const tokens = requestTokens(usage);
    // A server that reports no usage (some local ones) leaves the first guess in place.
    if (tokens > 0 && chars > 0) this.tokensPerChar = tokens / chars;
  }

  /** Tokens of the next request. */
  estimate(): number {
    return Math.ceil(this.chars() * this.tokensPerChar);
  }

  /**
   * Clear old tool results, oldest first, until the next request is at most `targetTokens`;
   * the newest user message's results stay. Returns how many were cleared (0: nothing left to
   * clear, the caller must fail).
   */
  clearOldResults(targetTokens: number): number {
    const newestUser = this.messages.findLastIndex((message) => message.role === 'user');
    let cleared = 0;
    for (let index = 1; index < newestUser; index++) {
      if (this.estimate() <= targetTokens) break;
      const message = this.messages[index]!;
      if (message.role !== 'user') continue;
      const content = message.content.map((block) => {
        if (block.type !== 'tool_result' || isCleared(block)) return block;
        cleared++;
        return clearedResult(block, this.callOf(block.tool_use_id));
      });
      this.messages[index] = { role: 'user', content };
    }
    return cleared;
  }

  /** The tool call a result answers, as `read_file {"path":"a.txt"}`. */
  private callOf(toolUseId: string): string {
    for (const message of this.messages) {
      if (message.role !== 'assistant') continue;
      for (const block of message.content) {
        if (block.type === 'tool_use' && (block as { id?: string }).id === toolUseId) {
          const call = block as { name: string; input: unknown };
          return `${call.name} ${JSON.stringify(call.input ?? {}).slice(0, 200)}`;
        }
      }
    }
    return 'the tool';
  }
}

const CLEARED_PREFIX = '[cleared to keep the conversation within its context budget:';

function isCleared(block: ToolResultBlock): boolean {
  return block.content.startsWith(CLEARED_PREFIX);
}

function clearedResult(block: ToolResultBlock, call: string): ToolResultBlock {
  return {
    ...block,
    content: `${CLEARED_PREFIX} ${block.content.length} characters from ${call}; call it again if you need them]`,
  };
}

/** Tokens of the request an answer's usage describes: the uncached part and the cached ones. */
export function requestTokens(usage: TokenCounts): number {
  return usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens;
}
