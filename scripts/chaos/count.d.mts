export interface SideEffect {
  taskId: string;
  attempt: number;
  agentId: string;
}
export interface LedgerRow {
  task_id: string;
  state: string;
}
export interface LedgerEvent {
  task_id: string;
  at: number;
  kind: string;
}
export interface Outcome {
  submitted: number;
  completed: number;
  dead: number;
  lost: number;
  lostIds: string[];
  unrecorded: number;
  neverStarted: number;
  duplicateStarts: number;
  duplicateCompletions: number;
}
export interface RetryDelay {
  taskId: string;
  failure: number;
  delayMs: number;
  /** The delay the hub drew (PROTOCOL §5.1), where known. */
  drawnMs?: number;
}
export interface Spread {
  failure: number;
  samples: number;
  minMs: number;
  maxMs: number;
  spreadMs: number;
  jitter: boolean;
}
export function parseSideEffects(text: string): SideEffect[];
export function countDuplicates(lines: SideEffect[]): number;
export function countOutcome(input: {
  submitted: string[];
  ledger: LedgerRow[];
  starts: SideEffect[];
  done: SideEffect[];
}): Outcome;
export function inFlight(starts: SideEffect[], done: SideEffect[], agentId: string): number;
export function retryDelays(events: LedgerEvent[]): RetryDelay[];
export function attachDrawn(
  delays: RetryDelay[],
  drawn: { taskId: string; delayMs: number }[],
): RetryDelay[];
export function backoffWindow(
  failure: number,
  baseMs: number,
  maxMs: number,
): { low: number; high: number };
export function judgeBackoff(
  delays: RetryDelay[],
  options: { baseMs: number; maxMs: number; tolerance?: number; minSpread?: number },
): { outside: RetryDelay[]; spreads: Spread[]; pass: boolean };
