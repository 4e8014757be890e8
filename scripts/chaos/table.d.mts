export interface Row {
  scenario: string;
  broker: string;
  submitted?: number;
  completed?: number;
  dead?: number;
  lost?: number;
  duplicateStarts?: number;
  duplicateCompletions?: number;
  wallSeconds?: number;
  criterion?: string;
  pass?: boolean | null;
}
export const COLUMNS: [keyof Row, string, 'left' | 'right'][];
export function formatTable(rows: Row[]): string;
