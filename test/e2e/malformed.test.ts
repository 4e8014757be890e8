import { afterEach, describe, expect, it } from 'vitest';
import { BusRecorder } from '../helpers/bus-recorder.js';
import type { TestIdentity } from '../helpers/identities.js';
import { waitForComplete } from '../helpers/scenarios.js';
import { TestSwarm } from '../helpers/swarm.js';

const now = (): string => new Date().toISOString();
const OPERATOR: TestIdentity = { kind: 'operator' };
const FUZZER: TestIdentity = { kind: 'agent', name: 'fuzzer', role: 'testing' };

/** An envelope in the sender's own name, as its credential says (PROTOCOL §15.3). */
function envelope(id: string, payload: unknown, from: TestIdentity): string {
  const [agentId, role] = from.kind === 'agent' ? [from.name, from.role] : ['operator', 'operator'];
  return JSON.stringify({ id, timestamp: now(), agent_id: agentId, role, payload });
}

interface Kind {
  topic: (agent: string) => string;
  make: (tag: string) => string;
  /** Signed by whom; none: sent as is (garbage has no signature). */
  signer?: TestIdentity;
}

/** One malformed message of each kind, tagged `bad-<n>` so its error report can be found. */
const KINDS: Kind[] = [
  { topic: () => 'tasks/new', make: (tag) => `${tag} {not json` },
  {
    topic: () => 'tasks/new',
    make: (tag) => envelope(tag, { task_id: 42, type: 'testing.run' }, OPERATOR),
    signer: OPERATOR,
  },
  {
    topic: () => 'tasks/new',
    make: (tag) => envelope(tag, { type: 'testing.run', payload: {} }, OPERATOR),
    signer: OPERATOR,
  },
  {
    topic: () => 'tasks/new',
    make: (tag) => envelope(tag, { task_id: tag, type: 'no.such.type' }, OPERATOR),
    signer: OPERATOR,
  },
  {
    topic: () => 'tasks/new',
    make: (tag) =>
      envelope(tag, { task_id: tag, type: 'testing.run', commands: 'rm -rf /' }, OPERATOR),
    signer: OPERATOR,
  },
  {
    topic: () => 'tasks/new',
    make: (tag) => envelope(tag, { task_id: `${tag}/x`, type: 'testing.run' }, OPERATOR),
    signer: OPERATOR,
  },
  {
    topic: () => 'tasks/new',
    make: (tag) => JSON.stringify({ id: tag, payload: { task_id: tag, type: 'testing.run' } }),
    signer: OPERATOR,
  },
  { topic: () => 'tasks/new', make: (tag) => JSON.stringify([tag, 1, 2]), signer: OPERATOR },
  {
    topic: () => 'tasks/new',
    make: (tag) =>
      envelope(tag, { task_id: tag, type: 'testing.run', priority: 'urgent' }, OPERATOR),
    signer: OPERATOR,
  },
  {
    topic: () => 'tasks/claim',
    make: (tag) => envelope(tag, { free: -1 }, FUZZER),
    signer: FUZZER,
  },
  {
    topic: () => 'agents/heartbeat',
    make: (tag) => envelope(tag, { status: 'alive', uptime: 'long' }, FUZZER),
    signer: FUZZER,
  },
  {
    topic: () => 'agents/register',
    make: (tag) => envelope(tag, { concurrency: 0 }, FUZZER),
    signer: FUZZER,
  },
  {
    topic: () => 'tasks/complete',
    make: (tag) => envelope(tag, { task_id: tag }, FUZZER),
    signer: FUZZER,
  },
  {
    topic: () => 'tasks/failed',
    make: (tag) => envelope(tag, { task_id: tag, attempt: 'one' }, FUZZER),
    signer: FUZZER,
  },
  {
    // A grant the hub signed for the agent it names, with a payload that is no grant.
    topic: (agent) => `tasks/assigned/${agent}`,
    make: (tag) =>
      JSON.stringify({
        id: tag,
        timestamp: now(),
        agent_id: 'hub',
        role: 'hub',
        payload: { task_id: tag, agent_id: 'x' },
      }),
    signer: { kind: 'hub' },
  },
  { topic: () => 'agents/someone/status', make: (tag) => `${tag} garbage` },
];

describe('malformed messages', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  it('rejects each of 1,000 malformed messages on <swarm>/errors with a reason, and keeps serving', async () => {
    swarm = new TestSwarm();
    // An open broker (--no-auth), so the garbage reaches the hub and the agent: the embedded
    // broker's own checks would refuse most of it first (PROTOCOL §15.3). Envelopes are signed,
    // the way a client holding a credential would send them, to reach the schema checks.
    await swarm.startBroker({ open: true });
    const hub = await swarm.startHub();
    const first = await swarm.startAgent('testing');
    await swarm.startAgent('testing');
    const recorder = await BusRecorder.start(swarm.brokerUrl, swarm.swarm);
    swarm.onClose(() => recorder.close());

    const sent: { tag: string; topic: string }[] = [];
    for (let i = 0; i < 980; i++) {
      const kind = KINDS[i % KINDS.length]!;
      const tag = `bad-${i}`;
      const topic = kind.topic(first.agentId);
      const body = kind.make(tag);
      const recipient =
        kind.signer?.kind === 'hub' ? { name: first.agentId, role: 'testing' } : undefined;
      sent.push({ tag, topic });
      await recorder.publish(
        topic,
        kind.signer ? swarm.sign(kind.signer, topic, body, recipient) : body,
      );
    }
    // 20 messages of 1 MB: over the size limit, rejected before anything else.
    for (let i = 980; i < 1000; i++) {
      const tag = `bad-${i}`;
      sent.push({ tag, topic: 'tasks/new' });
      await recorder.publish('tasks/new', JSON.stringify({ id: tag, pad: 'x'.repeat(1 << 20) }));
    }

    const reportedTags = (): Set<string> =>
      new Set(
        recorder.on('errors').flatMap((m) => {
          const text = `${String(m.payload.message_id ?? '')} ${String(m.payload.sample ?? '')}`;
          return [...text.matchAll(/bad-\d+/g)].map((match) => match[0]);
        }),
      );
    await recorder.waitFor(
      () => reportedTags().size === 1000,
      30_000,
      () => `${reportedTags().size}/1000 reported`,
    );

    const missing = sent.filter(({ tag }) => !reportedTags().has(tag));
    expect(missing).toEqual([]);
    // Each once: the grant's only reader is the agent it is addressed to.
    expect(recorder.on('errors')).toHaveLength(1000);
    for (const report of recorder.on('errors')) {
      expect(report.payload).toMatchObject({
        reason: expect.any(String),
        topic: expect.stringMatching(`^${swarm.swarm}/`),
        code: expect.any(String),
      });
    }
    const codes = new Set(recorder.on('errors').map((m) => m.payload.code));
    expect([...codes].sort()).toEqual([
      'BAD_SIGNATURE',
      'SCHEMA_INVALID',
      'TOO_LARGE',
      'UNKNOWN_TASK_TYPE',
    ]);
    const unknownType = recorder.on('errors').find((m) => m.payload.code === 'UNKNOWN_TASK_TYPE');
    expect(unknownType?.payload.reason).toContain('no.such.type');
    expect(hub.ledger.counts()).toMatchObject({ queued: 0, assigned: 0, complete: 0 });

    await swarm.submit([swarm.taskAppending('still-serving', 'testing.run')]);
    await waitForComplete(hub, 1, 15_000);
    expect(swarm.executions().map((e) => e.taskId)).toEqual(['still-serving']);
  });
});
