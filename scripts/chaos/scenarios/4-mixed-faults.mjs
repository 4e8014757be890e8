// Scenario 4: agents killed and added, then the broker killed, on a timeline — against a clean run.
import { at, describeLost, finish, startSwarm, taskIds } from './common.mjs';

export const id = 4;
export const title = 'agents and broker on a timeline';
export const description = () =>
  '300 × `sleep 0.3` on 4 agents × 2, first without faults (the clean run), then again: 2 agents ' +
  'killed with -9 at 3 s, 2 added at 5 s, the broker killed with -9 at 8 s and restarted at 10 s. ' +
  'Pass: 300/300 complete, ≤ 4 duplicate starts, wall time ≤ 2 × the clean run + the lease (10 s).';

export const variants = () => [{ label: '' }];

export async function run(ctx) {
  const total = 300;
  const clean = await startSwarm(ctx, { agents: 4 });
  const cleanIds = taskIds('s4c', total);
  const c0 = Date.now();
  await clean.submit(cleanIds.map((taskId) => clean.task(taskId)));
  const cleanOutcome = await finish(clean, cleanIds, c0, ctx);
  const leaseS = clean.config.leaseMs / 1000;
  await clean.close();

  const swarm = await startSwarm(ctx, { agents: 4 });
  const ids = taskIds('s4', total);
  const t0 = Date.now();
  await swarm.submit(ids.map((taskId) => swarm.task(taskId)));
  await at(t0, 3_000, () =>
    Promise.all(
      swarm
        .liveAgents()
        .slice(0, 2)
        .map((a) => swarm.killAgent(a, 'SIGKILL')),
    ),
  );
  await at(t0, 5_000, () =>
    Promise.all([swarm.startAgent({ wait: false }), swarm.startAgent({ wait: false })]),
  );
  await at(t0, 8_000, () => swarm.stopBroker('SIGKILL'));
  await at(t0, 10_000, () => swarm.startBroker());
  const outcome = await finish(swarm, ids, t0, ctx);
  const budget = 2 * cleanOutcome.wallSeconds + leaseS;
  const pass =
    outcome.settled &&
    outcome.completed === total &&
    outcome.duplicateStarts <= 4 &&
    outcome.wallSeconds <= budget;
  const notes = [
    `clean run ${cleanOutcome.wallSeconds.toFixed(1)} s, ${cleanOutcome.completed}/${total}`,
  ];
  if (!pass) notes.push(describeLost(outcome));
  return {
    outcome,
    criterion:
      `${outcome.completed}/${total}; dup starts ${outcome.duplicateStarts} ≤ 4; ` +
      `wall ${outcome.wallSeconds.toFixed(1)} ≤ ${budget.toFixed(1)} s (clean ${cleanOutcome.wallSeconds.toFixed(1)})`,
    pass,
    notes,
  };
}
