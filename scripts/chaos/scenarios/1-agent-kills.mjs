// Scenario 1: agents killed with -9 under load, new ones started.
import { inFlight } from '../count.mjs';
import { atProgress, describeLost, finish, startSwarm, taskIds } from './common.mjs';

export const id = 1;
export const title = 'agents killed -9 under load';
export const description = (quick) =>
  `${quick ? 200 : 1000} × \`sleep 0.3\` on 8 agents × 2; one agent killed with -9 at 25 %, 50 % ` +
  'and 75 % of the tasks done (counted from the side-effect file), a new agent started after the ' +
  '2nd and the 3rd kill. Pass: 0 lost, duplicate starts ≤ the attempts in flight on the killed ' +
  'agents (the tasks the ledger has assigned to each, read right after its kill), and duplicate ' +
  'completions ≤ the attempts whose side effect had ended on a killed agent but whose result had ' +
  'not reached the ledger (assigned to it, side effect done): execution is at-least-once across ' +
  'a crash (PROTOCOL §4.7), so an effect run to its end just before a kill -9 runs again; none ' +
  'beyond those; and no task completed twice in the ledger (a second applied `complete`).';

export const variants = () => [{ label: '' }];

export async function run(ctx) {
  const total = ctx.quick ? 200 : 1000;
  const swarm = await startSwarm(ctx, { agents: 8 });
  const ids = taskIds('s1', total);
  const t0 = Date.now();
  await swarm.submit(ids.map((taskId) => swarm.task(taskId)));
  let interrupted = 0;
  let endedUnreported = 0;
  const notes = [];
  for (const [i, fraction] of [0.25, 0.5, 0.75].entries()) {
    await atProgress(swarm, total, fraction, ctx.limitMs);
    const victim = swarm.liveAgents()[0];
    await swarm.killAgent(victim, 'SIGKILL');
    // In flight = what the ledger holds for it right after the kill (its Will is settled 3 s
    // later): also an attempt whose side effect ended but whose result was not sent yet.
    const held = (
      swarm.ledger("SELECT task_id FROM tasks WHERE state = 'assigned' AND agent_id = ?", [
        victim.id,
      ]) ?? []
    ).length;
    const { starts, done } = swarm.sideEffects();
    const running = inFlight(starts, done, victim.id);
    interrupted += held;
    endedUnreported += Math.max(0, held - running);
    notes.push(
      `kill -9 ${victim.id} at ${fraction * 100} %: ${held} assigned to it, ${running} unfinished side effects`,
    );
    if (i > 0) await swarm.startAgent({ wait: false });
  }
  const outcome = await finish(swarm, ids, t0, ctx);
  const pass =
    outcome.settled &&
    outcome.lost === 0 &&
    outcome.duplicateStarts <= interrupted &&
    outcome.duplicateCompletions <= endedUnreported &&
    outcome.ledgerCompletedTwice === 0;
  if (!pass) notes.push(describeLost(outcome));
  return {
    outcome,
    criterion: `dup starts ${outcome.duplicateStarts} ≤ in flight ${interrupted}; dup completions ${outcome.duplicateCompletions} ≤ ended unreported ${endedUnreported}; ledger completed twice ${outcome.ledgerCompletedTwice}`,
    pass,
    notes,
  };
}
