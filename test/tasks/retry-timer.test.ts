import { afterEach, describe, expect, it } from 'vitest';
import { waitForComplete } from '../helpers/scenarios.js';
import { TestSwarm } from '../helpers/swarm.js';

describe('retry timers', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  it('grants each retry when its own drawn backoff ends, not at the next lease-check tick', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    // The tick comes once a minute: a retry granted within the test was granted by its timer.
    const hub = await swarm.startHub({ leaseCheckMs: 60_000, retryBaseMs: 600, retryMaxMs: 600 });
    await swarm.startAgent('testing', {}, 8);
    const ids = Array.from({ length: 8 }, (_, i) => `flaky-${i}`);
    await swarm.submit(
      ids.map((id) =>
        swarm.taskAppending(
          id,
          'testing.run',
          {},
          `test -f ${swarm.dir}/${id} || { echo > ${swarm.dir}/${id}; exit 3; }; `,
        ),
      ),
    );
    await waitForComplete(hub, ids.length, 20_000);
    const drawn: number[] = [];
    for (const id of ids) {
      const history = hub.ledger.history(id);
      const failedAt = history.find((event) => event.kind === 'failed')!.at;
      const regrantedAt = history.find((e) => e.kind === 'assigned' && e.attempt === 2)!.at;
      const notBefore = hub.ledger.get(id)!.notBefore;
      // Drawn in [exp/2, exp] (PROTOCOL §5.1), and never granted before it ends.
      expect(notBefore - failedAt).toBeGreaterThanOrEqual(300);
      expect(notBefore - failedAt).toBeLessThanOrEqual(600);
      expect(regrantedAt).toBeGreaterThanOrEqual(notBefore);
      // Far inside the 60 s tick (precision itself is measured by the chaos suite's scenario 8).
      expect(regrantedAt - notBefore).toBeLessThan(1_000);
      drawn.push(notBefore - failedAt);
    }
    // Jitter: eight failures at about the same moment are not retried in lockstep.
    expect(new Set(drawn).size).toBeGreaterThan(1);
  });
});
