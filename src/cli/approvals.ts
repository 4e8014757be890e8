import { randomUUID } from 'node:crypto';
import type { Config } from '../config/load.js';
import { EXIT, SheriError } from '../errors.js';
import { ApprovalDecision, ErrorReport } from '../protocol/messages.js';
import { approvalDecisionLocal, TOPIC } from '../protocol/topics.js';
import type { Bus } from '../transport/bus.js';
import type { WaitingApprovals } from '../protocol/hub-replies.js';
import { queryHub, trusted } from './hub-client.js';
import {
  connectCli,
  makeConfig,
  makeLogger,
  printJson,
  printTable,
  type GlobalFlags,
} from './common.js';

export interface DecisionFlags extends GlobalFlags {
  reason?: string;
}

const APPROVAL_ID = /^[^\s/+#]{1,128}$/;

/** The hub's `approvals` answer (PROTOCOL §10), checked before it is printed. */

/** "4m57s left", or "due" once past. */
function timeLeft(deadline: string, now = Date.now()): string {
  const seconds = Math.round((Date.parse(deadline) - now) / 1000);
  if (!(seconds > 0)) return 'due';
  const minutes = Math.floor(seconds / 60);
  return `${minutes ? `${minutes}m` : ''}${seconds % 60}s left`;
}

/** `sheri approvals`: what waits for a person, from the hub that holds the requests (PROTOCOL §13). */
export async function listApprovals(flags: GlobalFlags): Promise<void> {
  const config = makeConfig(flags);
  const bus = await connectCli(config, makeLogger(flags));
  let reply: WaitingApprovals;
  try {
    reply = await queryHub(bus, config, { kind: 'approvals' });
  } finally {
    await bus.close();
  }
  const { approvals } = reply;
  if (flags.json) return printJson({ approvals });
  if (approvals.length === 0) {
    process.stdout.write('no command is waiting for approval\n');
    return;
  }
  printTable(
    ['APPROVAL', 'TASK', 'ASKED BY', 'COMMAND', 'RULE', 'DEADLINE'],
    approvals.map((a) => [
      a.approval_id,
      `${a.task_id}#${a.attempt}`,
      a.agent_id,
      a.command,
      a.rule,
      timeLeft(a.deadline),
    ]),
  );
  process.stdout.write(`\nanswer with: sheri approve <id> --reason "…", or sheri deny <id>\n`);
}

/** `sheri approve ID` and `sheri deny ID`: answer one request. */
export async function decideApproval(
  approvalId: string,
  flags: DecisionFlags,
  approved: boolean,
): Promise<void> {
  if (!APPROVAL_ID.test(approvalId)) {
    throw new SheriError(`"${approvalId}" is not an approval id (no spaces, "/", "+" or "#")`);
  }
  const config = makeConfig(flags);
  const bus = await connectCli(config, makeLogger(flags));
  try {
    await answerApproval(bus, config, approvalId, approved, flags.reason);
  } finally {
    await bus.close();
  }
  process.stdout.write(`${approved ? 'approved' : 'denied'} ${approvalId}\n`);
}

/**
 * Send an operator's answer to the hub, which checks it and forwards it to the agent (§13), and
 * wait for the hub to do so — or to say why not.
 */
export async function answerApproval(
  bus: Bus,
  config: Config,
  approvalId: string,
  approved: boolean,
  reason?: string,
): Promise<void> {
  const decisionTopic = approvalDecisionLocal(approvalId);
  // Known before publishing, so a refusal that comes back fast is still ours.
  const messageId = randomUUID();
  const outcome = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new SheriError(
            `no hub forwarded the answer within ${config.queryTimeoutMs / 1000} s — is the hub of swarm "${config.swarm}" running?`,
            EXIT.unavailable,
          ),
        ),
      config.queryTimeoutMs,
    );
    bus.onMessage((topic, bytes) => {
      if (topic === decisionTopic) {
        // Signed for the agent, not for us: it only tells us the hub forwarded it.
        const decision = bus.decode(topic, bytes, ApprovalDecision);
        if (decision?.sender.kind !== 'hub' || decision.payload.approval_id !== approvalId) return;
        clearTimeout(timer);
        resolve();
      } else if (topic === TOPIC.errors) {
        const report = bus.decode(topic, bytes, ErrorReport);
        if (!report || report.payload.message_id !== messageId) return;
        if (!trusted(bus, report)) return;
        clearTimeout(timer);
        // Unknown, already answered, expired or moot: the hub says which (approval-desk.ts).
        reject(new SheriError(report.payload.reason, EXIT.usage));
      }
    });
  });
  await bus.subscribe({ [decisionTopic]: 1, [TOPIC.errors]: 1 });
  const answer = { approval_id: approvalId, approved, ...(reason ? { reason } : {}) };
  await bus.publish(TOPIC.approvalsAnswer, answer, { id: messageId });
  await outcome;
}
