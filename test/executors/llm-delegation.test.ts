import { afterEach, describe, expect, it } from 'vitest';
import { callTools, FakeLlmServer, say } from '../helpers/fake-llm-server.js';
import { fakeLlm } from '../helpers/llm-swarm.js';
import { waitForComplete } from '../helpers/scenarios.js';
import { runSheri } from '../helpers/sheri-process.js';
import { TestSwarm } from '../helpers/swarm.js';

interface ToolResultSent {
  content: string;
  is_error?: boolean;
}

describe('delegation between roles', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  it('lets a general model hand testing.run to a testing agent and use its result; both tasks linked in task show', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    const recorder = await swarm.record();
    const fake = await FakeLlmServer.start([
      callTools(
        [
          {
            name: 'delegate_task',
            input: {
              type: 'testing.run',
              commands: ['echo "tests passed: 12, failed: 0"'],
              timeout_s: 60,
            },
          },
        ],
        'The tests belong to the testing role.',
      ),
      say('All 12 tests pass; the feature is ready.'),
    ]);
    swarm.onClose(() => fake.close());
    const general = await swarm.startAgent('general', fakeLlm(fake));
    const tester = await swarm.startAgent('testing');
    await swarm.submit([
      { task_id: 'ship-it', type: 'code.generate', payload: {}, prompt: 'Check the feature' },
    ]);
    await waitForComplete(hub, 2, 20_000);

    // The subtask went through the hub like any task, with its parent and depth, to testing.
    const sub = recorder.on('tasks/new').find((m) => m.payload.parent_task_id === 'ship-it');
    expect(sub?.payload).toMatchObject({ type: 'testing.run', depth: 1 });
    const subId = String(sub!.payload.task_id);
    expect(subId).toMatch(/^ship-it\.sub-[0-9a-f]{6}$/);
    const grants = recorder
      .on('tasks/assigned')
      .map((m) => [m.payload.task_id, m.payload.agent_id]);
    expect(grants).toEqual([
      ['ship-it', general.agentId],
      [subId, tester.agentId],
    ]);

    // Its result went back to the first model as the delegate_task result.
    const [result] = fake.requests[1]!.body.messages[2].content as ToolResultSent[];
    expect(result!.is_error).toBeUndefined();
    expect(result!.content).toContain(`subtask ${subId} completed by ${tester.agentId}`);
    expect(result!.content).toContain('tests passed: 12, failed: 0');
    const complete = recorder.on('tasks/complete').find((m) => m.payload.task_id === 'ship-it');
    expect(complete?.payload).toMatchObject({
      result: { text: 'All 12 tests pass; the feature is ready.', tool_calls: 1 },
    });

    // Both visible in `sheri task show`, linked both ways.
    const where = [
      '--broker',
      swarm.brokerUrl,
      '--swarm',
      swarm.swarm,
      '--data-dir',
      swarm.dataDir,
    ];
    const parent = await runSheri(['task', 'show', 'ship-it', ...where]);
    expect(parent.stdout).toContain(`children  ${subId} (complete)`);
    const child = await runSheri(['task', 'show', subId, ...where]);
    expect(child.stdout).toContain('parent    ship-it');
    expect(child.stdout).toContain('state     complete');
  });

  it('returns an unknown task type to the model as an error instead of waiting for ever', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    const fake = await FakeLlmServer.start([
      callTools([{ name: 'delegate_task', input: { type: 'coffee.brew', prompt: 'Make coffee' } }]),
      say('No one brews coffee here.'),
    ]);
    swarm.onClose(() => fake.close());
    await swarm.startAgent('general', fakeLlm(fake));
    await swarm.submit([{ task_id: 'thirsty', type: 'code.generate', payload: {}, prompt: 'Go' }]);
    await waitForComplete(hub, 1, 20_000);
    const [result] = fake.requests[1]!.body.messages[2].content as ToolResultSent[];
    expect(result).toMatchObject({ is_error: true });
    expect(result!.content).toMatch(
      /^Error: unknown task type "coffee\.brew"; types are code\.review, /,
    );
  });
});
