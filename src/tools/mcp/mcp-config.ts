import { z } from 'zod';
import { EXIT, SheriError } from '../../errors.js';

const ServerName = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,32}$/, 'must be 1-32 letters, digits, "_" or "-"');

/**
 * One MCP server (Model Context Protocol). `command`: a shell command line that starts a stdio
 * server, run with bash inside the agent's sandbox like any command. `url`: a streamable HTTP
 * server, reached by the agent itself.
 */
export const McpServer = z.union([
  z.strictObject({
    command: z.string().min(1).max(10_000),
    /** Variables of the agent's environment the server may see beyond the safe ones. */
    env: z.array(z.string().min(1)).optional(),
    /**
     * Folders bound read-only into its sandbox, where its program lives: beyond the system
     * folders, node's, PATH's and the workspace, nothing of the host is there ($HOME is empty).
     */
    paths: z.array(z.string().regex(/^\//, 'must be an absolute path')).optional(),
    /** Longest wait for one tool call, in ms. */
    timeoutMs: z.int().min(100).optional(),
  }),
  z.strictObject({
    url: z.url(),
    /** Sent with every request; `${NAME}` is replaced by the agent's variable NAME. */
    headers: z.record(z.string(), z.string()).optional(),
    timeoutMs: z.int().min(100).optional(),
  }),
]);
export type McpServer = z.infer<typeof McpServer>;

/**
 * `mcp` in sheri.config.json: the servers, and per role which it gets and which of their tools
 * it may call — `allow` and `deny` hold `server.tool` patterns where `*` matches anything; deny
 * wins, and without `allow` every tool not denied is allowed.
 */
export const McpFileSettings = z.strictObject({
  servers: z.record(ServerName, McpServer).optional(),
  roles: z
    .record(
      z.string(),
      z.strictObject({
        servers: z.array(ServerName).min(1),
        allow: z.array(z.string().min(1)).optional(),
        deny: z.array(z.string().min(1)).optional(),
      }),
    )
    .optional(),
});
export type McpFileSettings = z.infer<typeof McpFileSettings>;

/** What one role gets: its servers by name, and its rules. */
export interface McpRoleTools {
  role: string;
  servers: readonly { name: string; server: McpServer }[];
  allow: readonly string[] | undefined;
  deny: readonly string[];
}

/** The role's MCP servers, or undefined when it has none; a role naming an unknown server is refused. */
export function resolveMcpRole(
  settings: McpFileSettings | undefined,
  role: string,
): McpRoleTools | undefined {
  const entry = settings?.roles?.[role];
  if (!entry) return undefined;
  const servers = entry.servers.map((name) => {
    const server = settings?.servers?.[name];
    if (!server) {
      const known = Object.keys(settings?.servers ?? {});
      throw new SheriError(
        `mcp.roles.${role} names the MCP server "${name}", which mcp.servers does not define (defined: ${known.join(', ') || 'none'})`,
        EXIT.config,
      );
    }
    return { name, server };
  });
  return { role, servers, allow: entry.allow, deny: entry.deny ?? [] };
}

/** The rule that decides `server.tool`: a deny pattern, or no allow pattern matching. */
export function mcpVerdict(
  rules: Pick<McpRoleTools, 'allow' | 'deny' | 'role'>,
  qualified: string,
): { allowed: true } | { allowed: false; why: string } {
  const denied = rules.deny.find((pattern) => matches(pattern, qualified));
  if (denied) {
    return {
      allowed: false,
      why: `denied for role ${rules.role} by mcp.roles.${rules.role}.deny "${denied}"`,
    };
  }
  if (rules.allow && !rules.allow.some((pattern) => matches(pattern, qualified))) {
    return {
      allowed: false,
      why: `not in mcp.roles.${rules.role}.allow (${rules.allow.join(', ')})`,
    };
  }
  return { allowed: true };
}

function matches(pattern: string, name: string): boolean {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`).test(name);
}
