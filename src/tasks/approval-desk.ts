import type { ApprovalAnswer, ApprovalRequest } from '../protocol/messages.js';
import type { LedgerStore } from './ledger-store.js';

/** What the desk asks of the scheduler: whose attempt is live, and where history goes. */
export interface AttemptBook {
  /** Whether `attempt` of the task is the live one and `agentId` holds it. */
  holds(taskId: string, attempt: number, agentId: string): boolean;
  /**
   * Count one more request recorded for the live `attempt` of the task (held, as `holds` said)
   * and say how many there are with it; the count ends with the attempt.
   */
  countRequest(taskId: string, attempt: number, agentId: string): number;
  note(taskId: string, event: string, agentId: string, attempt: number, detail: unknown): void;
}

interface Pending {
  taskId: string;
  attempt: number;
  agentId: string;
  deadline: number;
  command: string;
  rule: string;
}

/** How a request stopped waiting, so a late or repeated answer is told what happened. */
interface Settled {
  how: 'approved' | 'denied' | 'expired' | 'moot';
  by?: string;
  at: number;
}

/** A request that waits, as `sheri approvals` lists it (PROTOCOL §10, kind `approvals`). */
export interface ApprovalSummary {
  approval_id: string;
  task_id: string;
  attempt: number;
  /** The agent that asked. */
  agent_id: string;
  command: string;
  rule: string;
  deadline: string;
}

/** Requests waiting at once, at most: past it the hub refuses new ones (the agent then denies). */
const MAX_PENDING = 10_000;
/**
 * Requests of one agent waiting at once, at most: one agent (a compromised credential, a model
 * asking in a loop) must not fill the desk and get every other agent's "ask" refused.
 */
export const MAX_PENDING_PER_AGENT = 32;
/**
 * Requests of one attempt recorded in its history, at most: each is a row in the ledger, and an
 * agent could ask, let it expire and ask again without end. A runbook asks once a command (100).
 */
export const MAX_REQUESTS_PER_ATTEMPT = 200;
/** Settled requests remembered, newest kept, to answer "already answered" rather than "unknown". */
const MAX_SETTLED = 10_000;

export type DeskVerdict =
  | { ok: true; pending: Pending }
  | { ok: false; reason: string; code: 'NOT_AUTHORIZED' | 'SCHEMA_INVALID' };

/**
 * The hub's side of approvals (PROTOCOL §13): which approval requests wait, from whom, for which
 * live attempt; an operator's answer is forwarded only to the agent that asked, only while it
 * waits. Each request and answer is recorded in the task's history, with the approver.
 */
export class ApprovalDesk {
  private readonly pending = new Map<string, Pending>();
  private readonly settled = new Map<string, Settled>();

  constructor(
    private readonly ledger: LedgerStore,
    private readonly book: AttemptBook,
    private readonly now: () => number,
  ) {}

  /** After a restart: the requests of live attempts that no one answered. */
  restore(): void {
    for (const event of this.ledger.approvalEvents()) {
      const detail = event.detail as {
        approval_id?: string;
        deadline?: string;
        command?: string;
        rule?: string;
        approver?: string;
      };
      if (!detail.approval_id) continue;
      if (event.kind !== 'approval_requested') {
        this.pending.delete(detail.approval_id);
        const how = event.kind === 'approved' ? 'approved' : 'denied';
        this.remember(detail.approval_id, {
          how,
          ...(detail.approver ? { by: detail.approver } : {}),
          at: 0,
        });
        continue;
      }
      const deadline = Date.parse(detail.deadline ?? '');
      if (deadline > this.now()) {
        this.pending.set(detail.approval_id, {
          taskId: event.taskId,
          attempt: event.attempt,
          agentId: event.agentId,
          deadline,
          command: detail.command ?? '',
          rule: detail.rule ?? '',
        });
      }
    }
  }

  /** An agent asks: it must hold the live attempt the request names. */
  request(agentId: string, request: ApprovalRequest): DeskVerdict {
    if (!this.book.holds(request.task_id, request.attempt, agentId)) {
      return {
        ok: false,
        code: 'NOT_AUTHORIZED',
        reason: `${agentId} does not hold attempt ${request.attempt} of task ${request.task_id}, so it cannot ask for approval on it`,
      };
    }
    if (!request.approval_id.startsWith(`${request.task_id}.${request.attempt}.`)) {
      return {
        ok: false,
        code: 'SCHEMA_INVALID',
        reason: `approval_id must be <task_id>.<attempt>.<suffix>, got ${request.approval_id}`,
      };
    }
    this.expire();
    if (!this.pending.has(request.approval_id)) {
      let mine = 0;
      for (const waiting of this.pending.values()) if (waiting.agentId === agentId) mine++;
      if (mine >= MAX_PENDING_PER_AGENT) {
        return {
          ok: false,
          code: 'NOT_AUTHORIZED',
          reason: `${agentId} already has ${mine} approval requests waiting, the most one agent may; this one is refused`,
        };
      }
    }
    if (this.pending.size >= MAX_PENDING && !this.pending.has(request.approval_id)) {
      return {
        ok: false,
        code: 'NOT_AUTHORIZED',
        reason: `${MAX_PENDING} approval requests already wait; this one is refused`,
      };
    }
    const waiting = this.pending.get(request.approval_id);
    if (waiting && waiting.agentId === agentId && waiting.attempt === request.attempt) {
      // Asked again (the agent's retry, a redelivery): it still waits, recorded once.
      return { ok: true, pending: waiting };
    }
    if (
      this.book.countRequest(request.task_id, request.attempt, agentId) > MAX_REQUESTS_PER_ATTEMPT
    ) {
      return {
        ok: false,
        code: 'NOT_AUTHORIZED',
        reason: `attempt ${request.attempt} of task ${request.task_id} has asked for approval ${MAX_REQUESTS_PER_ATTEMPT} times, the most one attempt may; this one is refused`,
      };
    }
    const pending = {
      taskId: request.task_id,
      attempt: request.attempt,
      agentId,
      deadline: Date.parse(request.deadline),
      command: request.command,
      rule: request.rule,
    };
    this.pending.set(request.approval_id, pending);
    this.book.note(request.task_id, 'approval_requested', agentId, request.attempt, {
      approval_id: request.approval_id,
      command: request.command,
      rule: request.rule,
      deadline: request.deadline,
    });
    return { ok: true, pending };
  }

  /** An operator answers: only a request that waits, for an attempt still live. Recorded. */
  answer(approver: string, answer: ApprovalAnswer): DeskVerdict {
    this.expire();
    const pending = this.pending.get(answer.approval_id);
    if (!pending) {
      return {
        ok: false,
        code: 'NOT_AUTHORIZED',
        reason: this.whyNotWaiting(answer.approval_id),
      };
    }
    this.pending.delete(answer.approval_id);
    if (!this.book.holds(pending.taskId, pending.attempt, pending.agentId)) {
      this.remember(answer.approval_id, { how: 'moot', at: this.now() });
      return {
        ok: false,
        code: 'NOT_AUTHORIZED',
        reason: `attempt ${pending.attempt} of task ${pending.taskId} is over; its approval is moot`,
      };
    }
    this.remember(answer.approval_id, {
      how: answer.approved ? 'approved' : 'denied',
      by: approver,
      at: this.now(),
    });
    this.book.note(
      pending.taskId,
      answer.approved ? 'approved' : 'denied',
      approver,
      pending.attempt,
      {
        approval_id: answer.approval_id,
        approver,
        ...(answer.reason ? { reason: answer.reason } : {}),
      },
    );
    return { ok: true, pending };
  }

  /** What waits now, soonest deadline first. */
  list(): ApprovalSummary[] {
    this.expire();
    return [...this.pending]
      .sort(([, a], [, b]) => a.deadline - b.deadline)
      .map(([id, pending]) => ({
        approval_id: id,
        task_id: pending.taskId,
        attempt: pending.attempt,
        agent_id: pending.agentId,
        command: pending.command,
        rule: pending.rule,
        deadline: new Date(pending.deadline).toISOString(),
      }));
  }

  private whyNotWaiting(approvalId: string): string {
    const settled = this.settled.get(approvalId);
    const when = settled?.at ? ` at ${new Date(settled.at).toISOString()}` : '';
    switch (settled?.how) {
      case 'approved':
      case 'denied':
        return `approval ${approvalId} was already answered: ${settled.how}${settled.by ? ` by ${settled.by}` : ''}${when}`;
      case 'expired':
        return `approval ${approvalId} expired${when}: no answer came before its deadline, so the command was denied`;
      case 'moot':
        return `approval ${approvalId} is moot: the attempt that asked is over`;
      default:
        return `no approval ${approvalId} is waiting, and the hub knows of none by that id (sheri approvals lists those that wait)`;
    }
  }

  private remember(approvalId: string, settled: Settled): void {
    this.settled.delete(approvalId);
    this.settled.set(approvalId, settled);
    if (this.settled.size > MAX_SETTLED) {
      this.settled.delete(this.settled.keys().next().value!);
    }
  }

  private expire(): void {
    const now = this.now();
    for (const [id, pending] of this.pending) {
      if (pending.deadline >= now) continue;
      this.pending.delete(id);
      this.remember(id, { how: 'expired', at: pending.deadline });
    }
  }
}
