import { z } from 'zod';
import { formatIssues } from '../protocol/codec.js';
import type { ToolDefinition } from '../llm/types.js';

/** What a tool hands back to the model; failures are values too (isError), never exceptions. */
export interface ToolResult {
  content: string;
  isError?: boolean;
}

export interface DelegateRequest {
  type: string;
  prompt?: string;
  commands?: string[];
  payload?: Record<string, unknown>;
  timeoutMs?: number;
}

/** What tools may touch: the task's workspace and the agent's guarded services. */
export interface ToolContext {
  workspace: string;
  /**
   * Absolute paths (files or folders) of sheri's own state: config file, data dir, ledger,
   * credentials. The file tools neither read, list, search nor write at or below them.
   */
  protectedPaths: readonly string[];
  signal: AbortSignal;
  runShell(command: string, timeoutMs?: number): Promise<ToolResult>;
  publishEvent(topic: string, payload: unknown): Promise<ToolResult>;
  progress(message: string, percent?: number): void;
  delegate(request: DelegateRequest): Promise<ToolResult>;
}

export interface Tool<S extends z.ZodType = z.ZodType> {
  name: string;
  description: string;
  input: S;
  run(input: z.infer<S>, context: ToolContext): Promise<ToolResult>;
}

export function defineTool<S extends z.ZodType>(tool: Tool<S>): Tool {
  return tool as unknown as Tool;
}

export function errorResult(message: string): ToolResult {
  return { content: `Error: ${message}`, isError: true };
}

/** The tools one task's model may call: their JSON schemas, and a runner that never throws. */
export class ToolSet {
  private readonly byName: Map<string, Tool>;

  constructor(tools: readonly Tool[]) {
    this.byName = new Map(tools.map((tool) => [tool.name, tool]));
  }

  definitions(): ToolDefinition[] {
    return [...this.byName.values()].map((tool) => {
      const schema: Record<string, unknown> = z.toJSONSchema(tool.input, { io: 'input' });
      delete schema.$schema; // the APIs want the bare object schema
      return { name: tool.name, description: tool.description, input_schema: schema };
    });
  }

  async run(name: string, input: unknown, context: ToolContext): Promise<ToolResult> {
    const tool = this.byName.get(name);
    if (!tool) {
      return errorResult(`no tool "${name}"; tools are ${[...this.byName.keys()].join(', ')}`);
    }
    const parsed = tool.input.safeParse(input);
    if (!parsed.success) {
      return errorResult(`invalid input for ${name}: ${formatIssues(parsed.error)}`);
    }
    try {
      return capResult(await tool.run(parsed.data, context));
    } catch (error) {
      return errorResult(describeError(error));
    }
  }
}

/**
 * The most characters one tool answer hands the model, whatever the tool: `read_file` stops at it
 * by itself, but a search of 1,000 hits each with a path of 4 KB came to 4.4 MB in one answer.
 */
export const MAX_TOOL_RESULT_CHARS = 100_000;

function capResult(result: ToolResult): ToolResult {
  if (result.content.length <= MAX_TOOL_RESULT_CHARS) return result;
  return {
    ...result,
    content: `${result.content.slice(0, MAX_TOOL_RESULT_CHARS)}\n… [cut at ${MAX_TOOL_RESULT_CHARS} characters of ${result.content.length}: narrow the path or the pattern]`,
  };
}

/** File-system errors in words a model (and a person reading the trace) can act on. */
function describeError(error: unknown): string {
  const { code, path, message } = error as NodeJS.ErrnoException;
  const where = path ? ` (${path})` : '';
  if (code === 'ENOENT') return `no such file or folder${where}`;
  if (code === 'EISDIR') return `is a folder, not a file${where}`;
  if (code === 'ENOTDIR') return `a part of the path is not a folder${where}`;
  if (code === 'EACCES' || code === 'EPERM') return `permission denied${where}`;
  return message;
}
