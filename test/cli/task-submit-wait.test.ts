import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { submitAndWait } from '../../src/cli/task-submit.js';
import { TaskWatcher } from '../../src/cli/task-watcher.js';
import { silentLogger } from '../../src/logging/logger.js';
import { TOPIC } from '../../src/protocol/topics.js';
import { Bus } from '../../src/transport/bus.js';
import { TestSwarm } from '../helpers/swarm.js';

/** A CLI's own connection, as `sheri task submit` opens one. */
async function cliBus(swarm: TestSwarm): Promise<Bus> {
  return Bus.connect({
    url: swarm.brokerUrl,
    swarm: swarm.swarm,
    sender: { agentId: `cli-${randomUUID().slice(0, 6)}`, role: 'cli' },
    clientId: `sheri-cli-${randomUUID().slice(0, 8)}`,
    logger: silentLogger(),
    maxPayloadBytes: 1 << 20,
  });
}

const quiet = { out: () => undefined, err: () => undefined };

describe('sheri task submit --wait', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  it('counts an outcome that arrived before the submitter heard the broker acknowledge its task', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const bus = await cliBus(swarm);
    swarm.onClose(() => bus.close());
    const lines: string[] = [];
    const watcher = await TaskWatcher.start(bus, 'quick', randomUUID(), {
      json: false,
      roles: ['testing'],
      out: (text) => lines.push(text),
      err: () => undefined,
    });
    // The grant and the result reach the watcher before anyone asks it for the outcome (aedes
    // delivers a client's own publishes to it before its PUBACK).
    const task = { task_id: 'quick', type: 'testing.run', payload: {}, commands: ['true'] };
    await bus.publish(TOPIC.tasksAssigned, {
      task_id: 'quick',
      agent_id: 'testing-1',
      attempt: 1,
      lease_ms: 30_000,
      lease_expires_at: new Date().toISOString(),
      task,
    });
    await bus.publish(TOPIC.tasksComplete, {
      task_id: 'quick',
      attempt: 1,
      duration_ms: 3,
      result: { commands: [{ command: 'true', exit_code: 0, stdout: '', stderr: '' }] },
    });
    await expect(watcher.outcome()).resolves.toBe(0);
    expect(lines).toEqual(['$ true  (exit 0)\n']);
  });

  it('counts a result whose grant it has not seen yet, but not a stale attempt', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const bus = await cliBus(swarm);
    swarm.onClose(() => bus.close());
    const printed: string[] = [];
    const watcher = await TaskWatcher.start(bus, 'again', randomUUID(), {
      json: true,
      roles: ['testing'],
      out: (text) => printed.push(text),
      err: () => undefined,
    });
    const grant = (attempt: number) => ({
      task_id: 'again',
      agent_id: `testing-${attempt}`,
      attempt,
      lease_ms: 30_000,
      lease_expires_at: new Date().toISOString(),
      task: { task_id: 'again', type: 'testing.run', payload: {}, commands: ['true'] },
    });
    const done = (attempt: number) => ({ task_id: 'again', attempt, duration_ms: 1, result: {} });
    await bus.publish(TOPIC.tasksAssigned, grant(2));
    await bus.publish(TOPIC.tasksComplete, done(1)); // stale: attempt 2 is the live one
    await bus.publish(TOPIC.tasksComplete, done(3)); // its grant not seen yet: newer, so it counts
    await expect(watcher.outcome()).resolves.toBe(0);
    expect(printed.map((text) => JSON.parse(text).attempt)).toEqual([3]);
  });

  it('exits 0 on every one of 200 runs of tasks that complete in a few milliseconds', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    await swarm.startHub();
    await swarm.startAgent('testing', {}, 2);
    const codes: number[] = [];
    for (let run = 0; run < 200; run++) {
      const bus = await cliBus(swarm);
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
