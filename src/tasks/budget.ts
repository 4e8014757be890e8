import { z } from 'zod';
import { BudgetStatus, type TaskSpec } from '../protocol/messages.js';
import type { AgentRegistry } from './agent-registry.js';
import type { LedgerStore } from './ledger-store.js';

/**
 * `budget` in sheri.config.json (the hub's): US dollars the swarm's prompt tasks may spend, per
 * UTC day across every agent, and per flow — a task people submitted with every subtask
 * delegated from it (PROTOCOL §14.5).
 */
export const BudgetFileSettings = z.strictObject({
  dailyUsd: z.number().min(0).optional(),
  flowUsd: z.number().min(0).optional(),
});
export type BudgetFileSettings = z.infer<typeof BudgetFileSettings>;

export { BudgetStatus };

export type Allowance = { ok: true; maxCostUsd?: number } | { ok: false; reason: string };

/** A flow's chain of parents is followed this far at most (depth is limited to 100). */
const MAX_CHAIN = 128;

/**
 * The swarm-wide budget, decided by the hub (the one place that sees every agent's spending):
 * what each attempt of a prompt task cost is recorded from its result, and what running tasks
 * have cost so far comes from their agents' heartbeats. A prompt task is granted only while both
 * limits have room, and its grant carries what is left (`max_cost_usd`), which the agent's loop
 * takes as the task's cost cap; a task with no room is refused (dead-lettered, saying why).
 * Tasks running at once each get the whole room left, so together they can pass a limit by at
 * most that room times their number, before their results are in.
 */
export class SwarmBudget {
  private refused = 0;

  constructor(
    private readonly settings: BudgetFileSettings,
    private readonly ledger: LedgerStore,
    private readonly registry: AgentRegistry,
  ) {}

  get configured(): boolean {
    return this.settings.dailyUsd !== undefined || this.settings.flowUsd !== undefined;
  }

  /** From a result (complete or failed, live or stale: the money was spent either way). */
  record(
    result: { task_id: string; attempt: number; result?: unknown },
    agentId: string,
    now: number,
  ): boolean {
    const cost = (result.result as { usage?: { cost_usd?: unknown } } | undefined)?.usage?.cost_usd;
    if (typeof cost !== 'number' || !Number.isFinite(cost) || cost <= 0) return false;
    this.ledger.recordSpend({
      taskId: result.task_id,
      attempt: result.attempt,
      agentId,
      flowId: this.flowOf(result.task_id),
      day: dayOf(now),
      costUsd: cost,
    });
    return true;
  }

  /** May this task be granted now, and with how much to spend? Only prompt tasks cost money. */
  allowance(spec: TaskSpec, now: number): Allowance {
    if (!this.configured || !spec.prompt || spec.commands) return { ok: true };
    const rooms: number[] = [];
    const { dailyUsd, flowUsd } = this.settings;
    if (dailyUsd !== undefined) {
      const spent = this.ledger.spent({ day: dayOf(now) }) + this.running();
      if (spent >= dailyUsd) {
        return this.refuse(
          `the swarm budget for ${dayOf(now)} (UTC) is spent: $${spent.toFixed(4)} of $${dailyUsd} (budget.dailyUsd in the hub's sheri.config.json)`,
        );
      }
      rooms.push(dailyUsd - spent);
    }
    if (flowUsd !== undefined) {
      const flow = this.flowOf(spec.task_id, spec.parent_task_id);
      const spent = this.ledger.spent({ flowId: flow }) + this.running(flow);
      if (spent >= flowUsd) {
        return this.refuse(
          `the budget of flow ${flow} is spent: $${spent.toFixed(4)} of $${flowUsd} (budget.flowUsd in the hub's sheri.config.json)`,
        );
      }
      rooms.push(flowUsd - spent);
    }
    return { ok: true, maxCostUsd: Math.round(Math.min(...rooms) * 1_000_000) / 1_000_000 };
  }

  status(now: number): BudgetStatus {
    const running = this.running();
    return {
      day: dayOf(now),
      daily_usd: this.settings.dailyUsd ?? null,
      spent_today_usd: round(this.ledger.spent({ day: dayOf(now) }) + running),
      running_usd: round(running),
      flow_usd: this.settings.flowUsd ?? null,
      refused: this.refused,
    };
  }

  private refuse(reason: string): Allowance {
    this.refused++;
    return { ok: false, reason };
  }

  /** What running prompt tasks have cost so far (in `flow`, if given), not yet in a result. */
  private running(flow?: string): number {
    let total = 0;
    for (const agent of this.registry.all()) {
      if (agent.state === 'gone') continue;
      for (const ref of agent.running) {
        if (!ref.cost_usd || this.ledger.hasSpend(ref.task_id, ref.attempt)) continue;
        if (flow !== undefined && this.flowOf(ref.task_id) !== flow) continue;
        total += ref.cost_usd;
      }
    }
    return total;
  }

  /** The root of a task's chain of parents: the task people submitted. */
  private flowOf(taskId: string, parent?: string): string {
    let root = taskId;
    let next = parent ?? this.ledger.get(taskId)?.parentTaskId ?? undefined;
    for (let hops = 0; next && hops < MAX_CHAIN; hops++) {
      root = next;
      next = this.ledger.get(next)?.parentTaskId ?? undefined;
    }
    return root;
  }
}

function dayOf(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

function round(usd: number): number {
  return Math.round(usd * 1_000_000) / 1_000_000;
}
