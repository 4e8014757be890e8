import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { waitForComplete, waitUntil } from '../helpers/scenarios.js';
import { TestSwarm } from '../helpers/swarm.js';

const SAMPLE_PROJECT = fileURLToPath(new URL('../fixtures/sample-project/', import.meta.url));

interface CommandResult {
  command: string;
  exit_code: number;
  stdout: string;
}

describe('the runbook executor', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  it('runs `npm test` from the testing.run runbook in the project and reports its summary', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    await swarm.startAgent(
      'testing',
      { runbooks: { 'testing.run': ['npm test'] } },
      1,
      SAMPLE_PROJECT,
    );
    // No commands: the type's runbook decides what runs.
    await swarm.submit([{ task_id: 'suite', type: 'testing.run', payload: {} }]);
    await waitForComplete(hub, 1, 60_000);
    const { commands } = hub.ledger.get('suite')?.result as { commands: CommandResult[] };
    expect(commands.map((c) => [c.command, c.exit_code])).toEqual([['npm test', 0]]);
    expect(commands[0]!.stdout).toMatch(/^# pass 2$/m);
    expect(commands[0]!.stdout).toMatch(/^# fail 0$/m);
  });

  it('stops at the first failing command and reports each command it ran', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    await swarm.startAgent('testing');
    await swarm.submit([
      {
        task_id: 'halts',
        type: 'testing.run',
        payload: {},
        commands: ['echo one', 'exit 3', 'echo never'],
        max_attempts: 1,
      },
    ]);
    await waitUntil(() => hub.ledger.get('halts')?.state === 'dead', 10_000);
    const failed = hub.ledger
      .history('halts')
      .find((event) => event.kind === 'failed' || event.kind === 'result');
    const { commands } = failed?.detail as { commands: CommandResult[] };
    expect(commands.map((c) => [c.command, c.exit_code])).toEqual([
      ['echo one', 0],
      ['exit 3', 3],
    ]);
  });

  it('fails a task of a type with no runbook, without retrying, saying how to configure one', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    await swarm.startAgent('security');
    await swarm.submit([{ task_id: 'scan', type: 'security.scan', payload: {} }]);
    await waitUntil(() => hub.ledger.get('scan')?.state === 'dead', 10_000);
    expect(hub.ledger.get('scan')).toMatchObject({
      failures: 0,
      lastError: expect.stringContaining('no runbook configured for task type "security.scan"'),
    });
  });
});
