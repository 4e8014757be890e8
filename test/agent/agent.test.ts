import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitForComplete, waitUntil } from '../helpers/scenarios.js';
import { TestSwarm } from '../helpers/swarm.js';

describe('an agent', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  it('never runs one attempt twice when its grant is delivered again after it finished', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    await swarm.startAgent('testing');
    const recorder = await swarm.record();
    await swarm.submit([swarm.taskAppending('once', 'testing.run')]);
    await waitForComplete(hub, 1, 10_000);

    // The same grant again, byte for byte, as a QoS 1 redelivery (or a replay) would bring it:
    // only the hub may publish there, so it comes from a client with the hub's credential.
    const grant = recorder.on('tasks/assigned')[0]!;
    const hubClient = await swarm.connectAs({ kind: 'hub' });
    await hubClient.publishRaw(grant.local, grant.raw);
    // Messages reach the agent in order: once the next task is done, the replay was handled.
    await swarm.submit([swarm.taskAppending('next', 'testing.run')]);
    await waitForComplete(hub, 2, 10_000);
    expect(swarm.executions().map((run) => run.taskId)).toEqual(['once', 'next']);
  });

  it("runs a task's commands without the API keys and tokens in its own environment", async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    await swarm.startAgent('testing', {
      environment: { ...process.env, ANTHROPIC_API_KEY: 'sk-ant-123', GITHUB_TOKEN: 'ghp_456' },
      shellPolicies: {
        testing: { allow: ['printenv'], deny: [], ask: [], readOnly: false, network: false },
      },
    });
    await swarm.submit([
      { task_id: 'show-env', type: 'testing.run', payload: {}, commands: ['printenv'] },
    ]);
    await waitForComplete(hub, 1, 10_000);
    const result = hub.ledger.get('show-env')?.result as { commands: { stdout: string }[] };
    const shown = result.commands[0]!.stdout;
    expect(shown).toMatch(/^SHERI_TASK_ID=show-env$/m);
    expect(shown).not.toMatch(/ANTHROPIC_API_KEY|GITHUB_TOKEN|sk-ant-123|ghp_456/);
  });
  it('stops the attempt it runs when granted a later attempt of the same task, then runs the new one', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const agent = await swarm.startAgent('testing', { heartbeatMs: 60_000 });
    const recorder = await swarm.record();
    // No hub here: a client with the hub's credential grants, as a hub that re-granted would.
    const hubClient = await swarm.connectAs({ kind: 'hub' });
    const effects = join(swarm.dir, 'effects.log');
    const lines = (): string[] =>
      existsSync(effects) ? readFileSync(effects, 'utf8').split('\n').filter(Boolean) : [];
    const spec = {
      task_id: 'twice-granted',
      type: 'testing.run',
      payload: {},
      commands: [
        `echo "start $SHERI_ATTEMPT" >> ${effects}; sleep 2; echo "done $SHERI_ATTEMPT" >> ${effects}`,
      ],
    };
    const grant = (attempt: number) =>
      hubClient.publish(
        `tasks/assigned/${agent.agentId}`,
        {
          task_id: spec.task_id,
          agent_id: agent.agentId,
          attempt,
          lease_ms: 60_000,
          lease_expires_at: new Date(Date.now() + 60_000).toISOString(),
          task: spec,
          inputs: {},
        },
        { recipient: { name: agent.agentId, role: 'testing' } },
      );
    await grant(1);
    await waitUntil(() => lines().includes('start 1'), 10_000);
    await grant(2);
    await recorder.waitFor(
      () => recorder.on('tasks/complete').some((m) => m.payload.attempt === 2),
      15_000,
    );
    // Attempt 1 was killed within its 2 s sleep: its "done" line never came, and no outcome.
    expect(lines()).toEqual(['start 1', 'start 2', 'done 2']);
    expect(recorder.on('tasks/complete').map((m) => m.payload.attempt)).toEqual([2]);
    expect(recorder.on('tasks/failed')).toEqual([]);
  });
});
