import { taskRowOf, type Death, type Decision } from './decisions.js';
import type { Spend } from './ledger-store.js';

/**
 * One row change of the ledger, as `sheri_apply` (postgres-schema.ts) performs it: a turn's
 * decisions become a list of these, sent in one statement, so recording a turn costs one round
 * trip whatever its size. Each decision maps to the same rows as SQLite's Ledger records.
 */
export type LedgerOp = Record<string, unknown> & { op: string };

function json(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

function event(
  taskId: string,
  at: number,
  kind: string,
  agentId: string | null,
  attempt: number | null,
  detail: unknown,
): LedgerOp {
  return {
    op: 'event',
    task_id: taskId,
    at,
    kind,
    agent_id: agentId,
    attempt,
    detail: json(detail),
  };
}

function deaths(at: number, list: readonly Death[]): LedgerOp[] {
  return list.flatMap((death) => [
    { op: 'kill', task_id: death.taskId, reason: death.reason, at },
    event(death.taskId, at, 'dead', death.agentId, death.attempt, { reason: death.reason }),
  ]);
}

/** The row changes of one decision, in the order SQLite's Ledger makes them (ledger.ts). */
export function opsOf(decision: Decision): LedgerOp[] {
  switch (decision.kind) {
    case 'admit': {
      const { task, needs, at } = decision;
      return [
        { op: 'insert', ...taskRowOf(task), at },
        ...needs.map((need) => ({ op: 'need', task_id: task.taskId, need_id: need })),
        event(task.taskId, at, 'submitted', task.submittedBy, null, null),
      ];
    }
    case 'grant':
      return [
        {
          op: 'grant',
          task_id: decision.taskId,
          agent_id: decision.agentId,
          lease_expires_at: decision.leaseExpiresAt,
          attempt: decision.attempt,
          at: decision.at,
        },
        event(decision.taskId, decision.at, 'assigned', decision.agentId, decision.attempt, null),
      ];
    case 'ack':
      return [
        {
          op: 'ack',
          task_id: decision.taskId,
          attempt: decision.attempt,
          agent_id: decision.agentId,
        },
      ];
    case 'complete': {
      const { taskId, at, agentId, attempt, result } = decision;
      return [
        { op: 'complete', task_id: taskId, result: json(result), at },
        event(taskId, at, 'complete', agentId, attempt, result),
        ...decision.unblocked.flatMap((id) => [
          { op: 'unblock', task_id: id, at },
          event(id, at, 'unblocked', null, null, null),
        ]),
      ];
    }
    case 'requeue': {
      const { taskId, at, agentId, attempt, reason } = decision;
      const dead = decision.deaths[0]?.taskId === taskId;
      const ops: LedgerOp[] = [];
      if (decision.result !== undefined) {
        ops.push(event(taskId, at, 'result', agentId, attempt, decision.result));
      }
      ops.push(
        {
          op: 'requeue',
          task_id: taskId,
          state: dead ? 'dead' : 'queued',
          failures: decision.failures,
          last_error: reason,
          not_before: dead ? 0 : decision.notBefore,
          at,
        },
        event(taskId, at, decision.event, agentId, attempt, { reason }),
      );
      if (!dead) return [...ops, ...deaths(at, decision.deaths)];
      ops.push(event(taskId, at, 'dead', null, attempt, { reason }));
      return [...ops, ...deaths(at, decision.deaths.slice(1))];
    }
    case 'kill':
      return deaths(decision.at, decision.deaths);
    case 'note':
      return [
        event(
          decision.taskId,
          decision.at,
          decision.event,
          decision.agentId,
          decision.attempt,
          decision.detail,
        ),
      ];
  }
}

export function spendOp(spend: Spend): LedgerOp {
  return {
    op: 'spend',
    task_id: spend.taskId,
    attempt: spend.attempt,
    agent_id: spend.agentId,
    flow_id: spend.flowId,
    day: spend.day,
    cost_usd: spend.costUsd,
  };
}
