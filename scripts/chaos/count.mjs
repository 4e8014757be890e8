// Pure counting for the fault suite (scripts/chaos): what the ledger and the side-effect files say
// happened to each submitted task. No I/O here, so test/scripts/chaos/count.test.ts can prove it.

/**
 * One line of a side-effect file, as every chaos task command writes it:
 * `$SHERI_TASK_ID $SHERI_ATTEMPT $SHERI_AGENT_ID` (PROTOCOL §7, `taskEnvironment`).
 * Blank lines are skipped; a line with fewer than three fields is kept with what it has.
 */
export function parseSideEffects(text) {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [taskId = '', attempt = '0', agentId = ''] = line.split(/\s+/);
      return { taskId, attempt: Number(attempt), agentId };
    });
}

function perTask(lines) {
  const counts = new Map();
  for (const { taskId } of lines) counts.set(taskId, (counts.get(taskId) ?? 0) + 1);
  return counts;
}

/** Runs beyond the first, summed over tasks: 3 starts of one task are 2 duplicates. */
export function countDuplicates(lines) {
  let duplicates = 0;
  for (const n of perTask(lines).values()) duplicates += Math.max(0, n - 1);
  return duplicates;
}

/**
 * The suite's verdict on one run.
 * - `submitted`: the task ids the suite published to `tasks/new` (acknowledged by the broker);
 * - `ledger`: rows `{task_id, state}` read from the hub's SQLite ledger;
 * - `starts`/`done`: parsed side-effect lines, written when a command begins and when it ends.
 * lost = submitted but neither `complete` nor `dead` in the ledger (missing from it counts).
 * A duplicate completion is a side effect that ran to its end more than once for one task.
 */
export function countOutcome({ submitted, ledger, starts, done }) {
  const state = new Map(ledger.map((row) => [row.task_id, row.state]));
  const wanted = new Set(submitted);
  let completed = 0;
  let dead = 0;
  const lostIds = [];
  for (const id of wanted) {
    const s = state.get(id);
    if (s === 'complete') completed += 1;
    else if (s === 'dead') dead += 1;
    else lostIds.push(id);
  }
  const own = (lines) => lines.filter((line) => wanted.has(line.taskId));
  const startsPerTask = perTask(own(starts));
  return {
    submitted: wanted.size,
    completed,
    dead,
    lost: lostIds.length,
    lostIds,
    unrecorded: [...wanted].filter((id) => !state.has(id)).length,
    neverStarted: [...wanted].filter((id) => !startsPerTask.has(id)).length,
    duplicateStarts: countDuplicates(own(starts)),
    duplicateCompletions: countDuplicates(own(done)),
  };
}

/**
 * Attempts an agent had begun and not finished: its start lines with no done line of the same
 * task and attempt. Read right after killing an agent, this is what the kill interrupted.
 */
export function inFlight(starts, done, agentId) {
  const finished = new Set(done.map((d) => `${d.taskId}#${d.attempt}#${d.agentId}`));
  return starts.filter(
    (s) => s.agentId === agentId && !finished.has(`${s.taskId}#${s.attempt}#${s.agentId}`),
  ).length;
}

/**
 * Retry delays from ledger events (ordered by id): for each counted failure (`failed`) the time
 * until the same task's next `assigned`, with the failure's number (1 for the first). The
 * backoff it should follow is PROTOCOL §5.1: exp = min(max, base × 2^(n−1)), delay ∈ [exp/2, exp].
 */
export function retryDelays(events) {
  const failures = new Map();
  const pending = new Map();
  const delays = [];
  for (const event of events) {
    if (event.kind === 'failed') {
      const n = (failures.get(event.task_id) ?? 0) + 1;
      failures.set(event.task_id, n);
      pending.set(event.task_id, { at: event.at, failure: n });
    } else if (event.kind === 'assigned' && pending.has(event.task_id)) {
      const { at, failure } = pending.get(event.task_id);
      pending.delete(event.task_id);
      delays.push({ taskId: event.task_id, failure, delayMs: event.at - at });
    } else if (event.kind === 'dead') {
      pending.delete(event.task_id);
    }
  }
  return delays;
}

/**
 * Pair each measured delay with the delay the hub drew for it (its `task requeued` log line,
 * `delayMs`): the nth requeue of a task with its nth measured retry.
 */
export function attachDrawn(delays, drawn) {
  const queues = new Map();
  for (const d of drawn) {
    const list = queues.get(d.taskId) ?? [];
    list.push(d.delayMs);
    queues.set(d.taskId, list);
  }
  return delays.map((d) => {
    const drawnMs = queues.get(d.taskId)?.shift();
    return drawnMs === undefined ? d : { ...d, drawnMs };
  });
}

/** The configured window of a retry after the nth counted failure (PROTOCOL §5.1). */
export function backoffWindow(failure, baseMs, maxMs) {
  const exp = Math.min(maxMs, baseMs * 2 ** (failure - 1));
  return { low: exp / 2, high: exp };
}

/**
 * Scenario 8's criterion: every delay within ±`tolerance` of its window and, where the drawn
 * delay is known (`drawnMs`), within ±`tolerance` of that; and jitter visible:
 * among delays of the same failure number, the spread (max − min) is at least `minSpread` of the
 * window's width (uniform in [exp/2, exp], 12 samples spread ~85 % of it on average).
 */
export function judgeBackoff(delays, { baseMs, maxMs, tolerance = 0.2, minSpread = 0.25 }) {
  const outside = [];
  const byFailure = new Map();
  for (const d of delays) {
    const { low, high } = backoffWindow(d.failure, baseMs, maxMs);
    const offWindow = d.delayMs < low * (1 - tolerance) || d.delayMs > high * (1 + tolerance);
    const offDrawn =
      d.drawnMs !== undefined && Math.abs(d.delayMs - d.drawnMs) > tolerance * d.drawnMs;
    if (offWindow || offDrawn) outside.push(d);
    const list = byFailure.get(d.failure) ?? [];
    list.push(d.delayMs);
    byFailure.set(d.failure, list);
  }
  const spreads = [...byFailure.entries()]
    .sort(([a], [b]) => a - b)
    .map(([failure, list]) => {
      const { low, high } = backoffWindow(failure, baseMs, maxMs);
      const spread = Math.max(...list) - Math.min(...list);
      return {
        failure,
        samples: list.length,
        minMs: Math.min(...list),
        maxMs: Math.max(...list),
        spreadMs: spread,
        jitter: list.length > 1 && spread >= minSpread * (high - low),
      };
    });
  return {
    outside,
    spreads,
    pass: delays.length > 0 && outside.length === 0 && spreads.every((s) => s.jitter),
  };
}
