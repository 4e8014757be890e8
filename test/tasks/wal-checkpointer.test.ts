import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Ledger } from '../../src/tasks/ledger.js';
import { CHECKPOINT_EVERY_MS, WalCheckpointer } from '../../src/tasks/wal-checkpointer.js';
import { admitDecision } from '../helpers/decisions.js';
import { waitUntil } from '../helpers/scenarios.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tempDir = tempDirs('sheri-wal-');
const ledgers: Ledger[] = [];
afterEach(() => {
  for (const ledger of ledgers.splice(0)) ledger.close();
});

const ledgerFile = (): string => join(tempDir(), 'ledger.db');

const size = (file: string): number => statSync(file).size;

describe("the ledger's WAL checkpoints", () => {
  it('copies committed pages back into the ledger file from a worker thread, well before SQLite would', async () => {
    const file = ledgerFile();
    const fallbacks: string[] = [];
    const ledger = new Ledger(file, { onCheckpointFallback: (reason) => fallbacks.push(reason) });
    ledgers.push(ledger);
    const before = size(file);
    // ~630 pages of WAL: under the 1,000 at which a commit of SQLite's own would checkpoint.
    for (let i = 0; i < 60; i++) {
      ledger.apply([
        admitDecision({
          task_id: `t${i}`,
          type: 'testing.run',
          payload: { pad: 'x'.repeat(3000) },
        }),
      ]);
    }
    expect(size(`${file}-wal`)).toBeGreaterThan(400 * 4096);
    expect(size(`${file}-wal`)).toBeLessThan(1_000 * 4096);
    await waitUntil(() => size(file) > before + 50 * 4096, 4 * CHECKPOINT_EVERY_MS + 2_000);
    expect(ledger.get('t59')?.state).toBe('queued');
    expect(fallbacks).toEqual([]);
  });

  it('says why, once, when its worker cannot open the ledger', async () => {
    const reasons: string[] = [];
    new WalCheckpointer(join(ledgerFile(), 'not-there.db'), (reason) => reasons.push(reason));
    await waitUntil(() => reasons.length > 0, 5_000);
    await new Promise((resolve) => setTimeout(resolve, 3 * CHECKPOINT_EVERY_MS));
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(/^cannot open the ledger: /);
  });

  it('reports nothing when the ledger closes and its folder goes right after', async () => {
    const file = ledgerFile();
    const fallbacks: string[] = [];
    const ledger = new Ledger(file, { onCheckpointFallback: (reason) => fallbacks.push(reason) });
    ledger.apply([admitDecision({ task_id: 'only', type: 'testing.run', payload: {} })]);
    ledger.close();
    rmSync(join(file, '..'), { recursive: true, force: true });
    await new Promise((resolve) => setTimeout(resolve, 3 * CHECKPOINT_EVERY_MS));
    expect(fallbacks).toEqual([]);
  });
});
