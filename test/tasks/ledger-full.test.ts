import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logging/logger.js';
import { Hub } from '../../src/tasks/hub.js';
import { waitUntil } from '../helpers/scenarios.js';
import { TestSwarm } from '../helpers/swarm.js';

/** A small tmpfs at `dir`; false on a developer's machine where mounting is not allowed. */
function mountTmpfs(dir: string, size: string): boolean {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch (error) {
    if (process.env.CI) {
      throw new Error(
        `cannot mount a tmpfs (run as root), and CI must run this test: ${String(error)}`,
      );
    }
    return false;
  }
}

/** Write until the file system says it is full (ENOSPC). */
function fill(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    // The last bytes: a smaller write may still fit.
    try {
      for (;;) writeSync(fd, Buffer.alloc(512, 1));
    } catch {
      // full
    }
  } finally {
    closeSync(fd);
  }
}

/** Whether this machine lets the test mount a tmpfs (root); under CI it must. */
function canMountTmpfs(): boolean {
  const probe = mkdtempSync(join(tmpdir(), 'sheri-tmpfs-probe-'));
  try {
    if (!mountTmpfs(probe, '1m')) return false;
    execFileSync('umount', [probe]);
    return true;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

describe('a full ledger disk', () => {
  let swarm: TestSwarm;
  let mounted = '';
  afterEach(async () => {
    await swarm.close().catch(() => undefined);
    if (mounted) execFileSync('umount', ['-l', mounted]);
    mounted = '';
  });

  it.skipIf(!canMountTmpfs())(
    'loses no accepted task: the hub stalls unacknowledged, says so once, and records everything once space returns',
    async () => {
      swarm = new TestSwarm();
      const disk = join(swarm.dir, 'ledger-disk');
      if (!mountTmpfs(disk, '16m')) throw new Error(`could not mount a tmpfs at ${disk}`);
      mounted = disk;
      await swarm.startBroker();
      const recorder = await swarm.record();
      const hub = await Hub.start({
        config: swarm.config(),
        logger: silentLogger(),
        ledgerPath: join(disk, 'ledger.sqlite'),
      });
      swarm.onClose(() => hub.close());
      const task = (i: number) => ({
        task_id: `t-${i}`,
        type: 'testing.run',
        payload: { padding: 'x'.repeat(4_000) },
        commands: ['true'],
      });
      await swarm.submit(Array.from({ length: 10 }, (_, i) => task(i)));
      await waitUntil(() => hub.ledger.counts().queued === 10, 10_000);

      const filler = join(disk, 'filler');
      fill(filler);
      await swarm.submit(Array.from({ length: 190 }, (_, i) => task(10 + i)));
      const unavailable = () =>
        recorder.on('errors').filter((m) => m.payload.code === 'LEDGER_UNAVAILABLE');
      await recorder.waitFor(() => unavailable().length >= 1, 15_000);
      // The episode lasts a few of the hub's retries (every 200 ms here): still said only once.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(hub.ledger.counts().queued).toBeLessThan(200);
      rmSync(filler);

      await waitUntil(
        () => hub.ledger.counts().queued === 200,
        15_000,
        () =>
          JSON.stringify(hub.ledger.counts()) +
          JSON.stringify(recorder.on('errors').map((m) => [m.payload.code, m.payload.reason])),
      );
      expect(unavailable()).toHaveLength(1);
      expect(unavailable()[0]?.payload.reason).toContain('cannot record to its ledger');
      expect(recorder.on('errors').filter((m) => m.payload.code === 'HUB_INTERNAL')).toEqual([]);
      // Serving again: an agent runs every task.
      await swarm.startAgent('testing', {}, 8);
      await waitUntil(
        () => hub.ledger.counts().complete === 200,
        60_000,
        () =>
          JSON.stringify(hub.ledger.counts()) +
          JSON.stringify(recorder.on('errors').map((m) => m.payload.code)) +
          recorder.on('tasks/cancel/#').length +
          JSON.stringify(hub.ledger.history('t-150')),
      );
      expect(hub.bus.connected).toBe(true);
    },
    120_000,
  );
});
