import { randomUUID } from 'node:crypto';
import type { Config } from '../config/load.js';
import { EXIT, SheriError } from '../errors.js';
import { decodeMessage } from '../protocol/codec.js';
import { HubReply, type HubQuery } from '../protocol/messages.js';
import { hubReplyTopic, localTopic, TOPIC } from '../protocol/topics.js';
import type { Bus } from '../transport/bus.js';

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
      const decoded = decodeMessage(bytes, HubReply, Number.MAX_SAFE_INTEGER);
      if (!decoded.ok || decoded.payload.query_id !== queryId) return;
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
