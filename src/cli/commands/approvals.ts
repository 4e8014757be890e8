import type { Command } from 'commander';
import type { DecisionFlags } from '../approvals.js';
import { lazyAction } from './lazy-action.js';
import { addSwarmOptions } from './options.js';

/**
 * `sheri approvals`: what waits for a person, from the hub that holds the requests; `sheri
 * approve ID` and `sheri deny ID` answer one (PROTOCOL §13).
 */
export function defineApprovalCommands(program: Command): void {
  addSwarmOptions(
    program
      .command('approvals')
      .description('commands waiting for approval: id, task, command, rule, deadline, who asked')
      .option('--json', 'print JSON'),
  ).action(lazyAction(async () => (await import('../approvals.js')).listApprovals));

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
        .argument('<approval-id>', 'the approval_id of the request (sheri approvals lists them)')
        .option('--reason <text>', 'why, for the task history'),
    ).action(
      lazyAction(async () => {
        const { decideApproval } = await import('../approvals.js');
        return (approvalId: string, flags: DecisionFlags) =>
          decideApproval(approvalId, flags, approved);
      }),
    );
  }
}
