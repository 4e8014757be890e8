import { afterEach, describe, expect, it } from 'vitest';
import { callTools, say } from '../helpers/fake-llm-server.js';
import { LlmTaskHarness } from '../helpers/llm-task.js';
import { runSheri } from '../helpers/sheri-process.js';

describe('costs that cannot be bypassed', () => {
  let harness: LlmTaskHarness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  it('refuses at start an agent whose model has no price when --max-cost is given, before it connects', async () => {
    const run = await runSheri(
      [
        'agent',
        '--role',
        'review',
        '--broker',
        'mqtt://127.0.0.1:9',
        '--model',
        'claude-mythos-5-2',
        '--max-cost',
        '0.01',
      ],
      { env: { ANTHROPIC_API_KEY: 'sk-ant-test' } },
    );
    expect(run.code).toBe(4);
    expect(run.stderr).toContain(
      'no price is known for the model "claude-mythos-5-2", so the cost cap ($0.01 per task, --max-cost / llm.maxCostUsd) could not be enforced',
    );
    expect(run.stderr).not.toContain('connecting to');
  });

  it('stops new prompt tasks once the swarm budget of the day is spent, says so, and shows it in sheri agents', async () => {
    // $2 + $10 per MTok: 10,000 in and 1,000 out cost $0.03.
    harness = await LlmTaskHarness.start([say('First review.', { input: 10_000, output: 1_000 })], {
      hub: { budget: { dailyUsd: 0.03 } },
    });
    const { recorder } = harness;
    await harness.submit({ task_id: 'first' });
    expect((await harness.outcomeOf('first')).complete).toBeDefined();
    // Its grant carried what the budget left it.
    const grant = recorder.on('tasks/assigned').find((m) => m.payload.task_id === 'first');
    expect(grant?.payload.max_cost_usd).toBe(0.03);

    await harness.submit({ task_id: 'second' });
    const second = await harness.outcomeOf('second');
    expect(second.complete).toBeUndefined();
    expect(second.dead).toMatchObject({
      attempts: 0,
      error: expect.stringMatching(
        /^not started: the swarm budget for \d{4}-\d\d-\d\d \(UTC\) is spent: \$0\.0300 of \$0\.03 \(budget\.dailyUsd in the hub's sheri\.config\.json\)$/,
      ),
    });
    expect(harness.fake.requests).toHaveLength(1);
    // Tasks with commands cost no money and still run.
    await harness.swarm.submit([
      { task_id: 'cheap', type: 'code.review', payload: {}, commands: ['echo fine'] },
    ]);
    expect((await harness.outcomeOf('cheap')).complete).toBeDefined();
    // The retained hub/budget says it, for the dashboard.
    await recorder.waitFor(
      () => recorder.on('hub/budget').some((m) => m.payload.refused === 1),
      5_000,
    );
    const agents = await runSheri([
      'agents',
      '--broker',
      harness.swarm.brokerUrl,
      '--swarm',
      harness.swarm.swarm,
      '--data-dir',
      harness.swarm.dataDir,
    ]);
    expect(agents.stdout).toMatch(
      /^budget {2}today \(\d{4}-\d\d-\d\d UTC\) \$0\.0300 of \$0\.03 spent, \$0\.0000 left; 1 prompt task refused$/m,
    );
  });

  it('stops a task at what the swarm budget left it, below its own cap', async () => {
    // Each turn costs $0.03; the budget leaves $0.05, the role's own cap is $5.
    harness = await LlmTaskHarness.start([], {
      hub: { budget: { dailyUsd: 0.05 } },
      fake: {
        whenDone: callTools([{ name: 'list_files', input: {} }], undefined, {
          input: 10_000,
          output: 1_000,
        }),
      },
    });
    await harness.submit({ task_id: 'greedy' });
    const { failed } = await harness.outcomeOf('greedy');
    expect(harness.fake.requests).toHaveLength(2);
    expect(failed[0]).toMatchObject({
      retryable: false,
      error:
        'stopped: the task cost $0.0600, reaching its cap of $0.05 (llm.maxCostUsd, --max-cost, or what the swarm budget left)',
      result: { stopped_by: 'cost_cap' },
    });
  });
});
