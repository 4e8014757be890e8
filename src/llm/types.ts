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

/** Why the model stopped: `tool_use` means it waits for tool results. */
export type StopReason = 'end_turn' | 'tool_use' | 'max_tokens' | 'stop_sequence' | 'other';

export interface ModelTurn {
  content: AssistantBlock[];
  stop_reason: StopReason;
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

/** One LLM backend: a single request/response of a tool-using conversation. */
export interface LlmProvider {
  readonly name: 'anthropic' | 'openai';
  readonly model: string;
  complete(request: CompletionRequest): Promise<ModelTurn>;
}

export function isToolUse(block: AssistantBlock): block is ToolUseBlock {
  return block.type === 'tool_use';
}

export function isText(block: AssistantBlock): block is TextBlock {
  return block.type === 'text' && typeof (block as TextBlock).text === 'string';
}
