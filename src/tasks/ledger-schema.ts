/** The ledger's tables. `CREATE … IF NOT EXISTS` keeps start-up idempotent. */
export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS tasks (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  priority INTEGER NOT NULL,
  state TEXT NOT NULL,
  spec TEXT NOT NULL,
  submitted_by TEXT NOT NULL,
  idempotency_key TEXT UNIQUE,
  parent_task_id TEXT,
  attempt INTEGER NOT NULL DEFAULT 0,
  failures INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  agent_id TEXT,
  lease_expires_at INTEGER,
  acked INTEGER NOT NULL DEFAULT 0,
  not_before INTEGER NOT NULL DEFAULT 0,
  result TEXT,
  last_error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
-- The hub keeps the queue, the grants and each submitter's count in memory (PROTOCOL §3.8); it
-- reads unfinished tasks at start only. Indexes that served per-dispatch queries are dropped:
-- every state change paid for them. A plain index on state finds the unfinished ones at start
-- (a partial index on the same states, measured, doubled the cost of a decision's writes).
DROP INDEX IF EXISTS tasks_queue;
DROP INDEX IF EXISTS tasks_assigned;
DROP INDEX IF EXISTS tasks_unfinished_by;
DROP INDEX IF EXISTS tasks_unfinished;
CREATE INDEX IF NOT EXISTS tasks_state ON tasks (state);
CREATE INDEX IF NOT EXISTS tasks_parent ON tasks (parent_task_id);
CREATE TABLE IF NOT EXISTS task_needs (
  task_id TEXT NOT NULL,
  need_id TEXT NOT NULL,
  PRIMARY KEY (task_id, need_id)
);
CREATE INDEX IF NOT EXISTS task_needs_need ON task_needs (need_id);
CREATE TABLE IF NOT EXISTS task_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  agent_id TEXT,
  attempt INTEGER,
  detail TEXT
);
CREATE INDEX IF NOT EXISTS task_events_task ON task_events (task_id, id);
CREATE TABLE IF NOT EXISTS llm_spend (
  task_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  agent_id TEXT NOT NULL,
  flow_id TEXT NOT NULL,
  day TEXT NOT NULL,
  cost_usd REAL NOT NULL,
  PRIMARY KEY (task_id, attempt, agent_id)
);
CREATE INDEX IF NOT EXISTS llm_spend_day ON llm_spend (day);
CREATE INDEX IF NOT EXISTS llm_spend_flow ON llm_spend (flow_id);
-- PROTOCOL §15.3: was this attempt ever granted to this agent (stale, or never its own)?
CREATE INDEX IF NOT EXISTS task_events_grants ON task_events (task_id, attempt, agent_id)
  WHERE kind = 'assigned';
-- PROTOCOL §15.5: finished tasks by age, for retention.
CREATE INDEX IF NOT EXISTS tasks_finished ON tasks (updated_at)
  WHERE state IN ('complete', 'dead');
`;
