import { Command } from 'commander';
import { addAgentOptions, registerAgentCommand, runAgent, type AgentFlags } from './agent.js';
import { registerApprovalCommands } from './approvals.js';
import { registerCredentialsCommands } from './credentials.js';
import { addSwarmOptions } from './common.js';
import { registerMonitorCommand } from './monitor.js';
import { registerQueryCommands } from './queries.js';
import { registerServeCommands } from './serve.js';
import { registerSwarmCommands } from './swarm.js';
import { registerTaskSubmit } from './task-submit.js';
import { registerTraceCommand } from './trace.js';
import { registerFlowCommands } from './flow.js';
import { registerDemoCommand } from './demo.js';

export function buildProgram(version: string): Command {
  const program = new Command('sheri')
    .version(version)
    .description(
      'An agent swarm over MQTT: agents with roles claim tasks through a hub and run them, reporting every step on <swarm>/#.',
    )
    // Root options only before a sub-command, so `sheri agent --broker …` means the agent's flag.
    .enablePositionalOptions()
    .showHelpAfterError('(run with --help for usage)')
    .option('--mqtt', 'run an agent (the original form: sheri --mqtt --role deployment)');
  addSwarmOptions(addAgentOptions(program)).action(
    async (flags: AgentFlags & { mqtt?: boolean }) => {
      if (!flags.mqtt) {
        program.help();
        return;
      }
      await runAgent(flags);
    },
  );
  program.addHelpText(
    'after',
    `
Start here:
  sheri up --agents testing=2,deployment     embedded broker + hub + 3 agents
  sheri task submit --type testing.run --command "npm test" --wait
  sheri tasks · sheri agents · sheri trace · sheri monitor`,
  );
  registerServeCommands(program);
  registerAgentCommand(program);
  const task = program.command('task').description('submit and inspect tasks');
  registerTaskSubmit(task);
  registerQueryCommands(program, task);
  registerApprovalCommands(program);
  registerTraceCommand(program);
  registerMonitorCommand(program);
  registerSwarmCommands(program);
  registerCredentialsCommands(program);
  registerFlowCommands(program);
  registerDemoCommand(program);
  return program;
}
