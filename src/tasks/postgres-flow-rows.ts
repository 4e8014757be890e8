import type Database from 'better-sqlite3';
import type pg from 'pg';
import { FLOW_SQL } from './flow-store.js';
import type { LedgerOp } from './postgres-ops.js';
import { SCHEDULE_SQL } from './schedules.js';

/**
 * The flows' and schedules' tables (flow-store.ts, schedules.ts) on the PostgreSQL ledger.
 * Those stores write SQL to the PostgreSQL store's in-memory copy (postgres-ledger.ts), in the
 * turn's transaction (`flows.record()`) and a few times between turns (the config's schedules
 * at start, a schedule registered or removed by a query, finished flows pruned). Triggers on
 * the copy note each row any of these touched; the next turn's statement carries the row as it
 * now is (or its deletion), so whatever writes the stores make, and wherever, PostgreSQL gets
 * them in a fenced `sheri_apply`, at the latest with the next turn.
 */
interface SideTable {
  name: 'flows' | 'flow_steps' | 'schedules';
  keys: readonly string[];
  /** The `sheri_apply` operations: the row as it is, the row gone. */
  put: string;
  gone: string;
}

const TABLES: readonly SideTable[] = [
  { name: 'flows', keys: ['flow_id'], put: 'flow', gone: 'flow_gone' },
  { name: 'flow_steps', keys: ['flow_id', 'step_id'], put: 'step', gone: 'step_gone' },
  { name: 'schedules', keys: ['name'], put: 'schedule', gone: 'schedule_gone' },
];

/** Rows of the three tables, as read from PostgreSQL at takeover. */
export type FlowRows = Record<SideTable['name'], Record<string, unknown>[]>;

/** The flows' rows of one snapshot: the caller's transaction (postgres-ledger.ts readRows). */
export async function readFlowRows(client: pg.ClientBase): Promise<FlowRows> {
  const rows = {} as FlowRows;
  for (const table of TABLES) {
    const result = await client.query<Record<string, unknown>>(
      `SELECT * FROM ${table.name} ORDER BY ${table.keys.join(', ')}`,
    );
    rows[table.name] = result.rows;
  }
  return rows;
}

/**
 * The copy's flows' tables, and which of their rows were written since the last turn's
 * statement. Made before the flow and schedule stores are made on the copy.
 */
export class FlowRowsCopy {
  private readonly touched;
  private readonly untouch;
  private readonly rowOf;

  /** The tables filled with `rows`, then watched: from here on every row written is noted. */
  constructor(db: Database.Database, rows: FlowRows) {
    db.exec(FLOW_SQL);
    db.exec(SCHEDULE_SQL);
    db.transaction(() => {
      for (const table of TABLES) {
        for (const row of rows[table.name]) {
          const columns = Object.keys(row);
          db.prepare(
            `INSERT INTO ${table.name} (${columns.join(', ')})
               VALUES (${columns.map((column) => `@${column}`).join(', ')})`,
          ).run(row);
        }
      }
    })();
    // No key to dedupe on: an UPSERT's conflict handling overrides its triggers' (SQLite's
    // "OR IGNORE" in a trigger failed on the schedules' ON CONFLICT DO UPDATE); takeOps dedupes.
    db.exec('CREATE TABLE sheri_touched (tbl TEXT NOT NULL, k1 TEXT NOT NULL, k2 TEXT NOT NULL)');
    for (const table of TABLES) {
      const note = (row: 'NEW' | 'OLD'): string =>
        `INSERT INTO sheri_touched VALUES ('${table.name}', ${row}.${table.keys[0]}, ` +
        `${table.keys[1] ? `${row}.${table.keys[1]}` : "''"});`;
      db.exec(`
        CREATE TRIGGER ${table.name}_put AFTER INSERT ON ${table.name} BEGIN ${note('NEW')} END;
        CREATE TRIGGER ${table.name}_set AFTER UPDATE ON ${table.name}
          BEGIN ${note('OLD')} ${note('NEW')} END;
        CREATE TRIGGER ${table.name}_gone AFTER DELETE ON ${table.name} BEGIN ${note('OLD')} END;
      `);
    }
    this.touched = db.prepare<[], { tbl: SideTable['name']; k1: string; k2: string }>(
      'SELECT DISTINCT tbl, k1, k2 FROM sheri_touched',
    );
    this.untouch = db.prepare('DELETE FROM sheri_touched');
    this.rowOf = new Map(
      TABLES.map((table) => [
        table.name,
        db.prepare<string[], Record<string, unknown>>(
          `SELECT * FROM ${table.name} WHERE ${table.keys.map((key) => `${key} = ?`).join(' AND ')}`,
        ),
      ]),
    );
  }

  /** The operations that bring PostgreSQL's rows to the copy's, for the rows touched since. */
  takeOps(): LedgerOp[] {
    const touched = this.touched.all();
    if (touched.length === 0) return [];
    this.untouch.run();
    return touched.map(({ tbl, k1, k2 }) => {
      const table = TABLES.find((each) => each.name === tbl)!;
      const values = table.keys.length === 2 ? [k1, k2] : [k1];
      const row = this.rowOf.get(table.name)!.get(...values);
      if (row) return { op: table.put, row };
      return {
        op: table.gone,
        ...Object.fromEntries(table.keys.map((key, i) => [key, values[i]])),
      };
    });
  }
}
