export const SCENARIO_IDS: number[];
export class UsageError extends Error {}
export interface ChaosOptions {
  only: number[];
  brokers: ('embedded' | 'mosquitto')[];
  quick: boolean;
  keep: boolean;
  sandbox: 'auto' | 'none';
  doc: boolean;
}
export function parseArgs(argv: string[]): ChaosOptions;
