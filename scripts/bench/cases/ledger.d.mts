import type { Metric } from '../stats.mjs';

export function storeOrder(run: number): ('sqlite' | 'postgres')[];
export function ledgerRatios(metrics: readonly Metric[]): Metric[];
export const ledger: {
  id: string;
  name: string;
  title: string;
  describe: string;
};
