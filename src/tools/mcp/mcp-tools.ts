import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { ToolDefinition } from '../../llm/types.js';
import { errorResult, type ToolContext, type ToolResult, type ToolSet } from '../registry.js';
import { buildEnvironment } from '../shell/environment.js';
import { isWithin } from '../shell/host-view.js';
import type { Sandbox } from '../shell/sandbox.js';
import { mcpVerdict, type McpRoleTools, type McpServer } from './mcp-config.js';
import { SandboxedStdioTransport } from './sandboxed-stdio.js';

export type { McpRoleTools } from './mcp-config.js';

/** Starting a server and listing its tools may take this long. */
const CONNECT_TIMEOUT_MS = 30_000;
/** One tool call, unless the server's `timeoutMs` says otherwise. */
const DEFAULT_CALL_TIMEOUT_MS = 60_000;
/** A tool's answer is cut here, like read_file's: one call cannot flood the context. */
const MAX_RESULT_CHARS = 100_000;
/** The APIs take tool names of letters, digits, `_` and `-`, at most 64 of them. */
const MAX_NAME = 64;

/** A mistake in the `mcp` config that every attempt would meet again: not worth a retry. */
export class McpConfigError extends Error {
  override name = 'McpConfigError';
}

/** Where a task's MCP servers run: as its commands do (guarded-command.ts). */
export interface McpRunPlace {
  cwd: string;
  /** The task's environment (what its commands get), before a server's own `env` names. */
  env: Record<string, string>;
  context: {
    sandbox: Sandbox;
    workspace: string;
    environment: Readonly<Record<string, string | undefined>>;
    allowedEnv: readonly string[];
    policy: { readOnly: boolean; network: boolean };
    /** sheri's own files: no folder bound for a server may hold one (or lie in one). */
    protectedPaths: readonly string[];
    signal: AbortSignal;
    progress: (message: string) => void;
  };
}

interface Offered {
  client: Client;
  server: string;
  tool: string;
  timeoutMs: number;
}

/**
 * The MCP tools of one task: a client per server of the role, connected when the task starts
 * and closed (stdio servers killed with their process group) when it ends. Tools are offered as
 * `mcp__<server>__<tool>`; the role's allow/deny rules decide which: a denied tool is not
 * offered, and a call to it anyway is refused with an error result, never sent to the server.
 */
export class McpTools {
  private constructor(
    private readonly offered: Map<string, Offered>,
    private readonly denied: Map<string, string>,
    private readonly defs: ToolDefinition[],
    private readonly clients: Client[],
  ) {}

  definitions(): ToolDefinition[] {
    return this.defs;
  }

  handles(name: string): boolean {
    return this.offered.has(name) || this.denied.has(name);
  }

  async run(name: string, input: unknown, signal: AbortSignal): Promise<ToolResult> {
    const denial = this.denied.get(name);
    if (denial) return errorResult(denial);
    const entry = this.offered.get(name)!;
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      return errorResult(`invalid input for ${name}: expected an object of arguments`);
    }
    try {
      const result = await entry.client.callTool(
        { name: entry.tool, arguments: input as Record<string, unknown> },
        undefined,
        { signal, timeout: entry.timeoutMs },
      );
      const text = describeContent(result as { content?: unknown; structuredContent?: unknown });
      const content =
        text.length > MAX_RESULT_CHARS
          ? `${text.slice(0, MAX_RESULT_CHARS)}\n… [cut at ${MAX_RESULT_CHARS} characters]`
          : text;
      return (result as { isError?: boolean }).isError
        ? { content: `Error: ${content}`, isError: true }
        : { content };
    } catch (error) {
      return errorResult(`MCP server ${entry.server}: ${(error as Error).message}`);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.close().catch(() => undefined)));
  }

  static async open(role: McpRoleTools, place: McpRunPlace): Promise<McpTools> {
    const clients: Client[] = [];
    const offered = new Map<string, Offered>();
    const denied = new Map<string, string>();
    const defs: ToolDefinition[] = [];
    try {
      for (const { name: server, server: config } of role.servers) {
        const client = new Client({ name: 'sheri', version: '0.1.0' });
        const transport = makeTransport(config, place);
        clients.push(client);
        try {
          await client.connect(transport, {
            timeout: CONNECT_TIMEOUT_MS,
            signal: place.context.signal,
          });
        } catch (error) {
          const tail = transport instanceof SandboxedStdioTransport ? transport.stderrTail : '';
          throw new Error(
            `MCP server ${server} did not start: ${(error as Error).message}${tail ? ` (its stderr: ${tail.slice(-500)})` : ''}`,
          );
        }
        for (const tool of await listAllTools(client, place.context.signal)) {
          const exposed = exposedName(server, tool.name);
          if (offered.has(exposed) || denied.has(exposed)) continue;
          const verdict = mcpVerdict(role, `${server}.${tool.name}`);
          if (!verdict.allowed) {
            denied.set(exposed, `MCP tool ${server}.${tool.name} is ${verdict.why}`);
            continue;
          }
          offered.set(exposed, {
            client,
            server,
            tool: tool.name,
            timeoutMs: config.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
          });
          defs.push({
            name: exposed,
            description: `[MCP server ${server}] ${tool.description ?? tool.name}`,
            input_schema: tool.inputSchema as Record<string, unknown>,
          });
        }
      }
    } catch (error) {
      await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
      throw error;
    }
    place.context.progress(
      `MCP: ${defs.length} tool(s) from ${role.servers.map((s) => s.name).join(', ')}${denied.size ? `, ${denied.size} denied` : ''}`,
    );
    return new McpTools(offered, denied, defs, clients);
  }
}

export function openMcpTools(role: McpRoleTools, place: McpRunPlace): Promise<McpTools> {
  return McpTools.open(role, place);
}

/** The built-in tools and the MCP ones, as one set the loop offers and runs. */
export function withMcpTools(
  builtIn: ToolSet,
  mcp: McpTools | undefined,
): {
  definitions(): ToolDefinition[];
  run(name: string, input: unknown, context: ToolContext): Promise<ToolResult>;
} {
  return {
    definitions: () => [...builtIn.definitions(), ...(mcp?.definitions() ?? [])],
    run: (name, input, context) =>
      mcp?.handles(name) ? mcp.run(name, input, context.signal) : builtIn.run(name, input, context),
  };
}

function makeTransport(config: McpServer, place: McpRunPlace): Transport {
  const { context } = place;
  if ('url' in config) {
    const headers = Object.fromEntries(
      Object.entries(config.headers ?? {}).map(([name, value]) => [
        name,
        value.replace(
          /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g,
          (_, variable: string) => context.environment[variable] ?? '',
        ),
      ]),
    );
    return new StreamableHTTPClientTransport(new URL(config.url), { requestInit: { headers } });
  }
  for (const path of config.paths ?? []) {
    const mine = context.protectedPaths.find((own) => isWithin(path, own) || isWithin(own, path));
    if (mine) {
      throw new McpConfigError(
        `mcp.servers: the folder ${path} would show the server sheri's own ${mine}; bind a folder that holds only the server`,
      );
    }
  }
  // The same scrubbing as the task's commands, plus the names this server's entry lists.
  const env = {
    ...buildEnvironment(context.environment, [...context.allowedEnv, ...(config.env ?? [])]),
    ...pick(place.env, (name) => name.startsWith('SHERI_')),
  };
  const prepared = context.sandbox.prepare({
    command: config.command,
    cwd: place.cwd,
    workspace: context.workspace,
    readOnly: context.policy.readOnly,
    network: context.policy.network,
    ...(config.paths ? { readOnlyPaths: config.paths } : {}),
    env,
  });
  return new SandboxedStdioTransport(prepared, place.cwd);
}

async function listAllTools(
  client: Client,
  signal: AbortSignal,
): Promise<{ name: string; description?: string | undefined; inputSchema: unknown }[]> {
  const tools = [];
  let cursor: string | undefined;
  do {
    const page = await client.listTools(cursor ? { cursor } : {}, {
      signal,
      timeout: CONNECT_TIMEOUT_MS,
    });
    tools.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor);
  return tools;
}

/** `mcp__notes__add_note`: the server and the tool, in the characters the APIs accept. */
function exposedName(server: string, tool: string): string {
  return `mcp__${server}__${tool.replace(/[^A-Za-z0-9_-]/g, '_')}`.slice(0, MAX_NAME);
}

/** A tool's answer as text: text items as they are, others named. */
function describeContent(result: { content?: unknown; structuredContent?: unknown }): string {
  const items = Array.isArray(result.content) ? (result.content as Record<string, unknown>[]) : [];
  const parts = items.map((item) => {
    switch (item.type) {
      case 'text':
        return String(item.text ?? '');
      case 'resource': {
        const resource = (item.resource ?? {}) as { uri?: string; text?: string };
        return resource.text ?? `[resource ${resource.uri ?? ''}]`;
      }
      case 'resource_link':
        return `[link ${String(item.uri ?? '')}]`;
      default:
        return `[${String(item.type)} ${String(item.mimeType ?? '')}]`;
    }
  });
  if (parts.length === 0 && result.structuredContent !== undefined) {
    return JSON.stringify(result.structuredContent);
  }
  return parts.join('\n') || '(no content)';
}

function pick(
  env: Record<string, string>,
  keep: (name: string) => boolean,
): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([name]) => keep(name)));
}
