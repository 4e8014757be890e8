// Scenario 3: the hub killed with -9 at 50 %, restarted after 5 s.
import { atProgress, describeLost, finish, sleep, startSwarm, taskIds } from './common.mjs';

export const id = 3;
export const title = 'hub killed -9';
export const description = (quick) =>
  `${quick ? 200 : 1000} × \`sleep 0.3\` on 8 agents × 2; at 50 % done the hub is killed with ` +
  '-9 and started again 5 s later on the same ledger. Pass: 0 lost, 0 duplicate completions (side effects run to their end twice), ' +
  'and no task completed twice in the ledger.';

export const variants = () => [{ label: '' }];

export async function run(ctx) {
  const total = ctx.quick ? 200 : 1000;
  const swarm = await startSwarm(ctx, { agents: 8 });
  const ids = taskIds('s3', total);
  const t0 = Date.now();
  await swarm.submit(ids.map((taskId) => swarm.task(taskId)));
  await atProgress(swarm, total, 0.5, ctx.limitMs);
  await swarm.hub.kill('SIGKILL');
  await swarm.hub.exited;
  await sleep(5_000);
  await swarm.startHub();
  const outcome = await finish(swarm, ids, t0, ctx);
  const pass =
    outcome.settled &&
    outcome.lost === 0 &&
    outcome.duplicateCompletions === 0 &&
    outcome.ledgerCompletedTwice === 0;
  return {
    outcome,
    criterion: `lost ${outcome.lost}, dup completions ${outcome.duplicateCompletions}, ledger completed twice ${outcome.ledgerCompletedTwice}`,
    pass,
    notes: pass ? [] : [describeLost(outcome)],
  };
}
