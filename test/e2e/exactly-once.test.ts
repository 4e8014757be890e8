import { afterEach, describe, expect, it } from 'vitest';
import { runMixedScenario, waitForComplete } from '../helpers/scenarios.js';
import { countRuns, TestSwarm } from '../helpers/swarm.js';

describe('exactly-once claiming on the embedded broker', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  it('runs 200 mixed tasks exactly once each, every one on an agent whose role may run it', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    await runMixedScenario(swarm);
  });

  it('loses none and runs none twice when 20 agents race for 500 tasks published in one burst', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    await Promise.all(Array.from({ length: 20 }, () => swarm.startAgent('testing')));
    const recorder = await swarm.record('tasks/#');
    await swarm.submit(
      Array.from({ length: 500 }, (_, i) => swarm.taskAppending(`race-${i}`, 'testing.run')),
    );
    await waitForComplete(hub, 500, 90_000);

    const runs = countRuns(swarm.executions());
    expect(runs.size).toBe(500);
    expect([...runs.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    // Every grant went to exactly one agent: one attempt per task, never a second grant.
    const grants = recorder.on('tasks/assigned');
    expect(grants).toHaveLength(500);
    expect(recorder.distinct('tasks/assigned').size).toBe(500);
    const agentsUsed = new Set(swarm.executions().map((run) => run.agentId));
    expect(agentsUsed.size).toBeGreaterThan(10);
  });
});
