import type { Command } from 'commander';
import { SheriError } from '../errors.js';
import { approvalDecisionLocal } from '../protocol/topics.js';
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
        await bus.publish(approvalDecisionLocal(approvalId), {
          approval_id: approvalId,
          approved,
          ...(flags.reason ? { reason: flags.reason } : {}),
        });
      } finally {
        await bus.close();
      }
      process.stdout.write(`${approved ? 'approved' : 'denied'} ${approvalId}\n`);
    });
  }
}
