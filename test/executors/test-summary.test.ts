import { describe, expect, it } from 'vitest';
import { parseAudit, parseCoverage, parseTestSummary } from '../../src/executors/test-summary.js';
import { parseOutputs } from '../../src/executors/step-outputs.js';

describe("test runners' closing lines (tests/results, PROTOCOL §17.6)", () => {
  it("reads node --test's TAP summary and its coverage report", () => {
    const tap =
      '# tests 6\n# suites 2\n# pass 5\n# fail 1\n# cancelled 0\n# skipped 0\n# all files        | 92.31 |    84.21 |  100.00 |\n';
    expect(parseTestSummary(tap)).toEqual({
      passed: 5,
      failed: 1,
      skipped: 0,
      total: 6,
      coverage_pct: 92.31,
      runner: 'node --test',
    });
  });

  it("reads node --test's spec reporter", () => {
    expect(parseTestSummary('ℹ tests 3\nℹ pass 3\nℹ fail 0\n')).toMatchObject({
      passed: 3,
      failed: 0,
      total: 3,
    });
  });

  it('reads vitest, jest, mocha and pytest', () => {
    expect(parseTestSummary('      Tests  1 failed | 3 passed (4)\n')).toMatchObject({
      passed: 3,
      failed: 1,
      total: 4,
      runner: 'vitest',
    });
    expect(parseTestSummary('Tests:       1 failed, 3 passed, 4 total\n')).toMatchObject({
      passed: 3,
      failed: 1,
      total: 4,
      runner: 'jest',
    });
    expect(parseTestSummary('  3 passing (12ms)\n  1 failing\n')).toMatchObject({
      passed: 3,
      failed: 1,
      runner: 'mocha',
    });
    expect(parseTestSummary('===== 3 passed, 1 failed, 2 skipped in 0.12s =====\n')).toMatchObject({
      passed: 3,
      failed: 1,
      skipped: 2,
      runner: 'pytest',
    });
  });

  it('reads the line coverage of an istanbul table (c8, nyc, vitest, jest)', () => {
    expect(parseCoverage('All files |   85.71 |    50 |   100 |   80.5 |\n')).toBe(80.5);
  });

  it('says nothing of output it does not recognise', () => {
    expect(parseTestSummary('all good, probably')).toBeUndefined();
  });
});

describe('npm audit --json (security/scan)', () => {
  it('counts vulnerabilities by severity', () => {
    const report = JSON.stringify({
      metadata: {
        vulnerabilities: { info: 0, low: 1, moderate: 2, high: 0, critical: 1, total: 4 },
      },
    });
    expect(parseAudit(report)).toEqual({
      info: 0,
      low: 1,
      moderate: 2,
      high: 0,
      critical: 1,
      total: 4,
    });
  });

  it('refuses counts that are not counts', () => {
    expect(
      parseAudit(
        JSON.stringify({
          metadata: { vulnerabilities: { info: -1, low: 0, moderate: 0, high: 0, critical: 0 } },
        }),
      ),
    ).toBeUndefined();
    expect(parseAudit('not json')).toBeUndefined();
  });
});

describe('step outputs (PROTOCOL §17.5)', () => {
  it('reads name=value lines, the last one of a name winning', () => {
    expect(parseOutputs('release=r1\nurl=http://x=y\nrelease=r2\n')).toEqual({
      outputs: { release: 'r2', url: 'http://x=y' },
      problems: [],
    });
  });

  it('says which lines are not outputs, and keeps the rest', () => {
    const read = parseOutputs('ok=1\nnot an output\n__proto__=x\n');
    expect(read.outputs).toEqual({ ok: '1' });
    expect(Object.getPrototypeOf(read.outputs)).toBe(Object.prototype);
    expect(read.problems).toEqual([
      'line 2 is not name=value with a name of letters, digits, "_" or "-"',
      'line 3 is not name=value with a name of letters, digits, "_" or "-"',
    ]);
  });
});
