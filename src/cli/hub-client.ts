import { randomUUID } from 'node:crypto';
import type { Config } from '../config/load.js';
import { EXIT, SheriError } from '../errors.js';
import { HubReply, HubStatus, type HubQuery } from '../protocol/messages.js';
import { hubReplyTopic, localTopic, TOPIC } from '../protocol/topics.js';
import { MAX_REPLY_BYTES, type Bus } from '../transport/bus.js';

/** Signing on, a reader trusts only what the hub signed (PROTOCOL §15.4); a forgery is ignored. */
export function trusted(
  bus: Bus,
  message: { verified: boolean; sender: { kind: string } },
): boolean {
  if (!bus.security?.signing) return true;
  return message.verified && message.sender.kind === 'hub';
}

/** Ask the hub over the bus (request/reply on MQTT 3.1.1: a reply topic of our own). */
export async function queryHub(
  bus: Bus,
  config: Config,
  query: Omit<HubQuery, 'query_id' | 'reply_to'>,
): Promise<unknown> {
  const queryId = randomUUID();
  const replyTopic = hubReplyTopic(config.swarm, bus.client.options.clientId ?? randomUUID());
  const local = localTopic(config.swarm, replyTopic)!;
  const reply = new Promise<HubReply>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new SheriError(
            `no hub answered on swarm "${config.swarm}" at ${config.broker} within ${config.queryTimeoutMs / 1000} s — start one with \`sheri up\` (broker + hub) or \`sheri hub\``,
            EXIT.unavailable,
          ),
        ),
      config.queryTimeoutMs,
    );
    bus.onMessage((topic, bytes) => {
      if (topic !== local) return;
      const decoded = bus.decode(topic, bytes, HubReply, { maxBytes: MAX_REPLY_BYTES });
      if (!decoded || decoded.payload.query_id !== queryId || !trusted(bus, decoded)) return;
      clearTimeout(timer);
      resolve(decoded.payload);
    });
  });
  await bus.subscribe({ [local]: 0 });
  await bus.publish(
    TOPIC.hubQuery,
    { ...query, query_id: queryId, reply_to: replyTopic },
    { qos: 0 },
  );
  const answer = await reply;
  if (!answer.ok) throw new SheriError(answer.error ?? 'the hub refused the query', EXIT.usage);
  return answer.data;
}

/**
 * The hub's retained status: "online", "offline" (its tasks wait in its persistent session), or
 * undefined when no hub has ever run on this swarm and broker.
 */
export async function readHubStatus(bus: Bus, waitMs = 1_500): Promise<HubStatus | undefined> {
  const status = new Promise<HubStatus | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), waitMs);
    bus.onMessage((topic, bytes) => {
      if (topic !== TOPIC.hubStatus) return;
      const decoded = bus.decode(topic, bytes, HubStatus);
      // A forged status (signing on, an open broker) must not tell the submitter anything.
      if (!decoded || !trusted(bus, decoded)) return;
      clearTimeout(timer);
      resolve(decoded.payload);
    });
  });
  // A retained message arrives right after SUBACK, so the wait is short when a hub has run.
  await bus.subscribe({ [TOPIC.hubStatus]: 1 });
  return status;
}
