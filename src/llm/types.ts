/**
 * One conversation shape for every provider, modelled on the Anthropic Messages API; the
 * OpenAI-compatible provider translates to and from it. Assistant blocks a provider returns
 * (thinking included) are sent back unchanged, as the Messages API requires.
 */

export interface TextBlock {
  type: 'text';
  text: string;
}

export interface ToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  input: unknown;
}

export interface ToolResultBlock {
  type: 'tool_result';
  tool_use_id: string;
  content: string;
  is_error?: boolean;
}

/** Any other block a model returns (thinking, redacted_thinking, …): kept, passed back as is. */
export interface OtherBlock {
  type: string;
  [key: string]: unknown;
}

export type AssistantBlock = TextBlock | ToolUseBlock | OtherBlock;

export type ChatMessage =
  | { role: 'user'; content: (TextBlock | ToolResultBlock)[] }
  | { role: 'assistant'; content: AssistantBlock[] };

export interface ToolDefinition {
  name: string;
  description: string;
  /** JSON Schema of the tool's input (an object schema). */
  input_schema: Record<string, unknown>;
}

export interface TokenCounts {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

/**
 * Why the model stopped, in one vocabulary for both providers (PROTOCOL §14.1):
 * - `end_turn`, `stop_sequence`: a whole answer (OpenAI `stop`);
 * - `tool_use`: it waits for tool results (OpenAI `tool_calls`);
 * - `max_tokens`: cut at the output limit, so its last block is incomplete (OpenAI `length`);
 * - `pause_turn`: the API paused a long turn; sent back as is, it continues;
 * - `refusal`: declined on policy grounds (OpenAI `content_filter`), see `stop_details`;
 * - `context_window`: cut because the context window is full (`model_context_window_exceeded`);
 * - `other`: anything else; `raw_stop_reason` says what.
 */
export type StopReason =
  | 'end_turn'
  | 'tool_use'
  | 'max_tokens'
  | 'stop_sequence'
  | 'pause_turn'
  | 'refusal'
  | 'context_window'
  | 'other';

/** What a refusal says about itself (the Messages API's `stop_details`). */
export interface RefusalDetails {
  category: string | null;
  explanation: string | null;
}

export interface ModelTurn {
  content: AssistantBlock[];
  stop_reason: StopReason;
  /** The provider's own word for it (`model_context_window_exceeded`, `length`, …). */
  raw_stop_reason: string | null;
  /** For a refusal: its category and explanation, when the provider gives them. */
  refusal?: RefusalDetails;
  usage: TokenCounts;
  /** The model that answered, as the provider names it. */
  model: string;
}

export interface CompletionRequest {
  system: string;
  messages: ChatMessage[];
  tools: ToolDefinition[];
  maxTokens: number;
  signal: AbortSignal;
}

/** What a provider found when it checked its server at start. */
export interface ProviderCheck {
  ok: boolean;
  /** No server answered at all (rather than one that refused). */
  unreachable?: boolean;
  /** What is wrong and how to fix it, or (ok) a note worth saying, e.g. an unlisted model. */
  message?: string;
}

/** One LLM backend: a single request/response of a tool-using conversation. */
export interface LlmProvider {
  readonly name: 'anthropic' | 'openai';
  readonly model: string;
  complete(request: CompletionRequest): Promise<ModelTurn>;
  /** Is the server there, does it take the key, does it know the model? Never throws. */
  check(signal: AbortSignal): Promise<ProviderCheck>;
}

export function isToolUse(block: AssistantBlock): block is ToolUseBlock {
  return block.type === 'tool_use';
}

export function isText(block: AssistantBlock): block is TextBlock {
  return block.type === 'text' && typeof (block as TextBlock).text === 'string';
}
