import { expect } from 'vitest';
import type { TaskSpec } from '../../src/protocol/messages.js';
import type { Hub } from '../../src/tasks/hub.js';
import { countRuns, type TestSwarm } from './swarm.js';

const MIXED_TYPES = [
  ['testing.run', 'testing'],
  ['testing.coverage', 'testing'],
  ['deployment.deploy', 'deployment'],
  ['deployment.rollback', 'deployment'],
] as const;

/** Poll `check` (for state no bus message announces, like the ledger's) until it holds. */
export async function waitUntil(
  check: () => boolean,
  timeoutMs: number,
  describe: () => string = () => '',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function waitForComplete(hub: Hub, count: number, timeoutMs: number): Promise<void> {
  await waitUntil(
    () => hub.ledger.counts().complete >= count,
    timeoutMs,
    () =>
      `${hub.ledger.counts().complete}/${count} complete: ${JSON.stringify(hub.ledger.counts())}`,
  );
}

/** SPEC §3 scenario 1, shared with the mosquitto suite: 200 mixed tasks, 3 testing + 2 deployment agents. */
export async function runMixedScenario(
  swarm: TestSwarm,
  /** Agent ids, for a broker that knows each agent by name (mosquitto's password file). */
  agentId: (role: string, i: number) => string = (role) =>
    `${role}-${Math.random().toString(36).slice(2, 8)}`,
  /** The hub on its ledger: SQLite by default, or one elected on PostgreSQL. */
  startHub: () => Promise<Hub> = () => swarm.startHub(),
): Promise<void> {
  const hub = await startHub();
  for (let i = 0; i < 3; i++)
    await swarm.startAgent('testing', {}, 2, swarm.dir, agentId('testing', i));
  for (let i = 0; i < 2; i++) {
    await swarm.startAgent('deployment', {}, 2, swarm.dir, agentId('deployment', i));
  }
  const specs: TaskSpec[] = Array.from({ length: 200 }, (_, i) => {
    const [type] = MIXED_TYPES[i % MIXED_TYPES.length]!;
    return swarm.taskAppending(`mixed-${i}`, type);
  });
  await swarm.submit(specs);
  await waitForComplete(hub, 200, 60_000);

  const runs = countRuns(swarm.executions());
  expect(runs.size).toBe(200);
  expect([...runs.values()].filter((n) => n !== 1)).toEqual([]);
  const roleOf = new Map(MIXED_TYPES.map(([type, role]) => [type, role]));
  for (const { taskId, agentId } of swarm.executions()) {
    const index = Number(taskId.split('-')[1]);
    const type = MIXED_TYPES[index % MIXED_TYPES.length]![0];
    expect(
      agentId.startsWith(`${roleOf.get(type)}-`),
      `${taskId} (${type}) ran on ${agentId}`,
    ).toBe(true);
  }
  expect(hub.ledger.counts()).toMatchObject({ complete: 200, queued: 0, assigned: 0, dead: 0 });
}
