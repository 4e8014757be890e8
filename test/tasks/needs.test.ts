import { afterEach, describe, expect, it } from 'vitest';
import { waitUntil } from '../helpers/scenarios.js';
import { TestSwarm } from '../helpers/swarm.js';

/** PROTOCOL §17.8: needs that can never be met end their tasks, saying why. */
describe('needs that can never be met', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  it('ends a cycle of plain tasks as soon as it closes, each with the reason', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    const dead = await swarm.record('tasks/dead');
    await swarm.submit([swarm.taskAppending('cyc-a', 'testing.run', { needs: ['cyc-b'] })]);
    await swarm.submit([swarm.taskAppending('cyc-b', 'testing.run', { needs: ['cyc-c'] })]);
    await swarm.submit([swarm.taskAppending('cyc-c', 'testing.run', { needs: ['cyc-a'] })]);
    await dead.waitFor(() => dead.distinct('tasks/dead').size === 3, 10_000);
    expect(hub.ledger.get('cyc-c')).toMatchObject({
      state: 'dead',
      lastError: 'its needs form a cycle: cyc-c → cyc-a → cyc-b → cyc-c (each waits for the next)',
    });
    expect(hub.ledger.get('cyc-b')?.lastError).toMatch(
      /^needed task cyc-c is dead: its needs form a cycle/,
    );
    expect(hub.ledger.get('cyc-a')?.lastError).toMatch(
      /^needed task cyc-b is dead: needed task cyc-c is dead/,
    );
    expect(swarm.executions()).toEqual([]);
  });

  it('ends a task whose need never arrives after missingNeedTimeoutMs, saying which need', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub({ missingNeedTimeoutMs: 1_500 });
    await swarm.startAgent('testing');
    const dead = await swarm.record('tasks/dead');
    await swarm.submit([
      swarm.taskAppending('waits', 'testing.run', { needs: ['never-sent', 'sent'] }),
      swarm.taskAppending('sent', 'testing.run'),
    ]);
    await dead.waitFor(() => dead.distinct('tasks/dead').has('waits'), 10_000);
    expect(dead.on('tasks/dead')[0]!.payload).toMatchObject({
      task_id: 'waits',
      error: 'needed task never-sent was never submitted: waited 2 s for it (missingNeedTimeoutMs)',
    });
    expect(hub.ledger.get('sent')?.state).toBe('complete');
    expect(swarm.executions().map((e) => e.taskId)).toEqual(['sent']);
  });

  it('still waits for a need submitted late, within the time', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub({ missingNeedTimeoutMs: 5_000 });
    await swarm.startAgent('testing');
    await swarm.submit([swarm.taskAppending('later', 'testing.run', { needs: ['first'] })]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await swarm.submit([swarm.taskAppending('first', 'testing.run')]);
    // The hub's ledger, not the bus, says when it is recorded.
    await waitUntil(() => hub.ledger.get('later')?.state === 'complete', 10_000);
    expect(swarm.executions().map((e) => e.taskId)).toEqual(['first', 'later']);
  });
});
