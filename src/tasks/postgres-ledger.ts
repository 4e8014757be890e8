import pg from 'pg';
import { redactText } from '../logging/redact.js';
import type { Decision } from './decisions.js';
import { Ledger, type LedgerRows } from './ledger.js';
import {
  LeadershipLost,
  type ApprovalEvent,
  type LedgerStore,
  type Spend,
} from './ledger-store.js';
import { FlowRowsCopy, readFlowRows, type FlowRows } from './postgres-flow-rows.js';
import { opsOf, spendOp, type LedgerOp } from './postgres-ops.js';
import { migrate } from './postgres-schema.js';
import type { TaskEvent, TaskRecord, TaskState } from './task-record.js';

/** SQLSTATE that sheri_apply raises when the caller's epoch no longer leads (postgres-schema.ts). */
const FENCED = 'SH409';

/** BIGINT columns (milliseconds, seq) as numbers: they stay far below 2^53. */
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** `postgres://user:secret@host/db?password=…` without its password, for logs and errors. */
export function redactLedgerUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '';
    for (const key of [...parsed.searchParams.keys()]) {
      if (/pass|secret|key/i.test(key)) parsed.searchParams.set(key, '[Redacted]');
    }
    return parsed.toString();
  } catch {
    return 'postgres://[unparsable URL]';
  }
}

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/** A client of the ledger's database whose errors never say its password. */
export async function connectLedger(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, types: TYPES });
  // A connection lost later is an error on the next query; unheard, it would end the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw ledgerError(url, error);
  }
  return client;
}

/** A database error, said with the ledger's URL (no password) and nothing of the password. */
export function ledgerError(url: string, error: unknown): Error {
  let message = redactText((error as Error).message ?? String(error));
  const password = safePassword(url);
  if (password) message = message.split(password).join('[Redacted]');
  const wrapped = new Error(`PostgreSQL ledger ${redactLedgerUrl(url)}: ${message}`);
  (wrapped as Error & { code?: unknown }).code = (error as { code?: unknown }).code;
  return wrapped;
}

function safePassword(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return '';
  }
}

/**
 * The ledger on PostgreSQL, for several hubs on one database (hub-election.ts). The tables are
 * SQLite's (postgres-schema.ts); every write goes through `sheri_apply`, which refuses it unless
 * `epoch` still leads. The hub reads synchronously (ledger-store.ts), so this store keeps a copy
 * of the ledger in an in-memory SQLite Ledger: loaded in one snapshot when the hub takes the
 * lead, changed with each turn before the turn goes to PostgreSQL, and thrown away with the
 * hub when a write fails (the next leader loads the database again). A turn is one statement:
 * one round trip, one transaction. Spending and pruning, which the hub records between turns,
 * go in the next turn's statement; the messages that carried spending stay unacknowledged
 * until then, so a crash loses none of it. The flows' and schedules' tables live in the copy
 * too (the hub's flow stores are made on `local`); each row they write, in the turn or between
 * turns, goes with the next turn's statement as it then is (postgres-flow-rows.ts).
 */
export class PostgresLedger implements LedgerStore {
  readonly location: string;
  private pending: LedgerOp[] = [];
  private closed = false;

  private constructor(
    private readonly client: pg.Client,
    private readonly url: string,
    private readonly epoch: number,
    private readonly copy: Ledger,
    private readonly flowRows: FlowRowsCopy,
  ) {
    this.location = redactLedgerUrl(url);
  }

  /** Connect, migrate, and load the ledger; writes will carry `epoch` (the caller's lead). */
  static async open(url: string, epoch: number): Promise<PostgresLedger> {
    const client = await connectLedger(url);
    const copy = new Ledger(':memory:');
    let flowRows: FlowRowsCopy;
    try {
      await migrate(client);
      const rows = await readRows(client);
      copy.importRows(rows.ledger);
      flowRows = new FlowRowsCopy(copy.database, rows.flows);
    } catch (error) {
      copy.close();
      await client.end().catch(() => undefined);
      throw ledgerError(url, error);
    }
    return new PostgresLedger(client, url, epoch, copy, flowRows);
  }

  apply(decisions: readonly Decision[], alongside?: () => void): void | Promise<void> {
    if (this.closed) throw new Error(`ledger ${this.location} is closed`);
    this.copy.apply(decisions, alongside);
    // The flows' and schedules' rows the turn wrote (and any written since the last turn).
    const ops = [...this.pending, ...decisions.flatMap(opsOf), ...this.flowRows.takeOps()];
    this.pending = [];
    // A turn that changed nothing costs no round trip.
    if (ops.length === 0) return;
    return this.client
      .query('SELECT sheri_apply($1, $2::jsonb)', [this.epoch, JSON.stringify(ops)])
      .then(
        () => undefined,
        (error: unknown) => {
          if ((error as { code?: unknown }).code === FENCED) {
            throw new LeadershipLost(
              `the ledger refused a write of epoch ${this.epoch}: another hub leads now`,
            );
          }
          throw ledgerError(this.url, error);
        },
      );
  }

  get local(): Ledger {
    return this.copy;
  }

  recordSpend(spend: Spend): void {
    if (this.copy.hasSpend(spend.taskId, spend.attempt)) return;
    this.copy.recordSpend(spend);
    this.pending.push(spendOp(spend));
  }

  prune(before: number, limit?: number): number {
    const ids = this.copy.pruneIds(before, limit);
    if (ids.length > 0) this.pending.push({ op: 'prune', ids });
    return ids.length;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.copy.close();
    await this.client.end().catch(() => undefined);
  }

  get(taskId: string): TaskRecord | undefined {
    return this.copy.get(taskId);
  }
  withKey(key: string): TaskRecord | undefined {
    return this.copy.withKey(key);
  }
  stateOf(taskId: string): TaskState | undefined {
    return this.copy.stateOf(taskId);
  }
  needsOf(taskId: string): { taskId: string; state: TaskState | null; result: unknown }[] {
    return this.copy.needsOf(taskId);
  }
  lastSeq(): number {
    return this.copy.lastSeq();
  }
  unfinished(): TaskRecord[] {
    return this.copy.unfinished();
  }
  wasGranted(taskId: string, attempt: number, agentId: string): boolean {
    return this.copy.wasGranted(taskId, attempt, agentId);
  }
  approvalEvents(): ApprovalEvent[] {
    return this.copy.approvalEvents();
  }
  list(filter: { state?: string; limit?: number }): TaskRecord[] {
    return this.copy.list(filter);
  }
  childrenOf(taskId: string): TaskRecord[] {
    return this.copy.childrenOf(taskId);
  }
  history(taskId: string): TaskEvent[] {
    return this.copy.history(taskId);
  }
  counts(): Record<TaskState, number> {
    return this.copy.counts();
  }
  spent(filter: { day: string } | { flowId: string }): number {
    return this.copy.spent(filter);
  }
  hasSpend(taskId: string, attempt: number): boolean {
    return this.copy.hasSpend(taskId, attempt);
  }
}

/** Every row, from one snapshot of the database. */
async function readRows(client: pg.Client): Promise<{ ledger: LedgerRows; flows: FlowRows }> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const tasks = await client.query<LedgerRows['tasks'][number]>(
      'SELECT * FROM tasks ORDER BY seq',
    );
    const needs = await client.query<LedgerRows['needs'][number]>(
      'SELECT task_id, need_id FROM task_needs',
    );
    const events = await client.query<LedgerRows['events'][number]>(
      'SELECT task_id, at, kind, agent_id, attempt, detail FROM task_events ORDER BY id',
    );
    const spend = await client.query<LedgerRows['spend'][number]>(
      'SELECT task_id, attempt, agent_id, flow_id, day, cost_usd FROM llm_spend',
    );
    return {
      ledger: { tasks: tasks.rows, needs: needs.rows, events: events.rows, spend: spend.rows },
      flows: await readFlowRows(client),
    };
  } finally {
    await client.query('COMMIT');
  }
}
