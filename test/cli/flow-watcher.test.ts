import { afterEach, describe, expect, it } from 'vitest';
import { NO_PAINT } from '../../src/cli/flow-view.js';
import { FlowWatcher } from '../../src/cli/flow-watcher.js';
import type { FlowDefinition } from '../../src/protocol/flow-messages.js';
import { waitUntil } from '../helpers/scenarios.js';
import { TestSwarm } from '../helpers/swarm.js';

const timers = (): number =>
  process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;

describe('following a submitted flow', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  it('leaves no timer running when the hub refused the flow before the watch began (seen in CI: the CLI lived on)', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const operator = await swarm.connectAs({ kind: 'operator' });
    const hub = await swarm.connectAs({ kind: 'hub' });
    const definition = {
      name: 'lint',
      steps: [{ id: 'lint', type: 'lint.run', commands: ['true'], needs: [] }],
    } as unknown as FlowDefinition;
    const watcher = await FlowWatcher.start(operator, 'lint-1', 'message-1', definition, {
      live: false,
      paint: NO_PAINT,
      detail: () => Promise.reject(new Error('not asked in this test')),
      write: () => undefined,
      columns: () => 100,
    });
    let refused = false;
    operator.onMessage((topic) => {
      if (topic === 'errors') refused = true;
    });
    // The hub's refusal comes before the submitter's own publish has returned (its PUBACK).
    await hub.publish('errors', {
      code: 'SCHEMA_INVALID',
      reason: 'flow lint-1 is refused: steps[0].type: unknown task type "lint.run"',
      topic: `${swarm.swarm}/flows/new`,
      reporter: 'hub',
      message_id: 'message-1',
    });
    await waitUntil(() => refused, 5_000);
    const before = timers();

    const verdict = await watcher.outcome();
    watcher.stop();
    expect(verdict).toMatchObject({
      code: 2,
      refused: expect.stringMatching(/^rejected by hub: flow lint-1 is refused/),
    });
    expect(timers()).toBe(before);
  });
});
