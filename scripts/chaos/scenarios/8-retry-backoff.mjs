// Scenario 8: retry delays measured against the configured backoff.
import { readFileSync } from 'node:fs';
import { attachDrawn, judgeBackoff, retryDelays } from '../count.mjs';
import { finish, startSwarm, taskIds } from './common.mjs';

export const id = 8;
export const title = 'retry backoff';
export const description = () =>
  '12 tasks that exit 1 at once (3 agents × 4), `max_attempts` 3, `retryBaseMs` 1000 (the ' +
  'default): each counted failure n should be retried after a delay in [exp/2, exp], exp = ' +
  '1000 × 2^(n−1) ms (PROTOCOL §5.1). Measured from the ledger: `failed` event to the next ' +
  '`assigned`, against the delay the hub drew (its `task requeued` log line). Pass: every ' +
  'delay within ±20 % of the drawn delay and of its window, and, per failure number, the ' +
  'delays spread over at least a quarter of the window (jitter visible).';

export const variants = () => [{ label: '' }];

/** The delays the hub drew: its `task requeued` log lines (JSON), in order. */
function drawnDelays(logPath) {
  const drawn = [];
  for (const line of readFileSync(logPath, 'utf8').split('\n')) {
    if (!line.includes('"task requeued"')) continue;
    try {
      const entry = JSON.parse(line);
      if (typeof entry.delayMs === 'number')
        drawn.push({ taskId: entry.taskId, delayMs: entry.delayMs });
    } catch {
      // A line cut by a kill.
    }
  }
  return drawn;
}

const ratio = (delays) => {
  const ratios = delays.filter((d) => d.drawnMs > 0).map((d) => d.delayMs / d.drawnMs);
  if (ratios.length === 0) return 'no drawn delay logged';
  ratios.sort((a, b) => a - b);
  return `measured/drawn ${ratios[0].toFixed(2)}–${ratios.at(-1).toFixed(2)}`;
};

export async function run(ctx) {
  const config = { maxAttempts: 3, retryBaseMs: 1_000, retryMaxMs: 60_000 };
  const swarm = await startSwarm(ctx, { agents: 3, concurrency: 4, config });
  const ids = taskIds('s8', 12);
  const t0 = Date.now();
  await swarm.submit(ids.map((taskId) => swarm.task(taskId, { fail: true })));
  const outcome = await finish(swarm, ids, t0, ctx);
  const delays = attachDrawn(
    retryDelays(swarm.events(['failed', 'assigned', 'dead']) ?? []),
    drawnDelays(swarm.hub.logPath),
  );
  const verdict = judgeBackoff(delays, { baseMs: config.retryBaseMs, maxMs: config.retryMaxMs });
  const spreads = verdict.spreads
    .map((s) => `retry ${s.failure}: ${s.minMs}–${s.maxMs} ms over ${s.samples}`)
    .join('; ');
  const outside = `${verdict.outside.length}/${delays.length} outside ±20 %`;
  const notes = [spreads, `${outside} (of the drawn delay or the window)`, ratio(delays)];
  return {
    outcome,
    criterion: `${outside}; ${ratio(delays)}`,
    pass: outcome.settled && verdict.pass,
    notes,
  };
}
