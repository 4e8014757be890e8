import { describe, expect, it } from 'vitest';
import {
  BEGIN,
  END,
  formatNumber,
  renderMarkdown,
  renderTable,
  spliceSection,
  verdict,
  type Group,
  type Report,
} from '../../scripts/bench/report.mjs';
import { latencySummary, median, percentile, summarizeRuns } from '../../scripts/bench/stats.mjs';

const row = (over: Partial<Group['rows'][number]> = {}): Group['rows'][number] => ({
  key: 'k',
  label: 'a figure',
  unit: 'ms',
  values: [1],
  median: 1,
  ...over,
});

const report = (groups: Group[], over: Partial<Report> = {}): Report => ({
  machine: {
    cpus: 2,
    cpu: 'AMD EPYC',
    memGiB: 24,
    os: 'Debian GNU/Linux 12 (bookworm)',
    node: 'v20.20.2',
    mosquitto: '2.0.11',
    redis: 'Redis server v=7.0.15',
  },
  command: 'npm run bench -- --quick',
  date: '2026-12-01T12:00:00Z',
  runs: 3,
  quick: false,
  loadBefore: '0.10 0.20 0.30',
  loadAfter: '1.90 1.00 0.50',
  groups,
  ...over,
});

describe('bench statistics', () => {
  it('takes the middle value of an odd count and the mean of the middle two of an even one', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
  });

  it('gives NaN for no values and leaves out values that are not numbers', () => {
    expect(median([])).toBeNaN();
    expect(median([Number.NaN, 2, Number.POSITIVE_INFINITY, 4])).toBe(3);
    expect(percentile([], 50)).toBeNaN();
  });

  it('does not sort the caller’s array', () => {
    const values = [3, 1, 2];
    median(values);
    percentile(values, 99);
    expect(values).toEqual([3, 1, 2]);
  });

  it('takes percentiles by nearest rank', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 … 1, unsorted
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 95)).toBe(95);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
    expect(percentile(hundred, 0)).toBe(1);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(latencySummary([10, 20, 30])).toEqual({ p50: 20, p95: 30, p99: 30 });
  });

  it('refuses a percentile outside 0 to 100 rather than answering with a wrong value', () => {
    expect(() => percentile([1, 2], 101)).toThrow(/0 to 100, got 101/);
    expect(() => percentile([1, 2], Number.NaN)).toThrow(RangeError);
  });

  it('folds runs into one row per figure, values in run order, a missing figure left out', () => {
    const goal = { op: '<=' as const, target: 5, text: '≤ 5 ms' };
    const rows = summarizeRuns([
      [
        { key: 'a', label: 'A', unit: 'ms', value: 3, goal },
        { key: 'b', label: 'B', unit: 's', value: 10 },
      ],
      [{ key: 'a', label: 'A', unit: 'ms', value: 1, goal }],
      [
        { key: 'a', label: 'A', unit: 'ms', value: 2, goal },
        { key: 'b', label: 'B', unit: 's', value: 30 },
      ],
    ]);
    expect(rows).toEqual([
      { key: 'a', label: 'A', unit: 'ms', goal, values: [3, 1, 2], median: 2 },
      { key: 'b', label: 'B', unit: 's', values: [10, 30], median: 20 },
    ]);
  });
});

describe('bench verdicts', () => {
  it('says a ceiling met and by how much it is under', () => {
    const result = verdict(row({ median: 1.5, goal: { op: '<=', target: 2, text: '≤ 2 ms' } }));
    expect(result).toEqual({ met: true, text: 'met, 0.500 ms (25.0 %) under' });
  });

  it('says a ceiling missed by how much, in the unit and in % of the target', () => {
    const result = verdict(row({ median: 13, goal: { op: '<=', target: 5, text: '≤ 5 ms' } }));
    expect(result).toEqual({ met: false, text: 'missed by 8.00 ms (160 %)' });
  });

  it('says a floor missed or met, the target itself counting as met', () => {
    const floor = { op: '>=' as const, target: 1, text: '≥ 1.0 × BullMQ' };
    expect(verdict(row({ unit: '×', median: 0.18, goal: floor }))).toEqual({
      met: false,
      text: 'missed by 0.820 × (82.0 %)',
    });
    expect(verdict(row({ unit: '×', median: 1, goal: floor }))?.met).toBe(true);
    expect(verdict(row({ unit: '×', median: 1.25, goal: floor }))?.text).toBe(
      'met, 0.250 × (25.0 %) above',
    );
  });

  it('does not call a figure that was not measured met', () => {
    const result = verdict(row({ median: Number.NaN, goal: { op: '<=', target: 5, text: '' } }));
    expect(result).toEqual({ met: false, text: 'not measured' });
    expect(verdict(row())).toBeUndefined();
  });

  it('formats figures with thousands separated and decimals by size', () => {
    expect(formatNumber(3862.4)).toBe('3,862');
    expect(formatNumber(16.94)).toBe('16.9');
    expect(formatNumber(2.104)).toBe('2.10');
    expect(formatNumber(0.9)).toBe('0.900');
    expect(formatNumber(Number.NaN)).toBe('n/a');
  });
});

describe('bench table and report', () => {
  const goal = { op: '<=' as const, target: 5, text: '≤ 5 ms' };
  const groups: Group[] = [
    {
      id: '4',
      title: 'Claim latency',
      describe: 'What it does.',
      rows: [
        row({ key: 'p50', label: 'at 100/s p50', values: [2, 3, 4], median: 3 }),
        row({ key: 'p99', label: 'at 100/s p99', values: [9, 13, 20], median: 13, goal }),
      ],
      extras: ['```\nraw output | with a pipe\n```'],
    },
    { id: '3', title: 'BullMQ', rows: [], skipped: 'redis-server is not installed' },
  ];

  it('aligns the text table in columns and names each case, a skipped one with its reason', () => {
    const lines = renderTable(groups).split('\n');
    expect(lines[0]).toMatch(/^figure\s+median\s+runs\s+goal\s+verdict$/);
    expect(lines).toContain('[4] Claim latency');
    expect(lines).toContain('[3] BullMQ: skipped (redis-server is not installed)');
    const p99 = lines.find((line) => line.startsWith('at 100/s p99'))!;
    expect(p99).toMatch(
      /13\.0 ms\s+9\.00 \/ 13\.0 \/ 20\.0\s+≤ 5 ms\s+missed by 8\.00 ms \(160 %\)/,
    );
    // Every cell starts in the same column as its header.
    const header = lines[0]!;
    expect(p99.indexOf('13.0 ms')).toBe(header.indexOf('median'));
    expect(p99.indexOf('≤ 5 ms')).toBe(header.indexOf('goal'));
  });

  it('writes the machine, the command, the date, every figure with its goal and verdict', () => {
    const markdown = renderMarkdown(report(groups));
    expect(markdown).toContain(
      '- Machine: 2 × AMD EPYC, 24 GiB RAM, Debian GNU/Linux 12 (bookworm), Node v20.20.2, mosquitto 2.0.11, Redis server v=7.0.15.',
    );
    expect(markdown).toContain('`npm run bench -- --quick`');
    expect(markdown).toContain('2026-12-01T12:00:00Z');
    expect(markdown).toContain('every case 3 times');
    expect(markdown).toContain('### 4. Claim latency\n\nWhat it does.');
    expect(markdown).toContain(
      '| at 100/s p99 | 13.0 ms | 9.00 / 13.0 / 20.0 | ≤ 5 ms | **missed by 8.00 ms (160 %)** |',
    );
    expect(markdown).toContain('| at 100/s p50 | 3.00 ms | 2.00 / 3.00 / 4.00 |  |  |');
    expect(markdown).toContain('Skipped: redis-server is not installed.');
    expect(markdown).toContain('```\nraw output | with a pipe\n```');
    expect(markdown).toContain('0 of 1 figures with a goal met in this run.');
    expect(markdown).toContain('| ≤ 5 ms | at 100/s p99 | 13.0 ms | missed by 8.00 ms (160 %) |');
    expect(markdown).not.toContain('Taken under load');
    expect(markdown).not.toContain('--quick` smoke run');
  });

  it('marks a run taken under load and a quick run as such', () => {
    const markdown = renderMarkdown(report(groups, { underLoad: true, quick: true }));
    expect(markdown).toContain('**Taken under load**');
    expect(markdown).toContain('**a `--quick` smoke run**');
  });

  it('escapes a pipe inside a table cell so the row keeps its columns', () => {
    const markdown = renderMarkdown(
      report([{ id: '1', title: 'x', rows: [row({ label: 'a | b', median: 1 })] }]),
    );
    expect(markdown).toContain('| a \\| b | 1.00 ms |');
  });
});

describe('bench section of docs/BENCHMARKS.md', () => {
  const section = '## `npm run bench`\n\nfigures\n';

  it('goes after the title of a document that has none yet, the rest kept', () => {
    const document = '# Benchmarks\n\n## Fault run\n\nchaos figures\n';
    const spliced = spliceSection(document, section);
    expect(spliced).toBe(
      `# Benchmarks\n\n${BEGIN}\n\n## \`npm run bench\`\n\nfigures\n\n${END}\n\n## Fault run\n\nchaos figures\n`,
    );
  });

  it('replaces only the section between its markers when run again', () => {
    const once = spliceSection('# Benchmarks\n\n## Fault run\n', section);
    const twice = spliceSection(once, '## `npm run bench`\n\nnew figures\n');
    expect(twice).toContain('new figures');
    expect(twice).not.toMatch(/\nfigures\n/);
    expect(twice.split(BEGIN)).toHaveLength(2);
    expect(twice.endsWith('## Fault run\n')).toBe(true);
  });

  it('refuses a document with one marker and not the other instead of losing text', () => {
    expect(() => spliceSection(`# B\n\n${BEGIN}\n\nhand-written\n`, section)).toThrow(
      /one bench marker/,
    );
  });
});
