import type pg from 'pg';

/**
 * `sheri_apply(epoch, ops)`, recording the operations of postgres-ops.ts (tasks) and, from
 * migration 2 on, `flowCases` (postgres-flow-rows.ts). Each migration that adds operations
 * replaces the function with all of them.
 */
function applyFunction(flowCases: string): string {
  return `
CREATE OR REPLACE FUNCTION sheri_apply(p_epoch BIGINT, p_ops JSONB) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  o JSONB;
BEGIN
  -- Fencing: FOR SHARE holds the row until this transaction ends, so a takeover (an UPDATE of
  -- it) waits for us, and once it has committed no write of the old epoch can.
  PERFORM 1 FROM hub_leader WHERE id = 1 AND epoch = p_epoch FOR SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'epoch % no longer leads this ledger', p_epoch USING ERRCODE = 'SH409';
  END IF;
  FOR o IN SELECT value FROM jsonb_array_elements(p_ops) LOOP
    CASE o->>'op'
    WHEN 'insert' THEN
      INSERT INTO tasks (seq, task_id, type, priority, state, spec, submitted_by,
        idempotency_key, parent_task_id, max_attempts, created_at, updated_at)
      VALUES ((o->>'seq')::bigint, o->>'task_id', o->>'type', (o->>'priority')::int,
        o->>'state', o->>'spec', o->>'submitted_by', o->>'idempotency_key',
        o->>'parent_task_id', (o->>'max_attempts')::int, (o->>'at')::bigint, (o->>'at')::bigint);
    WHEN 'need' THEN
      INSERT INTO task_needs (task_id, need_id) VALUES (o->>'task_id', o->>'need_id')
        ON CONFLICT DO NOTHING;
    WHEN 'event' THEN
      INSERT INTO task_events (task_id, at, kind, agent_id, attempt, detail, epoch)
      VALUES (o->>'task_id', (o->>'at')::bigint, o->>'kind', o->>'agent_id',
        (o->>'attempt')::int, o->>'detail', p_epoch);
    WHEN 'grant' THEN
      UPDATE tasks SET state = 'assigned', agent_id = o->>'agent_id',
        lease_expires_at = (o->>'lease_expires_at')::bigint, attempt = (o->>'attempt')::int,
        acked = 0, updated_at = (o->>'at')::bigint
        WHERE task_id = o->>'task_id';
    WHEN 'ack' THEN
      UPDATE tasks SET acked = 1 WHERE task_id = o->>'task_id'
        AND attempt = (o->>'attempt')::int AND agent_id = o->>'agent_id' AND state = 'assigned';
    WHEN 'complete' THEN
      UPDATE tasks SET state = 'complete', lease_expires_at = NULL, result = o->>'result',
        updated_at = (o->>'at')::bigint WHERE task_id = o->>'task_id';
    WHEN 'unblock' THEN
      UPDATE tasks SET state = 'queued', updated_at = (o->>'at')::bigint
        WHERE task_id = o->>'task_id' AND state = 'blocked';
    WHEN 'requeue' THEN
      UPDATE tasks SET state = o->>'state', agent_id = NULL, lease_expires_at = NULL,
        failures = (o->>'failures')::int, last_error = o->>'last_error',
        not_before = (o->>'not_before')::bigint, updated_at = (o->>'at')::bigint
        WHERE task_id = o->>'task_id';
    WHEN 'kill' THEN
      UPDATE tasks SET state = 'dead', agent_id = NULL, lease_expires_at = NULL,
        last_error = o->>'reason', updated_at = (o->>'at')::bigint WHERE task_id = o->>'task_id';
    WHEN 'spend' THEN
      INSERT INTO llm_spend (task_id, attempt, agent_id, flow_id, day, cost_usd)
      VALUES (o->>'task_id', (o->>'attempt')::int, o->>'agent_id', o->>'flow_id', o->>'day',
        (o->>'cost_usd')::double precision) ON CONFLICT DO NOTHING;
    WHEN 'prune' THEN
      DELETE FROM task_events WHERE task_id IN (SELECT jsonb_array_elements_text(o->'ids'));
      DELETE FROM task_needs WHERE task_id IN (SELECT jsonb_array_elements_text(o->'ids'));
      DELETE FROM tasks WHERE task_id IN (SELECT jsonb_array_elements_text(o->'ids'));
${flowCases}    ELSE
      RAISE EXCEPTION 'unknown ledger operation %', o->>'op';
    END CASE;
  END LOOP;
END
$$;
`;
}

/** Migration 2's operations: the flows' and schedules' rows as they are now, or gone. */
const FLOW_CASES = `
    WHEN 'flow' THEN
      INSERT INTO flows SELECT * FROM jsonb_populate_record(NULL::flows, o->'row')
      ON CONFLICT (flow_id) DO UPDATE SET name = EXCLUDED.name, definition = EXCLUDED.definition,
        state = EXCLUDED.state, submitted_by = EXCLUDED.submitted_by,
        schedule_name = EXCLUDED.schedule_name, error = EXCLUDED.error,
        created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
        finished_at = EXCLUDED.finished_at;
    WHEN 'flow_gone' THEN
      DELETE FROM flows WHERE flow_id = o->>'flow_id';
    WHEN 'step' THEN
      INSERT INTO flow_steps SELECT * FROM jsonb_populate_record(NULL::flow_steps, o->'row')
      ON CONFLICT (flow_id, step_id) DO UPDATE SET position = EXCLUDED.position,
        task_id = EXCLUDED.task_id, state = EXCLUDED.state, note = EXCLUDED.note;
    WHEN 'step_gone' THEN
      DELETE FROM flow_steps WHERE flow_id = o->>'flow_id' AND step_id = o->>'step_id';
    WHEN 'schedule' THEN
      INSERT INTO schedules SELECT * FROM jsonb_populate_record(NULL::schedules, o->'row')
      ON CONFLICT (name) DO UPDATE SET source = EXCLUDED.source, timing = EXCLUDED.timing,
        target = EXCLUDED.target, submitted_by = EXCLUDED.submitted_by,
        created_at = EXCLUDED.created_at, last_slot = EXCLUDED.last_slot,
        last_run_id = EXCLUDED.last_run_id, skipped = EXCLUDED.skipped,
        updated_at = EXCLUDED.updated_at;
    WHEN 'schedule_gone' THEN
      DELETE FROM schedules WHERE name = o->>'name';
`;

/**
 * The ledger's tables on PostgreSQL: the same tables and columns as SQLite's (ledger-schema.ts),
 * with BIGINT for milliseconds, plus the leader row (hub-election.ts) and `sheri_apply`, which
 * records one turn's operations (postgres-ops.ts) in order, in the caller's transaction, after
 * checking that the caller's epoch is still the leader's. Each migration runs once, in order,
 * recorded in `sheri_migrations`; an advisory lock keeps two hubs starting at once from racing.
 */
export const MIGRATIONS: readonly string[] = [
  `
CREATE TABLE tasks (
  seq BIGINT PRIMARY KEY,
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
  lease_expires_at BIGINT,
  acked INTEGER NOT NULL DEFAULT 0,
  not_before BIGINT NOT NULL DEFAULT 0,
  result TEXT,
  last_error TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX tasks_state ON tasks (state);
CREATE INDEX tasks_parent ON tasks (parent_task_id);
CREATE INDEX tasks_finished ON tasks (updated_at) WHERE state IN ('complete', 'dead');
CREATE TABLE task_needs (
  task_id TEXT NOT NULL,
  need_id TEXT NOT NULL,
  PRIMARY KEY (task_id, need_id)
);
CREATE INDEX task_needs_need ON task_needs (need_id);
CREATE TABLE task_events (
  id BIGSERIAL PRIMARY KEY,
  task_id TEXT NOT NULL,
  at BIGINT NOT NULL,
  kind TEXT NOT NULL,
  agent_id TEXT,
  attempt INTEGER,
  detail TEXT,
  -- The leadership that wrote it (not in SQLite, which has one writer): who decided what.
  epoch BIGINT
);
CREATE INDEX task_events_task ON task_events (task_id, id);
CREATE TABLE llm_spend (
  task_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  agent_id TEXT NOT NULL,
  flow_id TEXT NOT NULL,
  day TEXT NOT NULL,
  cost_usd DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (task_id, attempt, agent_id)
);
-- One row: who leads, under which epoch, until when (the database's clock, not the hubs').
CREATE TABLE hub_leader (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  swarm TEXT,
  epoch BIGINT NOT NULL,
  holder TEXT NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL
);
INSERT INTO hub_leader (id, swarm, epoch, holder, expires_at) VALUES (1, NULL, 0, '', '-infinity');

${applyFunction('').trimStart()}`,
  // 2: flows and schedules (flow-store.ts, schedules.ts), SQLite's columns, BIGINT ms.
  `
CREATE TABLE flows (
  flow_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  definition TEXT NOT NULL,
  state TEXT NOT NULL,
  submitted_by TEXT NOT NULL,
  schedule_name TEXT,
  error TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  finished_at BIGINT
);
CREATE INDEX flows_state ON flows (state);
CREATE INDEX flows_finished ON flows (finished_at) WHERE finished_at IS NOT NULL;
CREATE TABLE flow_steps (
  flow_id TEXT NOT NULL,
  step_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  task_id TEXT,
  state TEXT NOT NULL,
  note TEXT,
  PRIMARY KEY (flow_id, step_id)
);
CREATE UNIQUE INDEX flow_steps_task ON flow_steps (task_id) WHERE task_id IS NOT NULL;
CREATE TABLE schedules (
  name TEXT PRIMARY KEY,
  source TEXT NOT NULL,
  timing TEXT NOT NULL,
  target TEXT NOT NULL,
  submitted_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  last_slot BIGINT,
  last_run_id TEXT,
  skipped INTEGER NOT NULL DEFAULT 0,
  updated_at BIGINT NOT NULL
);
${applyFunction(FLOW_CASES)}`,
];

/** Any fixed number: the advisory lock that serializes migrations across hubs. */
const MIGRATION_LOCK = 0x5e41;

/** Apply the migrations this database has not had, each in its own transaction. */
export async function migrate(client: pg.ClientBase): Promise<number> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    await client.query(
      'CREATE TABLE IF NOT EXISTS sheri_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())',
    );
    const done = await client.query<{ version: number }>(
      'SELECT COALESCE(MAX(version), 0) AS version FROM sheri_migrations',
    );
    const from = done.rows[0]?.version ?? 0;
    if (from > MIGRATIONS.length) {
      throw new Error(
        `the ledger's schema is version ${from}, newer than this sheri's ${MIGRATIONS.length}: upgrade sheri`,
      );
    }
    for (let version = from + 1; version <= MIGRATIONS.length; version++) {
      await client.query('BEGIN');
      try {
        await client.query(MIGRATIONS[version - 1]!);
        await client.query('INSERT INTO sheri_migrations (version) VALUES ($1)', [version]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    }
    return MIGRATIONS.length - from;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
  }
}
