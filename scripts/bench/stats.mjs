// Statistics of `npm run bench`, pure: no I/O, so test/scripts/bench-report.test.ts can check them.

/** The middle value (the mean of the two middle ones for an even count); NaN for none. */
export function median(values) {
  const sorted = finite(values);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * The p-th percentile by nearest rank: the smallest value with at least p % of the values at or
 * below it (p 50 of [1, 2, 3, 4] is 2, p 99 of 100 values the 99th). NaN for none.
 */
export function percentile(values, p) {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be 0 to 100, got ${p}`);
  const sorted = finite(values);
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

/** p50, p95 and p99 of a list of latencies. */
export function latencySummary(values) {
  return { p50: percentile(values, 50), p95: percentile(values, 95), p99: percentile(values, 99) };
}

/**
 * Fold the figures of several runs of a case into one row per figure: its values in run order
 * and their median. A figure missing from a run (that run could not take it) is left out of its
 * median, not counted as zero.
 */
export function summarizeRuns(runs) {
  const rows = new Map();
  for (const metrics of runs) {
    for (const metric of metrics) {
      let row = rows.get(metric.key);
      if (!row) {
        row = { ...metric, values: [] };
        delete row.value;
        rows.set(metric.key, row);
      }
      row.values.push(metric.value);
    }
  }
  return [...rows.values()].map((row) => ({ ...row, median: median(row.values) }));
}

function finite(values) {
  return values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
}
