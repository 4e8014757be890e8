import type { LlmServices } from '../executors/llm-executor.js';
import { createProvider } from '../llm/create-provider.js';
import { buildSystemPrompt, loadProfile } from '../llm/profiles.js';
import { resolveLlmSettings } from '../llm/settings.js';
import type { TokenCounts } from '../llm/types.js';
import { resolveMcpRole } from '../tools/mcp/mcp-config.js';
import type { Bus } from '../transport/bus.js';
import type { AgentOptions } from './agent.js';
import { Delegations } from './delegation.js';

/** Bytes kept for the envelope around an event's payload. */
const EVENT_ENVELOPE_ROOM = 4_096;

/**
 * What an agent lends its prompt tasks: the role's provider and settings, its profile as the
 * system prompt, events and delegation over the bus. Undefined when the role has no provider;
 * throws (SheriError) when its settings are wrong, e.g. --llm anthropic without a key.
 */
export async function createLlmServices(
  options: AgentOptions,
  bus: Bus,
  onUsage: (tokens: TokenCounts, costUsd: number, taskId: string) => void,
): Promise<{ services: LlmServices; delegations: Delegations } | undefined> {
  const { config, role, agentId, logger } = options;
  const { workspace } = options.surroundings;
  const settings = resolveLlmSettings(config.llm, role);
  const provider = await createProvider(settings);
  if (!provider) return undefined;
  const delegations = new Delegations(bus, config, settings.delegateTimeoutMs, logger, agentId);
  const profile = loadProfile(role, config.profilesDir);
  const mcp = resolveMcpRole(config.mcp, role);
  const services: LlmServices = {
    provider,
    settings,
    prices: config.llm.prices,
    ...(mcp ? { mcp } : {}),
    systemPrompt: (canDelegate) =>
      buildSystemPrompt(profile, {
        agentId,
        role,
        swarm: config.swarm,
        workspace,
        taskTypes: config.taskTypes,
        canDelegate,
      }),
    publishEvent: async (topic, payload) => {
      // An oversized message would be refused by the broker and cost the agent its connection.
      const size = Buffer.byteLength(JSON.stringify(payload));
      const limit = config.maxPayloadBytes - EVENT_ENVELOPE_ROOM;
      if (size > limit) throw new Error(`the event is ${size} bytes; the limit is ${limit}`);
      await bus.publish(topic, payload, { type: 'event' });
    },
    delegate: (parent, request, signal) => delegations.delegate(parent, request, signal),
    onUsage,
  };
  return { services, delegations };
}
