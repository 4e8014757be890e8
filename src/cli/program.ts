import { Command } from 'commander';
import { EXIT, SheriError } from '../errors.js';
import { prepareCommands } from './command-line.js';
import { addAgentOptions, defineAgentCommand, loadRunAgent } from './commands/agent.js';
import { defineApprovalCommands } from './commands/approvals.js';
import { defineCredentialsCommands } from './commands/credentials.js';
import { defineDemoCommand } from './commands/demo.js';
import { defineFlowCommands } from './commands/flow.js';
import { defineMonitorCommand } from './commands/monitor.js';
import { addSwarmOptions } from './commands/options.js';
import { defineQueryCommands } from './commands/queries.js';
import { defineServeCommands } from './commands/serve.js';
import { defineSwarmCommands } from './commands/swarm.js';
import { defineTaskSubmit } from './commands/task-submit.js';
import { defineTraceCommand } from './commands/trace.js';
import { defineTypeCommands } from './commands/task-types.js';
import type { AgentFlags } from './agent.js';

// The program is built from the definitions of src/cli/commands/ alone, which import no command's
// implementation: each is imported by its action, when its command runs (issue 10: `--help`
// costs commander and these files, not zod, mqtt, pino or SQLite). test/cli/lazy-commands.test.ts
// fails if one of them imports more.
export function buildProgram(version: string): Command {
  const program = new Command('sheri')
    .version(version)
    .description(
      'An agent swarm over MQTT: agents with roles claim tasks through a hub and run them, reporting every step on <swarm>/#.',
    )
    // Root options only before a sub-command, so `sheri agent --broker …` means the agent's flag.
    .enablePositionalOptions()
    .option('--mqtt', 'run an agent (the original form: sheri --mqtt --role deployment)');
  addSwarmOptions(addAgentOptions(program)).action(
    async (flags: AgentFlags & { mqtt?: boolean }) => {
      if (!flags.mqtt) {
        refuseAgentOptions(program);
        program.help();
      }
      const runAgent = await loadRunAgent();
      await runAgent(flags);
    },
  );
  program.addHelpText(
    'after',
    `
Start here:
  sheri demo                                 a deploy flow across four roles, start to finish
  sheri up --agents testing=2,deployment     embedded broker + hub + 3 agents
  sheri flow run examples/deploy-flow.yaml --wait
  sheri task submit --type testing.run --command "npm test" --wait
  sheri tasks · sheri agents · sheri approvals · sheri trace · sheri monitor
  sheri types · sheri roles                  what can run, and who runs it

Exit codes: 0 ok, 1 task dead, 2 usage, 3 broker or hub unreachable (or the login refused),
4 bad config, 5 data directory unusable (read-only, full, or in use by another sheri), 70 a bug.`,
  );
  defineServeCommands(program);
  defineAgentCommand(program);
  const task = program.command('task').description('submit and inspect tasks');
  defineTaskSubmit(task);
  defineQueryCommands(program, task);
  defineApprovalCommands(program);
  defineTypeCommands(program);
  defineTraceCommand(program);
  defineMonitorCommand(program);
  defineSwarmCommands(program);
  defineCredentialsCommands(program);
  defineFlowCommands(program);
  defineDemoCommand(program);
  // Last, so that every command above — and any added later — shares the one error path.
  return prepareCommands(program);
}

/** `sheri --role testing` without --mqtt: an agent was meant, and nothing would have started. */
function refuseAgentOptions(program: Command): void {
  const values = program.opts<Record<string, unknown>>();
  const given = program.options
    .filter((option) => option.attributeName() !== 'mqtt')
    .filter((option) => program.getOptionValueSource(option.attributeName()) === 'cli')
    .map((option) => {
      const value = values[option.attributeName()];
      return typeof value === 'string' ? `${option.long} ${value}` : (option.long ?? option.flags);
    });
  if (given.length === 0) return;
  const words = given.join(' ');
  throw new SheriError(
    `"sheri ${words}" starts nothing without --mqtt: run an agent with sheri --mqtt ${words} (the original form) or sheri agent ${words}`,
    EXIT.usage,
  );
}
