import { randomUUID } from 'node:crypto';
import type { Config } from '../config/load.js';
import { EXIT, SheriError } from '../errors.js';
import { formatIssues } from '../protocol/codec.js';
import { REPLY_DATA, type ReplyData } from '../protocol/hub-replies.js';
import type { HubQuery, HubReply, HubStatus } from '../protocol/messages.js';
import { subscriptionsFor, topicFor } from '../protocol/topic-table.js';
import { buildTopic } from '../protocol/topics.js';
import { MAX_REPLY_BYTES, type Bus } from '../transport/bus.js';
import { TopicRouter } from '../transport/topic-router.js';

/** Signing on, a reader trusts only what the hub signed (PROTOCOL §15.4); a forgery is ignored. */
export function trusted(
  bus: Bus,
  message: { verified: boolean; sender: { kind: string } },
): boolean {
  if (!bus.security?.signing) return true;
  return message.verified && message.sender.kind === 'hub';
}

/**
 * Ask the hub over the bus (request/reply on MQTT 3.1.1: a reply topic of our own) and check
 * its answer against the schema of the query's kind (hub-replies.ts), so the CLI never takes a
 * reply's shape on trust.
 */
export async function queryHub<K extends HubQuery['kind']>(
  bus: Bus,
  config: Config,
  query: Omit<HubQuery, 'query_id' | 'reply_to' | 'kind'> & { kind: K },
): Promise<ReplyData<K>> {
  const queryId = randomUUID();
  const local = topicFor('hubReply', { client: bus.client.options.clientId ?? randomUUID() });
  let answered!: (reply: HubReply) => void;
  const reply = new Promise<HubReply>((resolve) => (answered = resolve));
  const router = new TopicRouter(
    bus,
    {
      hubReply: (message, topic) => {
        if (topic !== local) return;
        if (message.payload.query_id !== queryId || !trusted(bus, message)) return;
        answered(message.payload);
      },
    },
    { decode: { maxBytes: MAX_REPLY_BYTES } },
  );
  bus.onMessage((topic, bytes) => void router.handle(topic, bytes));
  await bus.subscribe({ [local]: 0 });
  await bus.publish(
    topicFor('hubQuery'),
    { ...query, query_id: queryId, reply_to: buildTopic(config.swarm, local) },
    { qos: 0 },
  );
  // The wait starts once the query is out, and nothing of it outlives the call: a subscribe or
  // publish that failed (the bus closed under it) used to leave a timer that, 5 s later,
  // rejected a promise no one awaited, and the CLI ended with "no hub answered" (exit 3).
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new SheriError(
            `no hub answered on swarm "${config.swarm}" at ${config.broker} within ${config.queryTimeoutMs / 1000} s — start one with \`sheri up\` (broker + hub) or \`sheri hub\``,
            EXIT.unavailable,
          ),
        ),
      config.queryTimeoutMs,
    );
  });
  const answer = await Promise.race([reply, timeout]).finally(() => clearTimeout(timer));
  if (!answer.ok) throw new SheriError(answer.error ?? 'the hub refused the query', EXIT.usage);
  const data = REPLY_DATA[query.kind].safeParse(answer.data);
  if (!data.success) {
    throw new SheriError(
      `the hub's answer to a "${query.kind}" query is not what this sheri understands (${formatIssues(data.error, 'data')}); is the hub another version?`,
      EXIT.unavailable,
    );
  }
  // Checked just above by the schema of `K`; TypeScript cannot follow a schema chosen by `K`.
  return data.data as ReplyData<K>;
}

/**
 * The hub's retained status: "online", "offline" (its tasks wait in its persistent session), or
 * undefined when no hub has ever run on this swarm and broker.
 */
export async function readHubStatus(bus: Bus, waitMs = 1_500): Promise<HubStatus | undefined> {
  let settle!: (status: HubStatus | undefined) => void;
  let timer: NodeJS.Timeout | undefined;
  let settled = false;
  const status = new Promise<HubStatus | undefined>((resolve) => {
    settle = (value) => {
      settled = true;
      clearTimeout(timer);
      resolve(value);
    };
  });
  const router = new TopicRouter(bus, {
    hubStatus: (message) => {
      // A forged status (signing on, an open broker) must not tell the submitter anything.
      if (!trusted(bus, message)) return;
      settle(message.payload);
    },
  });
  bus.onMessage((topic, bytes) => void router.handle(topic, bytes));
  // A retained message arrives right after SUBACK, so the wait counts from there: a CLI slowed
  // by a loaded machine could otherwise spend the whole wait before its SUBACK and say that no
  // hub ever ran.
  await bus.subscribe(subscriptionsFor('operator', ['hubStatus']));
  if (!settled) timer = setTimeout(() => settle(undefined), waitMs);
  return status;
}
