import type { SandboxReport } from '../protocol/messages.js';
import { totalTokens } from '../llm/pricing.js';
import type { Usage } from '../protocol/messages.js';
import type { BudgetStatus } from '../tasks/budget.js';

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

/**
 * The swarm budget in one line (PROTOCOL §14.5), for `sheri agents`: "budget  today (2026-11-21
 * UTC) $0.0300 of $0.05 spent, $0.0200 left (running tasks $0.0100); per flow $1; 1 prompt task
 * refused".
 */
export function describeBudget(budget: BudgetStatus): string {
  const parts = [
    budget.daily_usd === null
      ? `today (${budget.day} UTC) $${budget.spent_today_usd.toFixed(4)} spent`
      : `today (${budget.day} UTC) $${budget.spent_today_usd.toFixed(4)} of $${budget.daily_usd} spent, $${Math.max(0, budget.daily_usd - budget.spent_today_usd).toFixed(4)} left`,
  ];
  if (budget.running_usd > 0) parts[0] += ` (running tasks $${budget.running_usd.toFixed(4)})`;
  if (budget.flow_usd !== null) parts.push(`per flow $${budget.flow_usd}`);
  if (budget.refused > 0) {
    parts.push(`${budget.refused} prompt task${budget.refused === 1 ? '' : 's'} refused`);
  }
  return `budget  ${parts.join('; ')}`;
}

/** The budget in the dashboard's header: "budget $0.030/$0.05". */
export function budgetCell(budget: BudgetStatus): string {
  const spent = `$${budget.spent_today_usd.toFixed(3)}`;
  return budget.daily_usd === null
    ? `budget ${spent} today, $${budget.flow_usd}/flow`
    : `budget ${spent}/$${budget.daily_usd}`;
}
