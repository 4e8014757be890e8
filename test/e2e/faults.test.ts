import { afterEach, describe, expect, it } from 'vitest';
import { startSheri, type SheriProcess } from '../helpers/sheri-process.js';
import { join } from 'node:path';
import { EmbeddedBroker } from '../../src/broker/embedded-broker.js';
import { silentLogger } from '../../src/logging/logger.js';
import { waitUntil } from '../helpers/scenarios.js';
import { countRuns, TestSwarm } from '../helpers/swarm.js';

describe('fault runs with real processes', () => {
  let swarm: TestSwarm;
  const processes: SheriProcess[] = [];
  afterEach(async () => {
    for (const process of processes.splice(0)) await process.kill('SIGKILL');
    await swarm.close();
  });

  function spawnAgent(role: string, agentId: string): SheriProcess {
    const agent = startSheri(
      [
        'agent',
        '--role',
        role,
        '--agent-id',
        agentId,
        '--broker',
        swarm.brokerUrl,
        '--swarm',
        swarm.swarm,
        '--log-format',
        'json',
        '--workspace',
        swarm.dir,
        // Its credentials: the swarm's store, found as ./.sheri (PROTOCOL §15.2).
      ],
      { cwd: swarm.dir },
    );
    processes.push(agent);
    return agent;
  }

  it('requeues the task of an agent killed with -9 mid-run, and another agent completes it', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub({ leaseMs: 60_000 }); // the Last Will, not the lease, must do it
    const recorder = await swarm.record();
    const first = spawnAgent('testing', 'victim');
    await recorder.waitFor(() => recorder.on('agents/register').length === 1, 15_000);

    await swarm.submit([swarm.taskAppending('slow', 'testing.run', {}, 'sleep 5; ')]);
    await recorder.waitFor(() => recorder.on('tasks/assigned').length === 1, 15_000);
    expect(recorder.on('tasks/assigned')[0]?.payload.agent_id).toBe('victim');
    const second = spawnAgent('testing', 'rescuer');
    await second.waitForOutput('joined swarm');
    first.child.kill('SIGKILL');

    await recorder.waitFor(
      () => recorder.on('tasks/complete').length === 1,
      30_000,
      () => JSON.stringify(hub.ledger.history('slow')),
    );
    const grants = recorder
      .on('tasks/assigned')
      .map((m) => [m.payload.agent_id, m.payload.attempt]);
    expect(grants).toEqual([
      ['victim', 1],
      ['rescuer', 2],
    ]);
    expect(recorder.on('tasks/complete')[0]?.payload).toMatchObject({
      task_id: 'slow',
      attempt: 2,
    });
    // The victim's command was killed with it (the reaper), so only the rescuer's run left a mark.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(swarm.executions()).toEqual([{ taskId: 'slow', agentId: 'rescuer' }]);
    expect(hub.ledger.history('slow').map((event) => event.kind)).toContain('agent_lost');
  });

  it('completes all 60 tasks exactly once after the hub is killed with -9 and restarted', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const recorder = await swarm.record();
    const hubArgs = [
      'hub',
      '--broker',
      swarm.brokerUrl,
      '--swarm',
      swarm.swarm,
      '--data-dir',
      swarm.dataDir,
      '--log-format',
      'json',
    ];
    const hub = startSheri(hubArgs);
    processes.push(hub);
    await hub.waitForOutput('hub ready');
    for (let i = 0; i < 2; i++) await swarm.startAgent('testing');

    await swarm.submit(
      Array.from({ length: 50 }, (_, i) =>
        swarm.taskAppending(`q-${i}`, 'testing.run', {}, 'sleep 0.1; '),
      ),
    );
    await recorder.waitFor(() => recorder.on('tasks/complete').length >= 2, 15_000);
    hub.child.kill('SIGKILL');
    await hub.exited();
    const doneBeforeKill = recorder.distinct('tasks/complete').size;
    expect(doneBeforeKill).toBeLessThan(50);
    // Submitted while no hub runs: the hub's persistent session keeps them for it.
    await swarm.submit(
      Array.from({ length: 10 }, (_, i) => swarm.taskAppending(`late-${i}`, 'testing.run')),
    );

    const restarted = startSheri(hubArgs);
    processes.push(restarted);
    await restarted.waitForOutput('hub ready');
    await recorder.waitFor(
      () => recorder.distinct('tasks/complete').size === 60,
      60_000,
      () => `${recorder.distinct('tasks/complete').size}/60 complete`,
    );
    const runs = countRuns(swarm.executions());
    expect(runs.size).toBe(60);
    expect([...runs.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    expect(recorder.on('tasks/dead')).toEqual([]);
  });

  it("stops a running attempt when a broker outage outlasts its lease on the agent's own clock, hands it back without a failure counted, and runs it once to the end", async () => {
    swarm = new TestSwarm();
    const broker = await swarm.startBroker();
    const hub = await swarm.startHub({ leaseMs: 1_500 });
    await swarm.startAgent('testing', { leaseMs: 1_500 });
    const recorder = await swarm.record();
    await swarm.submit([swarm.taskAppending('outage', 'testing.run', {}, 'sleep 4; ')]);
    await recorder.waitFor(() => recorder.on('tasks/progress').length >= 1, 10_000);

    await broker.close();
    // The outage itself is what is under test: 2.5 s, past the 1.5 s lease.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const again = await EmbeddedBroker.start({
      port: broker.port,
      host: '127.0.0.1',
      dataDir: join(swarm.dir, 'broker'),
      logger: silentLogger(),
      auth: swarm.store,
    });
    swarm.onCloseLast(() => again.close());

    await waitUntil(
      () => hub.ledger.get('outage')?.state === 'complete',
      20_000,
      () => JSON.stringify(hub.ledger.history('outage')),
    );
    // Cut off past its lease, the agent cannot know the hub did not grant the task again
    // (PROTOCOL §4.7): it stopped attempt 1, and its hand-back counted no failure.
    expect(hub.ledger.get('outage')).toMatchObject({ attempt: 2, failures: 0 });
    expect(hub.ledger.history('outage').find((e) => e.kind === 'released')?.detail).toEqual({
      reason: expect.stringContaining('lease lapsed on'),
    });
    expect(swarm.executions()).toHaveLength(1);
  });
});
