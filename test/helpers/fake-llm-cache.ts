import { createHash } from 'node:crypto';

/**
 * The fake Messages API's model of token counts and prompt caching, as the API documents them:
 * a request is read as blocks in the order tools → system → messages; a block carrying
 * `cache_control` is a breakpoint, and the prefix up to it is cached (when it has at least the
 * model's minimum of tokens); a later request whose blocks start with a cached prefix — found at
 * one of its breakpoints or up to 20 blocks before one — reads it instead of paying for it. At
 * most four breakpoints. So cache reads and writes are measured from what the SDK sent, never
 * scripted. Tokens are counted as characters / 4 of each block's JSON, which is the same
 * measure for every run compared.
 */
export const CHARS_PER_TOKEN = 4;
const LOOKBACK_BLOCKS = 20;
const TTL_MS = 5 * 60_000;
export const MAX_BREAKPOINTS = 4;

export interface MeasuredUsage {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  /** All of the request's tokens. */
  total: number;
  breakpoints: number;
}

export function countTokens(text: string): number {
  return Math.ceil(text.length / CHARS_PER_TOKEN);
}

/** A request's blocks in the API's order, each as the JSON it is hashed and counted by. */
export function blocksOf(body: Record<string, unknown>): { text: string; breakpoint: boolean }[] {
  const blocks: { text: string; breakpoint: boolean }[] = [];
  const add = (scope: string, block: unknown): void => {
    const { cache_control, ...rest } = (
      typeof block === 'string' ? { type: 'text', text: block } : block
    ) as Record<string, unknown>;
    blocks.push({
      text: `${scope}:${JSON.stringify(rest)}`,
      breakpoint: cache_control !== undefined,
    });
  };
  for (const tool of (body.tools as unknown[] | undefined) ?? []) add('tool', tool);
  const system = body.system;
  if (typeof system === 'string') add('system', system);
  else for (const block of (system as unknown[] | undefined) ?? []) add('system', block);
  for (const message of (body.messages as { role: string; content: unknown }[] | undefined) ?? []) {
    const content = typeof message.content === 'string' ? [message.content] : message.content;
    for (const block of content as unknown[]) add(message.role, block);
  }
  return blocks;
}

export class PromptCache {
  private readonly entries = new Map<string, number>(); // prefix hash → expires at

  constructor(private readonly minCacheableTokens = 1_024) {}

  /** Usage of one request, caching what its breakpoints mark; throws past four breakpoints. */
  measure(body: Record<string, unknown>, now = Date.now()): MeasuredUsage {
    const blocks = blocksOf(body);
    const cumulative: number[] = [];
    const hashes: string[] = [];
    let tokens = 0;
    let hash = '';
    for (const block of blocks) {
      tokens += countTokens(block.text);
      hash = createHash('sha256').update(hash).update(block.text).digest('hex');
      cumulative.push(tokens);
      hashes.push(hash);
    }
    const breakpoints = blocks.flatMap((block, index) => (block.breakpoint ? [index] : []));
    if (breakpoints.length > MAX_BREAKPOINTS) {
      throw new Error(
        `A maximum of ${MAX_BREAKPOINTS} blocks with cache_control may be provided. Found ${breakpoints.length}.`,
      );
    }
    let read = -1;
    for (const point of breakpoints) {
      for (let index = point; index >= Math.max(0, point - LOOKBACK_BLOCKS); index--) {
        if ((this.entries.get(hashes[index]!) ?? 0) > now) {
          read = Math.max(read, index);
          break;
        }
      }
    }
    if (read >= 0) this.entries.set(hashes[read]!, now + TTL_MS);
    const readTokens = read >= 0 ? cumulative[read]! : 0;
    const last = breakpoints.at(-1) ?? -1;
    let writeTokens = 0;
    if (last > read && cumulative[last]! >= this.minCacheableTokens) {
      writeTokens = cumulative[last]! - readTokens;
      for (const point of breakpoints) {
        if (cumulative[point]! >= this.minCacheableTokens)
          this.entries.set(hashes[point]!, now + TTL_MS);
      }
    }
    return {
      input_tokens: tokens - readTokens - writeTokens,
      cache_creation_input_tokens: writeTokens,
      cache_read_input_tokens: readTokens,
      total: tokens,
      breakpoints: breakpoints.length,
    };
  }
}
