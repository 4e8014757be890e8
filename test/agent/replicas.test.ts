import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { prepareSurroundings } from '../../src/agent/agent-setup.js';
import { replicaIds, startReplicas, stopReplicas } from '../../src/agent/replicas.js';
import { silentLogger } from '../../src/logging/logger.js';
import { waitForComplete, waitUntil } from '../helpers/scenarios.js';
import { countRuns, TestSwarm } from '../helpers/swarm.js';

describe('replicas: many agents in one process', () => {
  let swarm: TestSwarm | undefined;
  let agents: Agent[] = [];
  afterEach(async () => {
    await stopReplicas(agents, 'test over');
    agents = [];
    await swarm?.close();
    swarm = undefined;
  });

  async function start(prefix: string, count: number): Promise<{ s: TestSwarm; agents: Agent[] }> {
    const s = swarm!;
    const config = s.config();
    const surroundings = prepareSurroundings({
      config,
      role: 'testing',
      workspace: s.dir,
      cwd: s.dir,
    });
    const started = await startReplicas({
      config,
      role: 'testing',
      count,
      concurrency: 1,
      prefix,
      surroundings,
      logger: silentLogger(),
    });
    agents = started;
    return { s, agents: started };
  }

  it('names replicas after their prefix, and one alone after the prefix itself', () => {
    expect(replicaIds('testing-ab12cd', 3)).toEqual([
      'testing-ab12cd-1',
      'testing-ab12cd-2',
      'testing-ab12cd-3',
    ]);
    expect(replicaIds('testing-ab12cd', 1)).toEqual(['testing-ab12cd']);
  });

  it('joins 30 agents that the hub knows apart, each running its own share of the tasks once', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    const { s, agents: started } = await start('rep', 30);
    expect(started.map((agent) => agent.agentId)).toEqual(replicaIds('rep', 30));
    await waitUntil(
      () => hub.registry.size === 30,
      10_000,
      () => `${hub.registry.size}/30 registered`,
    );
    await s.submit(
      Array.from({ length: 90 }, (_, i) =>
        s.taskAppending(`r-${i}`, 'testing.run', {}, 'sleep 0.2; '),
      ),
    );
    await waitForComplete(hub, 90, 60_000);
    const runs = countRuns(s.executions());
    expect([...runs.values()].filter((n) => n !== 1)).toEqual([]);
    // Each its own capacity: the work spread over them, not funnelled through one connection.
    expect(new Set(s.executions().map((run) => run.agentId)).size).toBeGreaterThan(15);
  });

  it('stops the replicas it started when one of them cannot start, and says why', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const recorder = await swarm.record('agents/shutdown');
    // The store lists "clash-2" as an operator: an agent of that name cannot be minted.
    swarm.store.add('operator', 'clash-2', undefined);
    await expect(start('clash', 3)).rejects.toThrow(/cannot run agent "clash-2" as role testing/);
    // The two that did start said goodbye: none is left connected.
    await recorder.waitFor(() => recorder.on('agents/shutdown').length === 2, 10_000);
    expect(recorder.on('agents/shutdown').map((m) => m.json)).toHaveLength(2);
  });
});
