import type { Row } from './stats.mjs';

export interface Group {
  id: string;
  title: string;
  /** Markdown: what the case does. */
  describe?: string;
  rows: Row[];
  /** Why the case did not run. */
  skipped?: string;
  /** Markdown blocks after the table (a script's own output, notes). */
  extras?: string[];
}
export interface Machine {
  cpus: number;
  cpu: string;
  memGiB: number;
  os: string;
  node: string;
  mosquitto: string;
  redis: string;
}
export interface Report {
  machine: Machine;
  command: string;
  date: string;
  runs: number;
  quick: boolean;
  loadBefore: string;
  loadAfter: string;
  underLoad?: boolean;
  groups: Group[];
  notes?: string[];
}
export const BEGIN: string;
export const END: string;
export function formatNumber(value: number): string;
export function formatValue(value: number, unit: string): string;
export function verdict(row: Row): { met: boolean; text: string } | undefined;
export function renderTable(groups: readonly Group[]): string;
export function markdownTable(
  header: readonly string[],
  lines: readonly (readonly string[])[],
  align?: readonly ('left' | 'right')[],
): string;
export function renderMarkdown(report: Report): string;
export function spliceSection(document: string, section: string): string;
