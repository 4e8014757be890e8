import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { queryHub } from '../../src/cli/hub-client.js';
import { submitAndWait } from '../../src/cli/task-submit.js';
import { TaskWatcher } from '../../src/cli/task-watcher.js';
import type { WatchedTask } from '../../src/cli/wait-reason.js';
import { silentLogger } from '../../src/logging/logger.js';
import { TOPIC } from '../../src/protocol/topics.js';
import { Bus } from '../../src/transport/bus.js';
import { TestSwarm } from '../helpers/swarm.js';

/** An unsigned connection to an open broker: enough to play the hub's part to a watcher. */
async function openBus(swarm: TestSwarm): Promise<Bus> {
  const bus = await Bus.connect({
    url: swarm.brokerUrl,
    swarm: swarm.swarm,
    sender: { agentId: `cli-${randomUUID().slice(0, 6)}`, role: 'cli' },
    clientId: `sheri-cli-${randomUUID().slice(0, 8)}`,
    logger: silentLogger(),
    maxPayloadBytes: 1 << 20,
  });
  swarm.onClose(() => bus.close());
  return bus;
}

const quiet = { out: () => undefined, err: () => undefined };
const grant = (taskId: string, attempt: number) => ({
  task_id: taskId,
  agent_id: `testing-${attempt}`,
  attempt,
  lease_ms: 30_000,
  lease_expires_at: new Date().toISOString(),
  task: { task_id: taskId, type: 'testing.run', payload: {}, commands: ['true'] },
});
const done = (taskId: string, attempt: number) => ({
  task_id: taskId,
  attempt,
  duration_ms: 3,
  result: { commands: [{ command: 'true', exit_code: 0, stdout: '', stderr: '' }] },
});
const complete = (taskId: string, attempt: number): WatchedTask => ({
  task_id: taskId,
  state: 'complete',
  attempt,
  result: { commands: [{ command: 'true', exit_code: 0, stdout: '', stderr: '' }] },
  last_error: null,
});

describe('sheri task submit --wait', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  it('counts an outcome that arrived before the submitter heard the broker acknowledge its task', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker({ open: true });
    const bus = await openBus(swarm);
    const lines: string[] = [];
    const watcher = await TaskWatcher.start(bus, 'quick', randomUUID(), {
      json: false,
      roles: ['testing'],
      ask: () => Promise.resolve(complete('quick', 1)),
      out: (text) => lines.push(text),
      err: () => undefined,
    });
    // The grant and the result reach the watcher before anyone asks it for the outcome (aedes
    // delivers a client's own publishes to it before its PUBACK).
    await bus.publish(`${TOPIC.tasksAssigned}/testing-1`, grant('quick', 1));
    await bus.publish(TOPIC.tasksComplete, done('quick', 1));
    await expect(watcher.outcome()).resolves.toBe(0);
    expect(lines).toEqual(['$ true  (exit 0)\n']);
  });

  it('asks the hub on a result whose grant it has not seen yet, but not on a stale attempt', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker({ open: true });
    const bus = await openBus(swarm);
    let newerSent = false;
    const asked: boolean[] = [];
    const watcher = await TaskWatcher.start(bus, 'again', randomUUID(), {
      json: true,
      roles: ['testing'],
      ask: () => {
        asked.push(newerSent);
        return Promise.resolve(complete('again', 3));
      },
      ...quiet,
    });
    await bus.publish(`${TOPIC.tasksAssigned}/testing-2`, grant('again', 2));
    await bus.publish(TOPIC.tasksComplete, done('again', 1)); // stale: attempt 2 is the live one
    newerSent = true;
    await bus.publish(TOPIC.tasksComplete, done('again', 3)); // grant not seen yet: newer, counts
    await expect(watcher.outcome()).resolves.toBe(0);
    expect(asked).toEqual([true]);
  });

  it('exits 0 on every one of 200 runs of tasks that complete in a few milliseconds', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    await swarm.startHub();
    await swarm.startAgent('testing', {}, 2);
    const config = swarm.config();
    const codes: number[] = [];
    for (let run = 0; run < 200; run++) {
      const bus = await swarm.connectAs({ kind: 'operator' }, { clientId: `sheri-cli-w${run}` });
      try {
        const spec = {
          task_id: `fast-${run}`,
          type: 'testing.run',
          payload: {},
          commands: ['echo done'],
        };
        codes.push(
          await submitAndWait(bus, spec, {
            swarm: swarm.swarm,
            json: false,
            roles: ['testing'],
            waitTimeoutS: 20,
            ask: (query) => queryHub(bus, config, query),
            ...quiet,
          }),
        );
      } finally {
        await bus.close();
      }
    }
    expect(codes.filter((code) => code !== 0)).toEqual([]);
    expect(codes).toHaveLength(200);
  });
});
