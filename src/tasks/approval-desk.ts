import type { ApprovalAnswer, ApprovalRequest } from '../protocol/messages.js';
import type { LedgerStore } from './ledger-store.js';

/** What the desk asks of the scheduler: whose attempt is live, and where history goes. */
export interface AttemptBook {
  /** Whether `attempt` of the task is the live one and `agentId` holds it. */
  holds(taskId: string, attempt: number, agentId: string): boolean;
  note(taskId: string, event: string, agentId: string, attempt: number, detail: unknown): void;
}

interface Pending {
  taskId: string;
  attempt: number;
  agentId: string;
  deadline: number;
}

/** Requests waiting at once, at most: past it the hub refuses new ones (the agent then denies). */
const MAX_PENDING = 10_000;

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

  constructor(
    private readonly ledger: LedgerStore,
    private readonly book: AttemptBook,
    private readonly now: () => number,
  ) {}

  /** After a restart: the requests of live attempts that no one answered. */
  restore(): void {
    for (const event of this.ledger.approvalEvents()) {
      const detail = event.detail as { approval_id?: string; deadline?: string };
      if (!detail.approval_id) continue;
      if (event.kind !== 'approval_requested') {
        this.pending.delete(detail.approval_id);
        continue;
      }
      const deadline = Date.parse(detail.deadline ?? '');
      if (deadline > this.now()) {
        this.pending.set(detail.approval_id, {
          taskId: event.taskId,
          attempt: event.attempt,
          agentId: event.agentId,
          deadline,
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
    if (this.pending.size >= MAX_PENDING && !this.pending.has(request.approval_id)) {
      return {
        ok: false,
        code: 'NOT_AUTHORIZED',
        reason: `${MAX_PENDING} approval requests already wait; this one is refused`,
      };
    }
    const pending = {
      taskId: request.task_id,
      attempt: request.attempt,
      agentId,
      deadline: Date.parse(request.deadline),
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
    const pending = this.pending.get(answer.approval_id);
    if (!pending || pending.deadline < this.now()) {
      this.pending.delete(answer.approval_id);
      return {
        ok: false,
        code: 'NOT_AUTHORIZED',
        reason: `no approval ${answer.approval_id} is waiting (answered, expired, or never asked)`,
      };
    }
    this.pending.delete(answer.approval_id);
    if (!this.book.holds(pending.taskId, pending.attempt, pending.agentId)) {
      return {
        ok: false,
        code: 'NOT_AUTHORIZED',
        reason: `attempt ${pending.attempt} of task ${pending.taskId} is over; its approval is moot`,
      };
    }
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

  private expire(): void {
    const now = this.now();
    for (const [id, pending] of this.pending) if (pending.deadline < now) this.pending.delete(id);
  }
}
