export interface Metric {
  /** Unique in a run, e.g. "dispatch.embedded-one.noop". */
  key: string;
  /** What it is, for people. */
  label: string;
  unit: string;
  value: number;
  /** Where the issue sets a target. */
  goal?: Goal;
}
export interface Goal {
  op: '>=' | '<=';
  target: number;
  /** The wording, e.g. "≥ 1.0 × BullMQ". */
  text: string;
}
export interface Row extends Omit<Metric, 'value'> {
  values: number[];
  median: number;
}
export function median(values: readonly number[]): number;
export function percentile(values: readonly number[], p: number): number;
export function latencySummary(values: readonly number[]): {
  p50: number;
  p95: number;
  p99: number;
};
export function summarizeRuns(runs: readonly (readonly Metric[])[]): Row[];
