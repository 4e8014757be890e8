import type { Keyring } from '../auth/keyring.js';
import { agentKeyrings } from '../auth/load-keyring.js';
import type { Config } from '../config/load.js';
import type { SheriError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { Agent } from './agent.js';
import type { AgentSurroundings } from './agent-setup.js';

/** Agents connecting at once, at most: enough to be quick, few enough not to flood the broker. */
const START_WAVE = 50;

export interface ReplicaOptions {
  config: Config;
  role: string;
  /** How many agents. */
  count: number;
  /** Tasks each runs at once. */
  concurrency: number;
  /** Replica i (from 1) is `<prefix>-<i>`; one replica alone is `<prefix>`. */
  prefix: string;
  surroundings: AgentSurroundings;
  logger: Logger;
  version?: string;
  /** Each agent's keys; default: derived from the data directory's credential store. */
  keyringFor?: (name: string, role: string) => Keyring;
}

/** `<prefix>-1` … `<prefix>-N`, or `<prefix>` when there is one. */
export function replicaIds(prefix: string, count: number): string[] {
  if (count === 1) return [prefix];
  return Array.from({ length: count }, (_, i) => `${prefix}-${i + 1}`);
}

/**
 * N agents in one process (`sheri agent --replicas N`, `sheri up --agents testing=500`): each
 * its own MQTT client, id, identity, capacity and lease — to the hub, N agents — sharing one
 * config, logger, sandbox and credential store, so an idle one costs little more than its
 * connection. Started in waves; if one cannot start, those started are stopped and the error
 * is raised.
 */
export async function startReplicas(
  options: ReplicaOptions,
  signal?: AbortSignal,
): Promise<Agent[]> {
  const { config, role, count, concurrency, surroundings, logger } = options;
  const keyringFor = options.keyringFor ?? agentKeyrings(config);
  const ids = replicaIds(options.prefix, count);
  const agents: Agent[] = [];
  try {
    for (let from = 0; from < ids.length; from += START_WAVE) {
      const wave = ids.slice(from, from + START_WAVE);
      const started = await Promise.allSettled(
        // async: a keyring that cannot be made fails this replica, not the loop around it.
        wave.map(async (agentId) =>
          Agent.start(
            {
              config,
              role,
              agentId,
              concurrency,
              surroundings,
              logger: logger.child({ agentId }),
              keyring: keyringFor(agentId, role),
              ...(options.version ? { version: options.version } : {}),
            },
            signal,
          ),
        ),
      );
      for (const result of started) if (result.status === 'fulfilled') agents.push(result.value);
      const failed = started.find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;
    }
  } catch (error) {
    await stopReplicas(agents, 'another replica could not start');
    throw error;
  }
  return agents;
}

/**
 * Each agent whose login the broker refuses once it has joined (its credential revoked or
 * rotated: it will not be let in again, and mqtt.js does not try) is stopped, and said so.
 * Settles, with the refusal, once that has happened to every one of them.
 */
export function leaveWhenRefused(agents: readonly Agent[], logger: Logger): Promise<SheriError> {
  return new Promise((resolve) => {
    let left = agents.length;
    for (const agent of agents) {
      void agent.bus.loginRefused().then(async (error) => {
        if (--left === 0) return resolve(error);
        logger.error(
          { agentId: agent.agentId },
          `${error.message}; ${agent.agentId} leaves, the other agents of this process stay`,
        );
        await agent.stop('the broker refused its login');
      });
    }
  });
}

/** Stop them all at once: each hands back what it runs and says goodbye (Agent.stop). */
export async function stopReplicas(agents: readonly Agent[], reason: string): Promise<void> {
  await Promise.all(agents.map((agent) => agent.stop(reason)));
}
