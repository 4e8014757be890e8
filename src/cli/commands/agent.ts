import type { Command } from 'commander';
import type { runAgent as RunAgent } from '../agent.js';
import { lazyAction } from './lazy-action.js';
import { addLlmOptions, LLM_HELP } from './llm-options.js';
import { MAX_CONCURRENCY } from '../../protocol/limits.js';
import { addSwarmOptions, parseIntInRange, parsePositiveInt } from './options.js';

/** --sandbox, shared by `agent` and `up`. */
export const SANDBOX_OPTION_HELP =
  'where commands run: auto (bubblewrap where it works, else none, said plainly), required (refuse to start without bubblewrap), none (env SHERI_SANDBOX; default auto)';

export function addAgentOptions(command: Command): Command {
  return addLlmOptions(command)
    .option(
      '--role <role>',
      'what this agent does (required, unless its --credentials name it): general, deployment, testing, review, security, monitoring, documentation, database, or one from your config (sheri roles)',
    )
    .option('--agent-id <id>', 'unique id in the swarm (default <role>-<6 random hex>)')
    .option(
      '--concurrency <n>',
      `tasks run at once (1 to ${MAX_CONCURRENCY})`,
      parseIntInRange('--concurrency', 1, MAX_CONCURRENCY),
      1,
    )
    .option(
      '--replicas <n>',
      'run N agents in this process, each its own connection, id (<agent-id>-1 …) and capacity',
      parsePositiveInt('--replicas'),
      1,
    )
    .option('--workspace <dir>', 'directory tasks run in (default: the current directory)')
    .option('--sandbox <mode>', SANDBOX_OPTION_HELP);
}

export function defineAgentCommand(program: Command): void {
  addSwarmOptions(
    addAgentOptions(
      program
        .command('agent')
        .description(
          'run one agent: join the swarm with a role and run the tasks the hub grants it',
        ),
    ).addHelpText(
      'after',
      `
The agent registers, heartbeats every 10 s, asks the hub for tasks its role can run, and reports
progress and outcome on <swarm>/tasks/*. Ctrl-C hands running tasks back and leaves cleanly.
Each command runs in a bubblewrap sandbox (docs/SANDBOX.md): the workspace read-write (read-only
for review, security, monitoring), the system read-only, $HOME, sheri's own files and the network
(but for deployment, monitoring, security) out of reach, limits on memory, processes, file size.

Examples:
  sheri agent --role testing
  sheri agent --role deployment --broker mqtt://broker.local:1883 --swarm prod --concurrency 2
  sheri agent --role review --model claude-opus-5-5 --max-cost 1
  sheri agent --role testing --replicas 200      (200 agents testing-<hex>-1 … -200, one process)
  sheri --mqtt --role deployment          (the original form, same thing)
${LLM_HELP}`,
    ),
  ).action(lazyAction(loadRunAgent));
}

/** The agent's implementation, imported once the agent's V8 settings are in place (agent-heap.ts). */
export async function loadRunAgent(): Promise<typeof RunAgent> {
  (await import('../agent-heap.js')).leanAgentHeap();
  return (await import('../agent.js')).runAgent;
}
