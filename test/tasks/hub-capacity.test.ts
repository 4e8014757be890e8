import { afterEach, describe, expect, it } from 'vitest';
import type { TaskAssigned } from '../../src/protocol/messages.js';
import type { Bus } from '../../src/transport/bus.js';
import type { BusRecorder } from '../helpers/bus-recorder.js';
import { waitUntil } from '../helpers/scenarios.js';
import { TestSwarm } from '../helpers/swarm.js';

/** What an agent says of itself on `agents/register`, with the concurrency the test gives it. */
function registration(concurrency: number): Record<string, unknown> {
  return {
    role: 'testing',
    concurrency,
    types: ['testing.run'],
    pid: 1,
    hostname: 'test',
  };
}

describe('the hub, on the room agents report (PROTOCOL §3.2, §3.3)', () => {
  let swarm: TestSwarm;
  let recorder: BusRecorder;
  afterEach(async () => swarm.close());

  async function setUp(): Promise<void> {
    swarm = new TestSwarm();
    await swarm.startBroker();
    recorder = await swarm.record();
  }

  /** A hand-driven agent holding a real agent credential: it says only what the test makes it. */
  async function agentAs(name: string): Promise<Bus> {
    return swarm.connectAs({ kind: 'agent', name, role: 'testing' });
  }

  const grantsTo = (agentId: string): TaskAssigned[] =>
    recorder
      .on('tasks/assigned')
      .map((message) => message.payload as TaskAssigned)
      .filter((grant) => grant.agent_id === agentId);

  it('grants the next task on the outcome that reports a free slot, with no claim after it', async () => {
    await setUp();
    const hub = await swarm.startHub();
    const agent = await agentAs('eager');
    await agent.publish('agents/register', registration(1));
    await agent.publish('tasks/claim', { free: 1, running: [] });
    await swarm.submit([swarm.taskAppending('first', 'testing.run')]);
    await recorder.waitFor(() => grantsTo('eager').length === 1, 5_000);
    // It acknowledges the grant saying it has no room left, so only a later report can give it
    // more: its outcome below, which carries its room after the attempt.
    await agent.publish('tasks/claim', { free: 0, running: [{ task_id: 'first', attempt: 1 }] });
    await swarm.submit([swarm.taskAppending('second', 'testing.run')]);
    await waitUntil(() => hub.ledger.get('second')?.state === 'queued', 5_000);
    await agent.publish('tasks/complete', {
      task_id: 'first',
      attempt: 1,
      duration_ms: 1,
      result: 'done',
      free: 1,
      running: [],
    });

    await recorder.waitFor(() => grantsTo('eager').length === 2, 5_000);
    expect(grantsTo('eager').map((grant) => grant.task_id)).toEqual(['first', 'second']);
    const claims = recorder
      .on('tasks/claim')
      .filter((m) => (m.json as { agent_id?: string }).agent_id === 'eager');
    expect(claims).toHaveLength(2);
    expect(hub.ledger.get('first')?.state).toBe('complete');
  });

  it('grants an agent no more than its registered concurrency, however many free slots it claims', async () => {
    await setUp();
    const hub = await swarm.startHub();
    await swarm.submit(['a', 'b', 'c'].map((id) => swarm.taskAppending(id, 'testing.run')));
    await waitUntil(() => hub.ledger.counts().queued === 3, 5_000);
    const greedy = await agentAs('greedy');
    await greedy.publish('agents/register', registration(1));
    await greedy.publish('tasks/claim', { free: 50, running: [] });
    await recorder.waitFor(() => grantsTo('greedy').length === 1, 5_000);
    // An outcome is a claim too: it may not ask for more than the concurrency either.
    const first = grantsTo('greedy')[0]!;
    await greedy.publish('tasks/complete', {
      task_id: first.task_id,
      attempt: 1,
      duration_ms: 1,
      result: 'done',
      free: 50,
      running: [],
    });
    await recorder.waitFor(() => grantsTo('greedy').length === 2, 5_000);
    const honest = await agentAs('honest');
    await honest.publish('agents/register', registration(2));
    await honest.publish('tasks/claim', { free: 2, running: [] });
    await recorder.waitFor(() => grantsTo('honest').length === 1, 5_000);

    // Each report of 50 free bought the greedy agent one task, its concurrency; the rest waited.
    expect(grantsTo('greedy')).toHaveLength(2);
    expect(hub.registry.get('greedy')).toMatchObject({ concurrency: 1, free: 1 });
    expect(new Set(recorder.on('tasks/assigned').map((m) => m.payload.task_id))).toEqual(
      new Set(['a', 'b', 'c']),
    );
  });

  it('hears each agent register again when a restarted hub comes online, so it knows their concurrency', async () => {
    await setUp();
    const first = await swarm.startHub();
    const agent = await swarm.startAgent('testing', {}, 3);
    await waitUntil(() => first.registry.get(agent.agentId)?.concurrency === 3, 5_000);
    await first.close();
    const second = await swarm.startHub();

    await waitUntil(() => second.registry.get(agent.agentId)?.concurrency === 3, 5_000);
    expect(second.registry.get(agent.agentId)).toMatchObject({ free: 3, state: 'online' });
  });
});
