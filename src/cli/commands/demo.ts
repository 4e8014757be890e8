import type { Command } from 'commander';
import { lazyAction } from './lazy-action.js';
import { parsePositiveInt } from './options.js';

/** The swarm `sheri demo` runs on unless told another. */
export const DEMO_SWARM = 'sheri-demo';

export function defineDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'the deploy flow of examples/ on a swarm of its own: build, test ∥ scan, deploy, health check, rollback',
    )
    .option('--keep', 'leave the swarm (and the deployed service) up afterwards, until Ctrl-C')
    .option(
      '--port <port>',
      'TCP port of its broker (default: a free one)',
      parsePositiveInt('--port'),
    )
    .option(
      '--tmux',
      'run the agents in tmux panes (default: when tmux is installed and stdout is a terminal)',
    )
    .option('--no-tmux', 'run the agents in this process')
    .option('--swarm <name>', `swarm name (default ${DEMO_SWARM})`)
    .option(
      '--config <file>',
      "config file of the demo's swarm (default: none, whatever the folder holds)",
    )
    .option('--log-level <level>', 'of the log file (its path is printed)', 'info')
    .option('--json', 'print a JSON report instead of the summary')
    .addHelpText(
      'after',
      `
Nothing needs to run before it: it starts the embedded broker, the hub and one agent per role
the flow needs (deployment, testing, security, monitoring; review too when ANTHROPIC_API_KEY is
set, for an LLM review of the code), in a folder of its own under the temp directory, with a
copy of examples/service. Every command runs in its agent's sandbox. On exit or Ctrl-C it
stops them all — the deployed service too — and removes the folder.

Examples:
  npx sheri demo
  npx sheri demo --keep          then, in another terminal, the commands it prints`,
    )
    .action(lazyAction(async () => (await import('../demo.js')).runDemo));
}
