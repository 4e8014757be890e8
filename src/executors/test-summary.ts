/**
 * What a test runner's closing lines say (for `tests/results`, PROTOCOL §17.6), and what
 * `npm audit --json` counts (for `security/scan`). Pure: text in, counts out; undefined when the
 * text says nothing the parser recognises — no event is better than a wrong one.
 */

export interface TestSummary {
  passed: number;
  failed: number;
  skipped?: number;
  total?: number;
  coverage_pct?: number;
  runner: string;
}

export interface AuditCounts {
  info: number;
  low: number;
  moderate: number;
  high: number;
  critical: number;
  total: number;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

const count = (text: string, pattern: RegExp): number | undefined => {
  const match = pattern.exec(text);
  return match ? Number(match[1]) : undefined;
};

export function parseTestSummary(raw: string): TestSummary | undefined {
  const text = raw.replace(ANSI, '');
  const coverage = parseCoverage(text);
  const withCoverage = (summary: TestSummary): TestSummary =>
    coverage === undefined ? summary : { ...summary, coverage_pct: coverage };
  // node --test: "# pass 5" (TAP) or "ℹ pass 5" (spec reporter).
  const nodePass = count(text, /^(?:#|ℹ)\s*pass (\d+)\s*$/m);
  const nodeFail = count(text, /^(?:#|ℹ)\s*fail (\d+)\s*$/m);
  if (nodePass !== undefined && nodeFail !== undefined) {
    const skipped = count(text, /^(?:#|ℹ)\s*skipped (\d+)\s*$/m);
    const total = count(text, /^(?:#|ℹ)\s*tests (\d+)\s*$/m);
    return withCoverage({
      passed: nodePass,
      failed: nodeFail,
      ...(skipped !== undefined ? { skipped } : {}),
      ...(total !== undefined ? { total } : {}),
      runner: 'node --test',
    });
  }
  // vitest: "Tests  1 failed | 3 passed (4)"
  const vitest = /^\s*Tests\s+((?:\d+ \w+(?: \| )?)+)\s*\((\d+)\)/m.exec(text);
  if (vitest) {
    const part = (word: string): number => count(vitest[1]!, new RegExp(`(\\d+) ${word}`)) ?? 0;
    return withCoverage({
      passed: part('passed'),
      failed: part('failed'),
      skipped: part('skipped') + part('todo'),
      total: Number(vitest[2]),
      runner: 'vitest',
    });
  }
  // jest: "Tests:       1 failed, 3 passed, 4 total"
  const jest = /^Tests:\s+(.*\d+ total)\s*$/m.exec(text);
  if (jest) {
    const part = (word: string): number => count(jest[1]!, new RegExp(`(\\d+) ${word}`)) ?? 0;
    return withCoverage({
      passed: part('passed'),
      failed: part('failed'),
      skipped: part('skipped') + part('todo'),
      total: part('total'),
      runner: 'jest',
    });
  }
  // pytest: "==== 3 passed, 1 failed, 2 skipped in 0.12s ===="
  const pytest = /^=+ (.*\d+ (?:passed|failed|error).*) in [\d.]+s(?: \([^)]*\))? =+\s*$/m.exec(
    text,
  );
  if (pytest) {
    const part = (word: string): number => count(pytest[1]!, new RegExp(`(\\d+) ${word}`)) ?? 0;
    return withCoverage({
      passed: part('passed'),
      failed: part('failed') + part('errors?'),
      skipped: part('skipped'),
      runner: 'pytest',
    });
  }
  // mocha: "  3 passing (12ms)", "  1 failing"
  const passing = count(text, /^\s*(\d+) passing\b/m);
  if (passing !== undefined) {
    const pending = count(text, /^\s*(\d+) pending\b/m);
    return withCoverage({
      passed: passing,
      failed: count(text, /^\s*(\d+) failing\b/m) ?? 0,
      ...(pending !== undefined ? { skipped: pending } : {}),
      runner: 'mocha',
    });
  }
  return undefined;
}

/** Line coverage of all files: node's report, istanbul's text table (c8, nyc, vitest, jest), pytest-cov. */
export function parseCoverage(text: string): number | undefined {
  // node: "# all files | 92.31 | 85.71 | 100.00 |" — line % first.
  const node = /^(?:#|ℹ)\s*all files\s*\|\s*([\d.]+)\s*\|/m.exec(text);
  if (node) return clampPct(Number(node[1]));
  // istanbul: "All files |   85.71 |    50 |   100 |   85.71 |" — % Stmts, % Branch, % Funcs, % Lines.
  const istanbul =
    /^\s*All files\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)/m.exec(text);
  if (istanbul) return clampPct(Number(istanbul[4]));
  // pytest-cov: "TOTAL      120     12    90%"
  const pytest = /^TOTAL\s+.*?(\d+(?:\.\d+)?)%\s*$/m.exec(text);
  if (pytest) return clampPct(Number(pytest[1]));
  return undefined;
}

function clampPct(value: number): number | undefined {
  return Number.isFinite(value) && value >= 0 && value <= 100 ? value : undefined;
}

/** `npm audit --json`'s `metadata.vulnerabilities` (npm 6 and later), or undefined. */
export function parseAudit(stdout: string): AuditCounts | undefined {
  let report: unknown;
  try {
    report = JSON.parse(stdout);
  } catch {
    return undefined;
  }
  const counts = (report as { metadata?: { vulnerabilities?: Record<string, unknown> } })?.metadata
    ?.vulnerabilities;
  if (!counts || typeof counts !== 'object') return undefined;
  const keys = ['info', 'low', 'moderate', 'high', 'critical'] as const;
  const out = { info: 0, low: 0, moderate: 0, high: 0, critical: 0, total: 0 };
  for (const key of keys) {
    const value = counts[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) return undefined;
    out[key] = value;
  }
  const total = counts.total;
  out.total =
    typeof total === 'number' && Number.isInteger(total) && total >= 0
      ? total
      : keys.reduce((sum, key) => sum + out[key], 0);
  return out;
}
