import { randomBytes } from 'node:crypto';
import type { ApprovalAnswer } from '../executors/execute-task.js';
import type { Logger } from '../logging/logger.js';
import type { ApprovalRequest } from '../protocol/messages.js';
import { topicFor } from '../protocol/topic-table.js';
import type { Decision } from '../tools/shell/policy.js';
import type { Bus } from '../transport/bus.js';
import type { RouteHandlers } from '../transport/topic-router.js';

export interface Ask {
  taskId: string;
  attempt: number;
  command: string;
  decision: Decision;
  signal: AbortSignal;
  progress: (message: string) => void;
}

/**
 * An agent asking people (PROTOCOL §13): it publishes the request, waits for the hub to forward
 * an operator's answer on the request's own decision topic; no answer by the deadline means deny.
 * Only the asking task waits: heartbeats and other tasks go on.
 */
export class ApprovalRequests {
  /** Decision topic → the waiting command's resolver. */
  private readonly waiting = new Map<string, (answer: ApprovalAnswer) => void>();

  constructor(
    private readonly bus: Bus,
    private readonly waitMs: number,
    private readonly logger: Logger,
  ) {}

  /** Its part of the agent's routes: decisions on the topics of requests that wait. */
  routes(): RouteHandlers {
    return {
      approvalDecision: (message, topic) => {
        const answer = this.waiting.get(topic);
        if (!answer) return;
        // The hub forwards an operator's answer, naming the approver it verified (§13).
        const { payload, envelope } = message;
        const by = payload.approver ?? envelope.agent_id;
        const why = payload.reason ? `: ${payload.reason}` : '';
        answer({
          approved: payload.approved,
          reason: `${payload.approved ? 'approved' : 'denied'} by ${by}${why}`,
        });
      },
    };
  }

  async request(ask: Ask): Promise<ApprovalAnswer> {
    const approvalId = `${ask.taskId}.${ask.attempt}.${randomBytes(4).toString('hex')}`;
    const topic = topicFor('approvalDecision', { id: approvalId });
    const pendingTopic = topicFor('approvalPending', { id: approvalId });
    const { waitMs } = this;
    let timer: NodeJS.Timeout | undefined;
    let onAbort = (): void => undefined;
    const answer = new Promise<ApprovalAnswer>((resolve) => {
      this.waiting.set(topic, resolve);
      timer = setTimeout(
        () => resolve({ approved: false, reason: `no answer within ${waitMs / 1000} s` }),
        waitMs,
      );
      onAbort = () => resolve({ approved: false, reason: 'task canceled' });
      ask.signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await this.bus.subscribe({ [topic]: 1 });
      const request: ApprovalRequest = {
        approval_id: approvalId,
        task_id: ask.taskId,
        attempt: ask.attempt,
        command: ask.command,
        rule: ask.decision.rule,
        reason: ask.decision.reason,
        deadline: new Date(Date.now() + waitMs).toISOString(),
      };
      await this.bus.publish(topicFor('approvalsRequest'), request);
      await this.bus.publish(pendingTopic, request, { retain: true });
      ask.progress(`waiting for approval ${approvalId}: sheri approve ${approvalId} (or deny)`);
      const result = await answer;
      ask.progress(`${result.approved ? 'approved' : 'not approved'}: ${result.reason}`);
      return result;
    } catch (error) {
      this.logger.warn({ err: error, approvalId }, 'could not ask for approval');
      return { approved: false, reason: `could not ask: ${(error as Error).message}` };
    } finally {
      clearTimeout(timer);
      ask.signal.removeEventListener('abort', onAbort);
      this.waiting.delete(topic);
      void this.bus.unsubscribe([topic]).catch(() => undefined);
      void this.bus.publishRaw(pendingTopic, '', { retain: true }).catch(() => undefined);
    }
  }
}
