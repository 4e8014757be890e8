import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/defaults.js';
import { submitFlow } from '../helpers/flows.js';
import { waitForComplete, waitUntil } from '../helpers/scenarios.js';
import { runSheri } from '../helpers/sheri-process.js';
import { TestSwarm } from '../helpers/swarm.js';

/** PROTOCOL §15.5: what one identity may submit, and how long the ledger keeps what finished. */
describe('limits per identity, and retention', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  it("rate-limits one operator's flood of 200 KB tasks: past the byte burst they are refused RATE_LIMITED and never recorded", async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const rateLimit = {
      ...DEFAULTS.security.rateLimit,
      bytesPerSecond: 1024,
      byteBurst: 2 * 1024 * 1024,
    };
    const hub = await swarm.startHub({ security: { ...DEFAULTS.security, rateLimit } });
    const recorder = await swarm.record('errors');
    const big = 'x'.repeat(200 * 1024);
    await swarm.submit(
      Array.from({ length: 30 }, (_, i) => ({
        task_id: `big-${i}`,
        type: 'testing.run',
        payload: { big },
      })),
    );
    await waitUntil(() => hub.ledger.counts().queued + recorder.on('errors').length === 30, 10_000);
    const limited = recorder.on('errors');
    expect(limited.length).toBeGreaterThanOrEqual(19);
    for (const report of limited) {
      expect(report.payload).toMatchObject({
        code: 'RATE_LIMITED',
        reason: expect.stringContaining('operator submits more than 1024 bytes of tasks a second'),
      });
    }
    // At most the burst got in: 2 MiB of 200 KB tasks.
    expect(hub.ledger.counts().queued).toBeLessThanOrEqual(10);
  });

  it('caps the tasks one submitter has waiting: past the cap they are refused QUEUE_FULL', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub({
      security: { ...DEFAULTS.security, maxQueuedPerSubmitter: 5 },
    });
    const recorder = await swarm.record('errors');
    for (let i = 0; i < 8; i++)
      await swarm.submit([swarm.taskAppending(`wait-${i}`, 'testing.run')]);
    await recorder.waitFor(() => recorder.on('errors').length === 3, 10_000);
    expect(recorder.on('errors').map((m) => m.payload.code)).toEqual([
      'QUEUE_FULL',
      'QUEUE_FULL',
      'QUEUE_FULL',
    ]);
    expect(hub.ledger.counts().queued).toBe(5);
    // Once some finish, the submitter may submit again.
    await swarm.startAgent('testing', {}, 5);
    await waitForComplete(hub, 5, 15_000);
    await swarm.submit([swarm.taskAppending('room-again', 'testing.run')]);
    await waitForComplete(hub, 6, 15_000);
  });

  it('refuses QUEUE_FULL a flow whose steps would take its submitter past the cap, recording none of it', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub({
      security: { ...DEFAULTS.security, maxQueuedPerSubmitter: 2 },
    });
    const recorder = await swarm.record('errors');
    const step = (id: string) => ({
      id,
      type: 'testing.run',
      payload: {},
      needs: [],
      commands: ['true'],
    });
    await submitFlow(swarm, {
      flow_id: 'three',
      name: 'three',
      vars: {},
      steps: [step('a'), step('b'), step('c')],
    });
    await recorder.waitFor(() => recorder.on('errors').length === 1, 10_000);
    expect(recorder.on('errors')[0]!.payload).toMatchObject({
      code: 'QUEUE_FULL',
      flow_id: 'three',
      reason:
        'operator would have more than 2 tasks blocked, queued or assigned with 3 more (security.maxQueuedPerSubmitter; it has 0)',
    });
    expect(hub.flows.engine.store.get('three')).toBeUndefined();
    expect(hub.ledger.counts().queued).toBe(0);
  });

  it('prunes finished tasks on `sheri tasks prune`, keeping those an unfinished task needs', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    await swarm.startAgent('testing');
    await swarm.submit([
      swarm.taskAppending('done-1', 'testing.run'),
      swarm.taskAppending('needed', 'testing.run'),
    ]);
    await waitForComplete(hub, 2, 10_000);
    // Blocked on a task never submitted: it still needs `needed`.
    await swarm.submit([
      swarm.taskAppending('waits', 'testing.run', { needs: ['needed', 'never'] }),
    ]);
    await waitUntil(() => hub.ledger.get('waits')?.state === 'blocked', 5_000);

    const pruned = await runSheri(
      [
        'tasks',
        'prune',
        '--older-than',
        '0',
        '--json',
        '--broker',
        swarm.brokerUrl,
        '--swarm',
        swarm.swarm,
      ],
      { cwd: swarm.dir },
    );
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(JSON.parse(pruned.stdout)).toEqual({ pruned: 1, older_than_ms: 0 });
    expect(hub.ledger.get('done-1')).toBeUndefined();
    expect(hub.ledger.history('done-1')).toEqual([]);
    expect(hub.ledger.get('needed')?.state).toBe('complete');
    // Pruned, its id may be submitted again.
    await swarm.submit([swarm.taskAppending('done-1', 'testing.run')]);
    await waitForComplete(hub, 2, 10_000);
  });

  it('prunes by itself what finished longer ago than retention.finishedMaxAgeMs', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub({
      retention: { finishedMaxAgeMs: 60_000, pruneEveryMs: 1_000 },
    });
    await swarm.startAgent('testing');
    await swarm.submit([swarm.taskAppending('old', 'testing.run')]);
    await waitForComplete(hub, 1, 10_000);
    // The ledger's own clock: move the task's last update back past retention.
    const now = Date.now();
    (hub.ledger as unknown as { db: { prepare(sql: string): { run(...a: unknown[]): void } } }).db
      .prepare('UPDATE tasks SET updated_at = ? WHERE task_id = ?')
      .run(now - 120_000, 'old');
    await waitUntil(() => hub.ledger.get('old') === undefined, 5_000);
  });
});
