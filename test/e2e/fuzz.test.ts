import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { hubSubscriptions } from '../../src/tasks/hub-handlers.js';
import { BusRecorder } from '../helpers/bus-recorder.js';
import type { TestIdentity } from '../helpers/identities.js';
import { waitForComplete } from '../helpers/scenarios.js';
import { TestSwarm } from '../helpers/swarm.js';

const RUNS = 10_000;
const OPERATOR: TestIdentity = { kind: 'operator' };
const AGENT: TestIdentity = { kind: 'agent', name: 'fuzz-agent', role: 'testing' };
const HUB: TestIdentity = { kind: 'hub' };

/**
 * Issue 9's "must show" 5: 10,000 random and mutated messages on every topic the hub and the
 * agents read. Each is bad by construction — no valid signature, a valid one over a payload its
 * topic's schema refuses or from a sender who may not publish there, out of date, too large or
 * too deep — and carries a unique tag in its first bytes, so its one report can be found.
 */
describe('fuzzing the hub and the agents', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  it('survives 10,000 random and mutated messages on every topic they read, reporting each bad one once', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    swarm = new TestSwarm();
    // Open, so that every message reaches the decoders (the embedded broker would refuse most).
    await swarm.startBroker({ open: true, inMemory: true });
    const hub = await swarm.startHub({ maxPayloadBytes: 64 * 1024 });
    const agent = await swarm.startAgent('testing', { maxPayloadBytes: 64 * 1024 });
    const recorder = await BusRecorder.start(swarm.brokerUrl, swarm.swarm, 'errors');
    swarm.onClose(() => recorder.close());

    // The topics: the hub's subscriptions, wildcards made concrete, and the agent's own.
    const topics = [
      ...Object.keys(hubSubscriptions()).map((filter) => filter.replace('+', 'fuzz-agent')),
      `tasks/assigned/${agent.agentId}`,
    ];
    const valid = (topic: string, tag: string, payload: unknown, from: TestIdentity): string => {
      const [agentId, role] =
        from.kind === 'agent'
          ? [from.name, from.role]
          : [from.kind === 'hub' ? 'hub' : 'operator', from.kind];
      const body = JSON.stringify({
        id: tag,
        timestamp: new Date().toISOString(),
        agent_id: agentId,
        role,
        payload,
      });
      const recipient = from.kind === 'hub' ? { name: agent.agentId, role: 'testing' } : undefined;
      return swarm.sign(from, topic, body, recipient);
    };
    const senderFor = (topic: string): TestIdentity =>
      topic.startsWith('tasks/new') || topic.startsWith('hub/query') || topic === 'approvals/answer'
        ? OPERATOR
        : topic.startsWith('tasks/assigned') || topic === 'hub/status'
          ? HUB
          : AGENT;
    // A payload no topic's schema takes: none of them is an array of numbers.
    const notAPayload = fc.oneof(
      fc.array(fc.integer(), { minLength: 1 }),
      fc.constant(null),
      fc.integer(),
      fc.record({ task_id: fc.integer(), attempt: fc.string(), free: fc.constant(-1) }),
    );

    type Make = (tag: string, topic: string) => string;
    const message: fc.Arbitrary<Make> = fc.oneof(
      // Random bytes and text behind the tag: no signature at all.
      fc
        .uint8Array({ maxLength: 400 })
        .map((bytes) => (tag: string) => `${tag}${Buffer.from(bytes).toString('latin1')}`),
      fc.string({ maxLength: 300 }).map((text) => (tag: string) => `${tag} ${text}`),
      // Random JSON envelopes, unsigned.
      fc.jsonValue({ maxDepth: 4 }).map(
        (payload) => (tag: string) =>
          JSON.stringify({
            id: tag,
            timestamp: new Date().toISOString(),
            agent_id: 'x',
            payload,
          }),
      ),
      // A validly signed message, then one byte changed past its tag, or cut short.
      fc
        .tuple(fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean())
        .map(([at, xor, cut]) => (tag: string, topic: string) => {
          const bytes = Buffer.from(
            valid(topic, tag, { task_id: tag, attempt: 1, free: 1 }, senderFor(topic)),
          );
          const i = 60 + (at % (bytes.length - 60));
          if (cut) return bytes.subarray(0, i).toString('latin1');
          bytes[i] = bytes[i]! ^ xor;
          return bytes.toString('latin1');
        }),
      // Validly signed by the right sender, over a payload the topic's schema refuses.
      notAPayload.map(
        (payload) => (tag: string, topic: string) => valid(topic, tag, payload, senderFor(topic)),
      ),
      // Validly signed by a sender who may not publish there (an agent on the hub's topics, …).
      fc.constant((tag: string, topic: string) =>
        valid(topic, tag, { task_id: tag }, senderFor(topic) === AGENT ? OPERATOR : AGENT),
      ),
      // Validly signed, from ten minutes ago (retained topics check only signatures).
      fc.constant((tag: string, topic: string) => {
        const body = JSON.parse(
          valid(topic, tag, [1], senderFor(topic)).replace(/,"sig":.*$/, '}'),
        ) as Record<string, unknown>;
        body.timestamp = new Date(Date.now() - 600_000).toISOString();
        return swarm.sign(
          senderFor(topic),
          topic,
          JSON.stringify(body),
          senderFor(topic) === HUB ? { name: agent.agentId, role: 'testing' } : undefined,
        );
      }),
      // Too large, too deep.
      fc.constant((tag: string) => `${tag}${'x'.repeat(70 * 1024)}`),
      fc
        .integer({ min: 70, max: 500 })
        .map(
          (depth) => (tag: string, topic: string) =>
            valid(
              topic,
              tag,
              JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`),
              senderFor(topic),
            ),
        ),
    );

    const sent: { tag: string; topic: string }[] = [];
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...topics), message, async (topic, make) => {
        const tag = `fz${n++}x`;
        sent.push({ tag, topic });
        await recorder.publish(topic, Buffer.from(make(tag, topic), 'latin1'));
      }),
      { numRuns: RUNS },
    );
    expect(sent).toHaveLength(RUNS);

    // The tag a report is about: its message id, else the first in its sample (each message
    // starts with its tag; a mutation may have made another tag-like string further on).
    const tagsOf = (m: { payload: Record<string, unknown> }): string[] => {
      const id = /^fz\d+x$/.exec(String(m.payload.message_id ?? ''))?.[0];
      const first = /fz\d+x/.exec(String(m.payload.sample ?? ''))?.[0];
      const tag = id ?? first;
      return tag ? [tag] : [];
    };
    const reported = (): Map<string, number> => {
      const counts = new Map<string, number>();
      for (const report of recorder.on('errors')) {
        for (const tag of tagsOf(report)) counts.set(tag, (counts.get(tag) ?? 0) + 1);
      }
      return counts;
    };
    await recorder.waitFor(
      () => reported().size >= RUNS,
      120_000,
      () => `${reported().size}/${RUNS} reported`,
    );
    const counts = reported();
    expect(sent.filter(({ tag }) => !counts.has(tag))).toEqual([]);
    expect([...counts].filter(([, times]) => times !== 1)).toEqual([]);
    expect(recorder.on('errors')).toHaveLength(RUNS);
    const codes = new Set(recorder.on('errors').map((m) => String(m.payload.code)));
    expect([...codes].sort()).toEqual(
      expect.arrayContaining([
        'BAD_SIGNATURE',
        'NOT_AUTHORIZED',
        'SCHEMA_INVALID',
        'STALE',
        'TOO_DEEP',
        'TOO_LARGE',
      ]),
    );
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
    expect(hub.ledger.counts()).toMatchObject({ queued: 0, assigned: 0, complete: 0, dead: 0 });

    // Still serving.
    await swarm.submit([swarm.taskAppending('after-fuzz', 'testing.run')]);
    await waitForComplete(hub, 1, 20_000);
  }, 300_000);
});
