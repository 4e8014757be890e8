import type { SandboxReport } from '../protocol/messages.js';
import { totalTokens } from '../llm/pricing.js';
import type { Usage } from '../protocol/messages.js';

// Short human units for narrow columns: trace lines and the dashboard's tables.

/** "12.3k tokens $0.042" */
export function formatUsage(usage: Usage): string {
  return `${formatCount(totalTokens(usage))} tokens $${usage.cost_usd.toFixed(usage.cost_usd < 1 ? 3 : 2)}`;
}

export function formatCount(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}

export function formatBytes(bytes: number): string {
  return `${Math.round(bytes / 1048576)} MiB`;
}

/** "850 ms", "12 s", "4m05s", "3h02m" */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  return s < 60 ? `${s} s` : formatAge(ms);
}

/** Local wall-clock time with milliseconds, "15:52:03.130". */
export function clock(ms: number): string {
  const d = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** An age in whole seconds for tables that refresh each second: "0s", "42s", "4m05s", "3h02m". */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** "bwrap", "bwrap+net", "bwrap ro", "NONE" (no sandbox: said loudly), "-" (not said). */
export function sandboxCell(sandbox: SandboxReport | null | undefined): string {
  if (!sandbox) return '-';
  if (sandbox.kind === 'none') return 'NONE';
  return `${sandbox.kind}${sandbox.network ? '+net' : ''}${sandbox.read_only ? ' ro' : ''}`;
}
