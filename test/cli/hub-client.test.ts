import { afterEach, describe, expect, it } from 'vitest';
import { queryHub } from '../../src/cli/hub-client.js';
import { HubQuery } from '../../src/protocol/messages.js';
import { topicFor } from '../../src/protocol/topic-table.js';
import { TestSwarm } from '../helpers/swarm.js';

describe('queries to the hub', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  it('checks a real answer against the schema of its kind and gives it typed', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    await swarm.startHub();
    await swarm.submit([swarm.taskAppending('waits', 'testing.run')]);
    const operator = await swarm.connectAs({ kind: 'operator' });
    const list = await queryHub(operator, swarm.config(), { kind: 'tasks', limit: 10 });
    expect(list.counts.queued).toBe(1);
    expect(list.tasks.map((task) => task.task_id)).toEqual(['waits']);
    const agents = await queryHub(operator, swarm.config(), { kind: 'agents' });
    expect(agents.agents).toEqual([]);
  });

  it('refuses an answer whose data is not the shape of its kind, instead of printing it', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    // Something holding the hub's credential answers every query with the wrong shape.
    const impostor = await swarm.connectAs({ kind: 'hub' });
    impostor.onMessage((topic, bytes) => {
      const query = impostor.decode(topic, bytes, HubQuery);
      if (!query) return;
      const client = query.payload.reply_to.split('/').at(-1)!;
      const reply = { query_id: query.payload.query_id, ok: true, data: { tasks: 'all of them' } };
      void impostor.publish(topicFor('hubReply', { client }), reply, {
        qos: 0,
        recipient: { name: query.sender.name },
      });
    });
    await impostor.subscribe({ [topicFor('hubQuery')]: 0 });
    const operator = await swarm.connectAs({ kind: 'operator' });
    await expect(queryHub(operator, swarm.config(), { kind: 'tasks' })).rejects.toThrow(
      /the hub's answer to a "tasks" query is not what this sheri understands \(data\.counts: .*data\.tasks: /,
    );
  });

  it('leaves no timer and no unhandled rejection behind when its bus closes before the query is out', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const operator = await swarm.connectAs({ kind: 'operator' });
    const config = { ...swarm.config(), queryTimeoutMs: 300 };
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const query = queryHub(operator, config, { kind: 'agents' });
      const failed = expect(query).rejects.toThrow(/disconnecting|closed/);
      await operator.close();
      await failed;
      // Past the query's timeout: the old code rejected its reply then, with no one to hear it,
      // and the CLI (sheri flow run --wait, seen in CI) ended with exit 3 after its own verdict.
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
