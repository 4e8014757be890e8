import { describe, expect, it } from 'vitest';
import { formatTable } from '../../../scripts/chaos/table.mjs';
import { parseArgs, UsageError } from '../../../scripts/chaos/args.mjs';

describe('chaos table (scripts/chaos/table.mjs)', () => {
  it('prints one padded markdown row per run with pass, FAIL and n/a', () => {
    const text = formatTable([
      {
        scenario: '1',
        broker: 'embedded',
        submitted: 1000,
        completed: 1000,
        dead: 0,
        lost: 0,
        duplicateStarts: 4,
        duplicateCompletions: 0,
        wallSeconds: 41.26,
        criterion: 'dup starts 4 ≤ in flight 6',
        pass: true,
      },
      { scenario: '5', broker: 'mosquitto', criterion: 'lost 192 | hub exits 1', pass: false },
      { scenario: '6', broker: 'mosquitto', pass: null },
    ]);
    const lines = text.split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(
      /^\| scenario \| broker +\| submitted \| completed \| dead \| lost \|/,
    );
    expect(lines[1]).toMatch(/^\| -+ \| -+ \| -+: \|/);
    expect(lines[2]).toMatch(/\| +41\.3 \|/);
    expect(lines[2]).toMatch(/\| pass +\|$/);
    // A pipe inside a cell is escaped, so the row keeps its columns.
    expect(lines[3]).toContain('lost 192 \\| hub exits 1');
    expect(lines[3]).toContain('**FAIL**');
    expect(lines[4]).toMatch(/\| n\/a +\|$/);
    expect(new Set(lines.map((line) => line.length)).size).toBe(1);
  });
});

describe('chaos command line (scripts/chaos/args.mjs)', () => {
  it('runs everything on both brokers at full counts by default', () => {
    expect(parseArgs([])).toEqual({
      only: [1, 2, 3, 4, 5, 6, 7, 8],
      brokers: ['embedded', 'mosquitto'],
      quick: false,
      keep: false,
      sandbox: 'auto',
      doc: true,
    });
  });

  it('takes --only, --broker, --quick, --sandbox, --keep and --no-doc', () => {
    expect(
      parseArgs([
        '--only',
        '3,1,3',
        '--broker',
        'mosquitto',
        '--quick',
        '--sandbox',
        'none',
        '--keep',
        '--no-doc',
      ]),
    ).toEqual({
      only: [1, 3],
      brokers: ['mosquitto'],
      quick: true,
      keep: true,
      sandbox: 'none',
      doc: false,
    });
  });

  it('refuses a scenario that does not exist, a broker it does not know and a missing value', () => {
    expect(() => parseArgs(['--only', '9'])).toThrow(UsageError);
    expect(() => parseArgs(['--only', '1,x'])).toThrow(/scenario numbers 1–8/);
    expect(() => parseArgs(['--broker', 'emqx'])).toThrow(/embedded, mosquitto or both/);
    expect(() => parseArgs(['--only'])).toThrow(/needs a value/);
    expect(() => parseArgs(['--only', '--quick'])).toThrow(/needs a value/);
    expect(() => parseArgs(['--fast'])).toThrow(/unknown option `--fast`/);
  });
});
