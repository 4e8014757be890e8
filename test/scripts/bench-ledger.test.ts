import { existsSync } from 'node:fs';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ledgerRatios, storeOrder } from '../../scripts/bench/cases/ledger.mjs';
import { databaseUrl, newestVersion, startPostgres } from '../../scripts/bench/postgres.mjs';
import { verdict } from '../../scripts/bench/report.mjs';
import { summarizeRuns, type Metric } from '../../scripts/bench/stats.mjs';
import { requirePostgres } from '../helpers/postgres.js';

const metric = (key: string, value: number): Metric => ({
  key,
  label: key,
  unit: 'tasks/s',
  value,
});

describe('the ledger bench case (issue 15)', () => {
  it('puts SQLite first in odd runs and PostgreSQL first in even ones', () => {
    expect(storeOrder(1)).toEqual(['sqlite', 'postgres']);
    expect(storeOrder(2)).toEqual(['postgres', 'sqlite']);
    expect(storeOrder(3)).toEqual(['sqlite', 'postgres']);
  });

  it('derives PostgreSQL / SQLite within each run, with the goal of within 2× (≥ 0.5)', () => {
    const ratios = ledgerRatios([
      metric('ledger.sqlite.noop', 200),
      metric('ledger.postgres.noop', 150),
      metric('ledger.sqlite.true', 100),
      metric('ledger.postgres.true', 40),
    ]);
    expect(ratios.map((r) => [r.key, r.value])).toEqual([
      ['ledger.ratio.noop', 0.75],
      ['ledger.ratio.true', 0.4],
    ]);
    expect(ratios[0]!.goal).toMatchObject({ op: '>=', target: 0.5 });
    const rows = summarizeRuns([ratios]);
    expect(verdict(rows[0]!)?.met).toBe(true);
    expect(verdict(rows[1]!)?.met).toBe(false);
  });

  it('reports the median of the paired ratios, not the ratio of medians from different runs', () => {
    // A busy machine in run 2 slowed both stores; the other runs are at par.
    const runs = [
      [metric('ledger.sqlite.noop', 280), metric('ledger.postgres.noop', 270)],
      [metric('ledger.sqlite.noop', 80), metric('ledger.postgres.noop', 105)],
      [metric('ledger.sqlite.noop', 200), metric('ledger.postgres.noop', 110)],
    ].map((run) => [...run, ...ledgerRatios(run)]);
    const ratio = summarizeRuns(runs).find((row) => row.key === 'ledger.ratio.noop')!;
    expect(ratio.median).toBeCloseTo(270 / 280);
  });

  it('derives no ratio for a kind one store did not measure, nor over a zero', () => {
    expect(
      ledgerRatios([
        metric('ledger.sqlite.noop', 200),
        metric('ledger.postgres.true', 40),
        metric('ledger.sqlite.true', 0),
      ]),
    ).toEqual([]);
  });
});

describe("the bench's PostgreSQL helper", () => {
  it('picks the newest numbered PostgreSQL version directory', () => {
    expect(newestVersion(['9', '15', '16', 'common'])).toBe('16');
    expect(newestVersion(['common'])).toBeUndefined();
    expect(newestVersion([])).toBeUndefined();
  });

  it('builds a TCP URL with the database name encoded', () => {
    expect(databaseUrl(5433, 'a b')).toBe(
      'postgres://sheri:sheri-bench-password@127.0.0.1:5433/a%20b',
    );
  });

  it.runIf(requirePostgres())(
    'starts a private server that takes its password, and close() stops it and removes its dir',
    async () => {
      const server = await startPostgres();
      expect(server).toBeDefined();
      let dir: string | undefined;
      try {
        const url = await server!.createDatabase('t');
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          const result = await client.query<{ dir: string }>(
            "SELECT current_setting('data_directory') AS dir",
          );
          dir = result.rows[0]!.dir;
          expect(existsSync(dir)).toBe(true);
        } finally {
          await client.end();
        }
      } finally {
        await server!.close();
      }
      expect(existsSync(dir!)).toBe(false);
      // Stopped: nothing listens on its port any more.
      const late = new pg.Client({ connectionString: databaseUrl(server!.port, 'postgres') });
      await expect(late.connect()).rejects.toThrow();
    },
  );

  it.runIf(requirePostgres())('does not let a client in without the password', async () => {
    const server = await startPostgres();
    try {
      const client = new pg.Client({
        host: '127.0.0.1',
        port: server!.port,
        user: 'sheri',
        password: 'wrong',
        database: 'postgres',
      });
      await expect(client.connect()).rejects.toThrow(/password authentication failed/);
    } finally {
      await server!.close();
    }
  });
});
