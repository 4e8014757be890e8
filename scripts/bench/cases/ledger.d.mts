import type { Row } from '../stats.mjs';

export function storeOrder(run: number): ('sqlite' | 'postgres')[];
export function deriveLedgerRatios(rows: readonly Row[]): Row[];
export const ledger: {
  id: string;
  name: string;
  title: string;
  describe: string;
  derive(rows: readonly Row[]): Row[];
};
