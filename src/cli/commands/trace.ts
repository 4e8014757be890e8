import type { Command } from 'commander';
import { lazyAction } from './lazy-action.js';
import { addSwarmOptions } from './options.js';

export function defineTraceCommand(program: Command): void {
  addSwarmOptions(
    program
      .command('trace')
      .description("print the swarm's messages as they happen, one readable line each")
      .option(
        '--filter <topic>',
        'only topics under the swarm matching this MQTT filter, e.g. "tasks/#" (repeatable; default "#")',
        // No default value: commander would print "(default: [])" after ours.
        (value: string, previous: string[] = []) => [...previous, value],
      )
      .option('--raw', 'print each message as one JSON line: {time, topic, retained, message}')
      .addHelpText(
        'after',
        `
Each line: local time, topic (without "<swarm>/"), sender, a summary of the payload.
A message that does not decode is shown as "unreadable" with the reason; trace goes on.

Examples:
  sheri trace
  sheri trace --filter 'tasks/#' --filter approvals/request
  sheri trace --raw | jq .message.payload`,
      ),
  ).action(lazyAction(async () => (await import('../trace.js')).runTrace));
}
