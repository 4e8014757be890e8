import type { BusRecorder } from '../helpers/bus-recorder.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { Bus } from '../../src/transport/bus.js';
import { waitForComplete, waitUntil } from '../helpers/scenarios.js';
import { TestSwarm } from '../helpers/swarm.js';

let current: TestSwarm;
const clients = new Map<string, Promise<Bus>>();

/**
 * Publish a signed message as a given agent (or, for role "cli", the operator), the way another
 * program holding that identity's credential could.
 */
async function publishAs(
  _recorder: BusRecorder,
  agentId: string,
  role: string,
  topic: string,
  payload: unknown,
): Promise<void> {
  const key = role === 'cli' ? 'operator' : `${agentId}:${role}`;
  let bus = clients.get(key);
  if (!bus) {
    bus = current.connectAs(
      role === 'cli' ? { kind: 'operator' } : { kind: 'agent', name: agentId, role },
    );
    clients.set(key, bus);
  }
  await (await bus).publish(topic, payload);
}

describe('the hub', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  async function setUp(): Promise<{ recorder: BusRecorder }> {
    swarm = new TestSwarm();
    current = swarm;
    clients.clear();
    await swarm.startBroker();
    const recorder = await swarm.record();
    return { recorder };
  }

  it('requeues a task whose lease lapses and ignores the stale result of the old attempt', async () => {
    const { recorder } = await setUp();
    const hub = await swarm.startHub({ leaseMs: 800 });
    // A silent agent: claims, acknowledges the grant once, then never heartbeats nor reports.
    await publishAs(recorder, 'silent', 'testing', 'tasks/claim', { free: 1, running: [] });
    await swarm.submit([swarm.taskAppending('leased', 'testing.run')]);
    await recorder.waitFor(() => recorder.on('tasks/assigned').length === 1, 5_000);
    expect(recorder.on('tasks/assigned')[0]?.payload).toMatchObject({
      agent_id: 'silent',
      attempt: 1,
    });
    await publishAs(recorder, 'silent', 'testing', 'tasks/claim', {
      free: 0,
      running: [{ task_id: 'leased', attempt: 1 }],
    });

    await waitUntil(() => hub.ledger.get('leased')?.state === 'queued', 5_000);
    const agent = await swarm.startAgent('testing');
    await waitForComplete(hub, 1, 10_000);
    expect(hub.ledger.get('leased')).toMatchObject({
      attempt: 2,
      agentId: agent.agentId,
      failures: 1,
    });

    await publishAs(recorder, 'silent', 'testing', 'tasks/complete', {
      task_id: 'leased',
      attempt: 1,
      duration_ms: 1,
      result: 'late',
    });
    await recorder.waitFor(
      () => hub.ledger.history('leased').some((e) => e.kind === 'stale'),
      5_000,
    );
    expect(hub.ledger.get('leased')?.result).not.toBe('late');
    expect(
      hub.ledger
        .history('leased')
        .map((e) => e.kind)
        .filter((kind) => kind !== 'progress'),
    ).toEqual(['submitted', 'assigned', 'lease_expired', 'assigned', 'complete', 'stale']);
  });

  it('requeues without penalty a grant its agent never acknowledged, and grants that agent no more', async () => {
    const { recorder } = await setUp();
    const hub = await swarm.startHub({ leaseMs: 600 });
    await publishAs(recorder, 'deaf', 'testing', 'tasks/claim', { free: 1, running: [] });
    await swarm.submit([swarm.taskAppending('unheard', 'testing.run')]);
    await recorder.waitFor(() => recorder.on('tasks/assigned').length === 1, 5_000);
    await waitUntil(() => hub.ledger.get('unheard')?.state === 'queued', 5_000);
    expect(hub.ledger.get('unheard')).toMatchObject({ failures: 0, attempt: 1 });
    const agent = await swarm.startAgent('testing');
    await waitForComplete(hub, 1, 10_000);
    expect(recorder.on('tasks/assigned').map((m) => m.payload.agent_id)).toEqual([
      'deaf',
      agent.agentId,
    ]);
    expect(hub.ledger.history('unheard').find((e) => e.kind === 'lease_expired')?.detail).toEqual({
      reason: 'grant to deaf never acknowledged within 600 ms',
    });
  });

  it('retries a failed attempt with backoff and completes it on the next attempt', async () => {
    const { recorder } = await setUp();
    const hub = await swarm.startHub();
    await swarm.startAgent('testing');
    const marker = `${swarm.dir}/tried-once`;
    await swarm.submit([
      swarm.taskAppending(
        'flaky',
        'testing.run',
        {},
        `test -f ${marker} || { echo > ${marker}; exit 3; }; `,
      ),
    ]);
    await waitForComplete(hub, 1, 10_000);
    expect(recorder.on('tasks/failed').map((m) => m.payload)).toMatchObject([
      { task_id: 'flaky', attempt: 1, retryable: true },
    ]);
    expect(recorder.on('tasks/complete').map((m) => m.payload.attempt)).toEqual([2]);
    expect(hub.ledger.get('flaky')).toMatchObject({ state: 'complete', failures: 1, attempt: 2 });
  });

  it('dead-letters a task after max_attempts failures and publishes tasks/dead with the last error', async () => {
    const { recorder } = await setUp();
    const hub = await swarm.startHub();
    await swarm.startAgent('testing');
    await swarm.submit([
      {
        task_id: 'doomed',
        type: 'testing.run',
        payload: {},
        commands: ['echo nope >&2; exit 7'],
        max_attempts: 2,
      },
    ]);
    await recorder.waitFor(() => recorder.on('tasks/dead').length === 1, 10_000);
    expect(recorder.on('tasks/failed')).toHaveLength(2);
    expect(recorder.on('tasks/dead')[0]?.payload).toMatchObject({
      task_id: 'doomed',
      attempts: 2,
      error: expect.stringContaining('exited 7'),
    });
    expect(hub.ledger.get('doomed')).toMatchObject({ state: 'dead', failures: 2 });
    const failed = recorder.on('tasks/failed')[0]?.payload as {
      result: { commands: { stderr: string }[] };
    };
    expect(failed.result.commands[0]?.stderr).toBe('nope\n');
  });

  it('fails a prompt task at once, without retry, saying how to configure a provider, when the agent has none', async () => {
    const { recorder } = await setUp();
    await swarm.startHub();
    await swarm.startAgent('review');
    await swarm.submit([
      { task_id: 'think', type: 'code.review', payload: {}, prompt: 'Review it' },
    ]);
    await recorder.waitFor(() => recorder.on('tasks/dead').length === 1, 10_000);
    expect(recorder.on('tasks/failed')).toHaveLength(1);
    expect(recorder.on('tasks/failed')[0]?.payload).toMatchObject({
      retryable: false,
      error: expect.stringContaining('no LLM provider configured'),
    });
    // It says how to configure one: a key for Claude, or a local model.
    const error = String(recorder.on('tasks/dead')[0]?.payload.error);
    expect(error).toContain('ANTHROPIC_API_KEY');
    expect(error).toContain('--llm openai --llm-base-url http://localhost:11434/v1 --model');
  });

  it('runs a task only after the tasks it needs complete, and hands it their results', async () => {
    const { recorder } = await setUp();
    const hub = await swarm.startHub();
    await swarm.startAgent('testing', {}, 2);
    await swarm.submit([
      { task_id: 'after', type: 'testing.run', payload: {}, commands: ['true'], needs: ['before'] },
    ]);
    await waitUntil(() => hub.ledger.get('after')?.state === 'blocked', 5_000);
    await swarm.submit([
      { task_id: 'before', type: 'testing.run', payload: {}, commands: ['echo built'] },
    ]);
    await waitForComplete(hub, 2, 10_000);
    const grants = recorder.on('tasks/assigned').map((m) => m.payload);
    expect(grants.map((g) => g.task_id)).toEqual(['before', 'after']);
    const inputs = grants[1]?.inputs as Record<string, { commands: { stdout: string }[] }>;
    expect(inputs.before?.commands[0]?.stdout).toBe('built\n');
  });

  it('dead-letters a task whose needed task is dead', async () => {
    const { recorder } = await setUp();
    const hub = await swarm.startHub();
    await swarm.startAgent('testing');
    await swarm.submit([
      { task_id: 'base', type: 'testing.run', payload: {}, commands: ['exit 1'], max_attempts: 1 },
      { task_id: 'top', type: 'testing.run', payload: {}, commands: ['true'], needs: ['base'] },
    ]);
    await recorder.waitFor(() => recorder.distinct('tasks/dead').size === 2, 10_000);
    expect(hub.ledger.get('top')).toMatchObject({
      state: 'dead',
      lastError: expect.stringContaining('base'),
    });
  });

  it('makes a resubmission with the same idempotency key, or the same task id, a no-op', async () => {
    const { recorder } = await setUp();
    const hub = await swarm.startHub();
    await swarm.startAgent('testing');
    await swarm.submit([
      swarm.taskAppending('once-a', 'testing.run', { idempotency_key: 'deploy-42' }),
    ]);
    await swarm.submit([
      swarm.taskAppending('once-b', 'testing.run', { idempotency_key: 'deploy-42' }),
    ]);
    await swarm.submit([swarm.taskAppending('once-a', 'testing.run')]);
    await waitForComplete(hub, 1, 10_000);
    await publishAs(
      recorder,
      'probe',
      'cli',
      'tasks/new',
      swarm.taskAppending('marker', 'testing.run'),
    );
    await waitForComplete(hub, 2, 10_000);
    expect(swarm.executions().map((e) => e.taskId)).toEqual(['once-a', 'marker']);
  });

  it('grants high priority before normal before low, oldest first within a priority', async () => {
    await setUp();
    const hub = await swarm.startHub();
    // One at a time: "oldest" is the order the hub recorded them, and a burst may arrive in any
    // order (PROTOCOL §8.4).
    for (const spec of [
      swarm.taskAppending('low-1', 'testing.run', { priority: 'low' }),
      swarm.taskAppending('normal-1', 'testing.run'),
      swarm.taskAppending('high-1', 'testing.run', { priority: 'high' }),
      swarm.taskAppending('normal-2', 'testing.run', { priority: 'normal' }),
      swarm.taskAppending('high-2', 'testing.run', { priority: 'high' }),
    ]) {
      await swarm.submit([spec]);
      await waitUntil(() => hub.ledger.get(spec.task_id) !== undefined, 5_000);
    }
    await waitUntil(() => hub.ledger.counts().queued === 5, 5_000);
    await swarm.startAgent('testing');
    await waitForComplete(hub, 5, 10_000);
    expect(swarm.executions().map((e) => e.taskId)).toEqual([
      'high-1',
      'high-2',
      'normal-1',
      'normal-2',
      'low-1',
    ]);
  });

  it('requeues without penalty the task an agent hands back when it stops gracefully', async () => {
    const { recorder } = await setUp();
    const hub = await swarm.startHub();
    const leaving = await swarm.startAgent('testing');
    await swarm.submit([swarm.taskAppending('handed', 'testing.run', {}, 'sleep 30; ')]);
    await recorder.waitFor(() => recorder.on('tasks/assigned').length === 1, 5_000);
    await recorder.waitFor(() => recorder.on('tasks/progress').length >= 1, 5_000);
    await leaving.stop('test stops it');
    // The goodbye is acknowledged by the broker, not yet necessarily relayed to the recorder.
    await recorder.waitFor(() => recorder.on('agents/shutdown').length === 1, 5_000);
    expect(recorder.on('agents/shutdown')[0]?.payload).toMatchObject({ handed_back: ['handed'] });
    await waitUntil(() => hub.ledger.get('handed')?.state === 'queued', 5_000);
    expect(hub.ledger.get('handed')).toMatchObject({ state: 'queued', failures: 0, attempt: 1 });
    // Its retained presence is cleared (an empty retained message).
    const status = (): number[] =>
      recorder.on(`agents/${leaving.agentId}/status`).map((m) => m.raw.length);
    await recorder.waitFor(
      () => status().includes(0),
      5_000,
      () => status().join(),
    );
  });

  it('keeps queued tasks across a hub restart on the same ledger', async () => {
    await setUp();
    const first = await swarm.startHub();
    await swarm.submit(
      Array.from({ length: 5 }, (_, i) => swarm.taskAppending(`kept-${i}`, 'testing.run')),
    );
    const deadline = Date.now() + 5_000;
    while (first.ledger.counts().queued < 5 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    await first.close();
    const second = await swarm.startHub();
    expect(second.ledger.counts().queued).toBe(5);
    await swarm.startAgent('testing');
    await waitForComplete(second, 5, 10_000);
  });

  it('reports a duplicate submission on errors, naming the task it duplicates', async () => {
    const { recorder } = await setUp();
    await swarm.startHub();
    await swarm.submit([swarm.taskAppending('first', 'testing.run', { idempotency_key: 'k-1' })]);
    await publishAs(
      recorder,
      'cli',
      'cli',
      'tasks/new',
      swarm.taskAppending('second', 'testing.run', { idempotency_key: 'k-1' }),
    );
    await recorder.waitFor(() => recorder.on('errors').length === 1, 5_000);
    expect(recorder.on('errors')[0]?.payload).toMatchObject({
      code: 'DUPLICATE_TASK',
      task_id: 'first',
      state: 'queued',
      reason: expect.stringContaining('idempotency_key "k-1" was already used by task "first"'),
    });
  });

  it('trims a result too large for the size limit instead of losing the outcome', async () => {
    const { recorder } = await setUp();
    const hub = await swarm.startHub();
    await swarm.startAgent('testing');
    // 40 commands × (4,000 + 4,000 chars kept) is past the 256 KiB limit of a message.
    const noisy = Array.from(
      { length: 40 },
      (_, i) => `printf '%09000d' 0; echo; echo "done ${i}"; printf '%09000d' 0 >&2`,
    );
    await swarm.submit([{ task_id: 'noisy', type: 'testing.run', payload: {}, commands: noisy }]);
    await waitForComplete(hub, 1, 20_000);
    const complete = recorder.on('tasks/complete')[0]!;
    expect(complete.raw.length).toBeLessThanOrEqual(256 * 1024);
    const commands = (complete.payload.result as { commands: { stdout: string }[] }).commands;
    expect(commands).toHaveLength(40);
    expect(commands[39]?.stdout.trimEnd().endsWith('done 39')).toBe(true);
  });

  it('rejects a task too large for its grant to fit the message size limit', async () => {
    const { recorder } = await setUp();
    const hub = await swarm.startHub();
    const bulky = Array.from({ length: 32 }, (_, i) => `echo ${String(i).padStart(7_800, 'x')}`);
    await publishAs(recorder, 'cli', 'cli', 'tasks/new', {
      task_id: 'bulky',
      type: 'testing.run',
      commands: bulky,
    });
    await recorder.waitFor(() => recorder.on('errors').length === 1, 5_000);
    expect(recorder.on('errors')[0]?.payload).toMatchObject({
      code: 'TOO_LARGE',
      reason: expect.stringMatching(/^task is \d+ bytes; a task may be at most 245760 bytes/),
    });
    expect(hub.ledger.get('bulky')).toBeUndefined();
  });

  it('dead-letters a task handed back again and again instead of circling for ever', async () => {
    const { recorder } = await setUp();
    const hub = await swarm.startHub();
    // An agent that claims, then hands back every grant as "no free slot" and claims again.
    recorder.client.on('message', (topic, raw) => {
      if (!topic.includes('/tasks/assigned/')) return;
      const grant = (
        JSON.parse(raw.toString()) as { payload: { task_id: string; attempt: number } }
      ).payload;
      void publishAs(recorder, 'fickle', 'testing', 'tasks/release', {
        ...grant,
        reason: 'no free slot',
      }).then(() =>
        publishAs(recorder, 'fickle', 'testing', 'tasks/claim', { free: 1, running: [] }),
      );
    });
    await publishAs(recorder, 'fickle', 'testing', 'tasks/claim', { free: 1, running: [] });
    await swarm.submit([swarm.taskAppending('hot-potato', 'testing.run', { max_attempts: 1 })]);
    await recorder.waitFor(() => recorder.on('tasks/dead').length === 1, 10_000);
    expect(recorder.on('tasks/assigned')).toHaveLength(11);
    expect(recorder.on('tasks/dead')[0]?.payload).toMatchObject({
      task_id: 'hot-potato',
      error: expect.stringContaining('granted 11 times without an outcome'),
    });
    expect(hub.ledger.get('hot-potato')?.state).toBe('dead');
  });
});
