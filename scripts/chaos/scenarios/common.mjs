// What the scenarios share: a swarm started in the usual order, waiting for a share of the work to
// be done, and the closing count (PROTOCOL terms: complete, dead; the suite's: lost, duplicates).
import { countOutcome } from '../count.mjs';
import { sleep, until } from '../swarm.mjs';

export { sleep };

/** Broker, recorder, hub, `agents` agents (started together), and the operator's connection. */
export async function startSwarm(ctx, { agents, concurrency = 2, ...options }) {
  const swarm = await ctx.createSwarm(options);
  await swarm.startBroker();
  await swarm.startRecorder();
  await swarm.startHub();
  await Promise.all(Array.from({ length: agents }, () => swarm.startAgent({ concurrency })));
  await swarm.startSubmitter();
  return swarm;
}

/** Task ids `<prefix>-0` … `<prefix>-(n−1)`. */
export function taskIds(prefix, n) {
  return Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
}

/** Distinct tasks whose side effect ran to its end. */
export function doneCount(swarm) {
  return new Set(swarm.sideEffects().done.map((d) => d.taskId)).size;
}

/** Wait until `fraction` of `total` tasks have run to their end (or the limit passes). */
export async function atProgress(swarm, total, fraction, ms) {
  await until(
    () => doneCount(swarm) >= Math.ceil(total * fraction),
    ms,
    `${fraction * 100} % done`,
    50,
  );
}

/** Run `fn` at `ms` after `t0`. */
export async function at(t0, ms, fn) {
  const wait = t0 + ms - Date.now();
  if (wait > 0) await sleep(wait);
  return fn();
}

/**
 * Wait for every task to finish (up to the scenario's limit), give still-running commands a
 * moment to end, and count. `wallSeconds` is from `t0` to the last task finished (or the limit).
 */
export async function finish(swarm, ids, t0, ctx) {
  const settled = await swarm.settle(ids, ctx.limitMs);
  const wallSeconds = (Date.now() - t0) / 1000;
  await swarm.quiesce();
  const ledger = swarm.ledger() ?? [];
  const outcome = countOutcome({ submitted: ids, ledger, ...swarm.sideEffects() });
  // The ledger's own exactly-once: a task whose completion was applied more than once (a second
  // `complete` event). Side effects run twice across a kill -9 are counted apart (above).
  const wanted = new Set(ids);
  const twice = (
    swarm.ledger(
      "SELECT task_id FROM task_events WHERE kind = 'complete' GROUP BY task_id HAVING COUNT(*) > 1",
    ) ?? []
  ).filter((row) => wanted.has(row.task_id)).length;
  return { ...outcome, ledgerCompletedTwice: twice, settled, wallSeconds, ledger };
}

/** `lost 3 (a-1, a-7, a-9 …)` for a note. */
export function describeLost(outcome) {
  if (outcome.lost === 0) return 'none lost';
  const shown = outcome.lostIds.slice(0, 5).join(', ');
  const more = outcome.lostIds.length > 5 ? ' …' : '';
  const unrecorded = outcome.unrecorded
    ? `, ${outcome.unrecorded} never recorded in the ledger`
    : '';
  return `${outcome.lost} lost (${shown}${more})${unrecorded}`;
}

/** `errors` reports on the bus, grouped by code: `HUB_INTERNAL ×192`. */
export function errorCodes(swarm) {
  const counts = new Map();
  for (const m of swarm.on('errors')) {
    const code = m.payload?.code ?? 'undecodable';
    counts.set(code, (counts.get(code) ?? 0) + 1);
  }
  return [...counts].map(([code, n]) => `${code} ×${n}`).join(', ') || 'none';
}
