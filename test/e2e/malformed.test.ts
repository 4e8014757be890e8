import { afterEach, describe, expect, it } from 'vitest';
import { BusRecorder } from '../helpers/bus-recorder.js';
import { waitForComplete } from '../helpers/scenarios.js';
import { TestSwarm } from '../helpers/swarm.js';

const now = '2026-11-21T10:00:00Z';
const envelope = (id: string, payload: unknown): string =>
  JSON.stringify({ id, timestamp: now, agent_id: 'fuzzer', role: 'testing', payload });

/** One malformed message of each kind, tagged `bad-<n>` so its error report can be found. */
const KINDS: { topic: string; make: (tag: string) => string }[] = [
  { topic: 'tasks/new', make: (tag) => `${tag} {not json` },
  { topic: 'tasks/new', make: (tag) => envelope(tag, { task_id: 42, type: 'testing.run' }) },
  { topic: 'tasks/new', make: (tag) => envelope(tag, { type: 'testing.run', payload: {} }) },
  { topic: 'tasks/new', make: (tag) => envelope(tag, { task_id: tag, type: 'no.such.type' }) },
  {
    topic: 'tasks/new',
    make: (tag) => envelope(tag, { task_id: tag, type: 'testing.run', commands: 'rm -rf /' }),
  },
  {
    topic: 'tasks/new',
    make: (tag) => envelope(tag, { task_id: `${tag}/x`, type: 'testing.run' }),
  },
  {
    topic: 'tasks/new',
    make: (tag) => JSON.stringify({ id: tag, payload: { task_id: tag, type: 'testing.run' } }),
  },
  { topic: 'tasks/new', make: (tag) => JSON.stringify([tag, 1, 2]) },
  {
    topic: 'tasks/new',
    make: (tag) => envelope(tag, { task_id: tag, type: 'testing.run', priority: 'urgent' }),
  },
  { topic: 'tasks/claim', make: (tag) => envelope(tag, { free: -1 }) },
  { topic: 'agents/heartbeat', make: (tag) => envelope(tag, { status: 'alive', uptime: 'long' }) },
  { topic: 'agents/register', make: (tag) => envelope(tag, { concurrency: 0 }) },
  { topic: 'tasks/complete', make: (tag) => envelope(tag, { task_id: tag }) },
  { topic: 'tasks/failed', make: (tag) => envelope(tag, { task_id: tag, attempt: 'one' }) },
  { topic: 'tasks/assigned', make: (tag) => envelope(tag, { task_id: tag, agent_id: 'x' }) },
  { topic: 'agents/someone/status', make: (tag) => `${tag} garbage` },
];

describe('malformed messages', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  it('rejects each of 1,000 malformed messages on <swarm>/errors with a reason, and keeps serving', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    await swarm.startAgent('testing');
    await swarm.startAgent('testing');
    const recorder = await BusRecorder.start(swarm.brokerUrl, swarm.swarm);
    swarm.onClose(() => recorder.close());

    const sent: { tag: string; topic: string }[] = [];
    for (let i = 0; i < 980; i++) {
      const kind = KINDS[i % KINDS.length]!;
      const tag = `bad-${i}`;
      sent.push({ tag, topic: kind.topic });
      await recorder.publish(kind.topic, kind.make(tag));
    }
    // 20 messages of 1 MB: over the size limit, rejected before parsing.
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
    for (const report of recorder.on('errors')) {
      expect(report.payload).toMatchObject({
        reason: expect.any(String),
        topic: expect.stringMatching(`^${swarm.swarm}/`),
        code: expect.any(String),
      });
    }
    const codes = new Set(recorder.on('errors').map((m) => m.payload.code));
    expect([...codes].sort()).toEqual([
      'BAD_JSON',
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
