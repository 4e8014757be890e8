import type { Agent } from '../agent/agent.js';
import { EXIT, SheriError } from '../errors.js';
import { resolveLlmSettings } from '../llm/settings.js';
import { knownRoles } from '../protocol/task-types.js';
import { prepareSurroundings } from '../agent/agent-setup.js';
import { credentialIdentity } from '../auth/load-keyring.js';
import { didYouMean } from './suggest.js';
import { makeConfig, makeLogger, shortId, untilSignal, type GlobalFlags } from './common.js';

export interface AgentFlags extends GlobalFlags {
  role?: string;
  agentId?: string;
  concurrency?: number;
  replicas?: number;
  workspace?: string;
}

/** Agents one `--replicas` may start in a process (PROTOCOL §3.8: a thousand on one machine). */
export const MAX_REPLICAS = 5_000;

export async function runAgent(flags: AgentFlags): Promise<void> {
  const config = makeConfig(flags);
  // A credential file names the agent and fixes its role (PROTOCOL §15.2).
  const credential = credentialIdentity(config);
  if (credential && credential.kind !== 'agent') {
    throw new SheriError(
      `${config.credentialsFile} is the credential of ${credential.kind} "${credential.name}", not of an agent`,
      EXIT.usage,
    );
  }
  const roles = knownRoles(config.taskTypes);
  const role = flags.role ?? credential?.role;
  // What an agent does is the user's choice, not a silent default (SPEC §1: --role R).
  if (role === undefined) {
    throw new SheriError(
      `an agent needs a role: --role ${roles.join('|')} (e.g. sheri agent --role testing; sheri roles says what each runs)`,
      EXIT.usage,
    );
  }
  if (!roles.includes(role)) {
    throw new SheriError(
      `unknown role "${role}"${didYouMean(role, roles)}; roles are ${roles.join(', ')} (add more under "taskTypes" in sheri.config.json)`,
      EXIT.usage,
    );
  }
  const replicas = flags.replicas ?? 1;
  if (replicas < 1 || replicas > MAX_REPLICAS) {
    throw new SheriError(`--replicas must be 1 to ${MAX_REPLICAS}, got ${replicas}`, EXIT.usage);
  }
  // A wrong LLM setting is a mistake to report now, not after a broker answers.
  resolveLlmSettings(config.llm, role);
  const agentId = flags.agentId ?? credential?.name ?? `${role}-${shortId()}`;
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(agentId)) {
    throw new SheriError(
      `--agent-id "${agentId}" must be 1-100 letters, digits, ".", "_" or "-"`,
      EXIT.usage,
    );
  }
  const root = makeLogger(flags);
  const logger = root.child({ agentId });
  const surroundings = prepareSurroundings({
    config,
    role,
    workspace: flags.workspace ?? process.cwd(),
    dataDir: config.dataDir,
  });
  logger.info(`connecting to ${config.broker} (swarm ${config.swarm})`);
  const stop = untilSignal();
  const abort = new AbortController();
  void stop.then(() => abort.abort());
  const { leaveWhenRefused, startReplicas, stopReplicas } = await import('../agent/replicas.js');
  const { Agent } = await import('../agent/agent.js');
  let agents: Agent[];
  try {
    agents =
      replicas === 1
        ? [
            await Agent.start(
              {
                config,
                role,
                agentId,
                concurrency: flags.concurrency ?? 1,
                surroundings,
                logger,
              },
              abort.signal,
            ),
          ]
        : await startReplicas(
            {
              config,
              role,
              count: replicas,
              concurrency: flags.concurrency ?? 1,
              prefix: agentId,
              surroundings,
              logger: root,
            },
            abort.signal,
          );
  } catch (error) {
    if (abort.signal.aborted) return; // stopped before a broker ever answered
    throw error;
  }
  if (replicas > 1) logger.info(`${replicas} agents ${agentId}-1 … ${agentId}-${replicas} joined`);
  const refused = leaveWhenRefused(agents, root);
  const ended = await Promise.race([stop, refused]);
  if (ended instanceof SheriError) {
    await stopReplicas(agents, 'the broker refused our login');
    await surroundings.sandbox.close();
    throw ended;
  }
  await stopReplicas(agents, `received ${ended}`);
  await surroundings.sandbox.close();
}
