import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import type { Config } from '../config/load.js';
import { EXIT, SheriError } from '../errors.js';
import { ApprovalDecision, ErrorReport } from '../protocol/messages.js';
import { approvalDecisionLocal, TOPIC } from '../protocol/topics.js';
import type { Bus } from '../transport/bus.js';
import { trusted } from './hub-client.js';
import { addSwarmOptions, connectCli, makeConfig, makeLogger, type GlobalFlags } from './common.js';

interface DecisionFlags extends GlobalFlags {
  reason?: string;
}

const APPROVAL_ID = /^[^\s/+#]{1,128}$/;

/** `sheri approve ID` and `sheri deny ID`: answer an agent's approval request (PROTOCOL §13). */
export function registerApprovalCommands(program: Command): void {
  for (const [name, approved] of [
    ['approve', true],
    ['deny', false],
  ] as const) {
    addSwarmOptions(
      program
        .command(name)
        .description(
          approved
            ? 'let a command that asked for approval run'
            : 'refuse a command that asked for approval',
        )
        .argument(
          '<approval-id>',
          'the approval_id of the request (mosquitto_sub -t "<swarm>/approvals/request")',
        )
        .option('--reason <text>', 'why, for the task history'),
    ).action(async (approvalId: string, flags: DecisionFlags) => {
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
    });
  }
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
        reject(new SheriError(`the hub refused the answer: ${report.payload.reason}`, EXIT.usage));
      }
    });
  });
  await bus.subscribe({ [decisionTopic]: 1, [TOPIC.errors]: 1 });
  const answer = { approval_id: approvalId, approved, ...(reason ? { reason } : {}) };
  await bus.publish(TOPIC.approvalsAnswer, answer, { id: messageId });
  await outcome;
}
