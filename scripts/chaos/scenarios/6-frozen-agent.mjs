// Scenario 6: an agent frozen (SIGSTOP of its whole process tree) past its lease, then woken.
import { sleep, until } from '../swarm.mjs';
import { describeLost, finish, startSwarm } from './common.mjs';

export const id = 6;
export const title = 'agent frozen past its lease';
const FROZEN_MS = 25_000;
export const description = () =>
  'Lease 10 s, heartbeat 2 s. One task (`sleep 40`: its work outlasts the freeze — a command ' +
  'whose own wait ends while it is frozen finishes the instant the kernel wakes it, before any ' +
  'agent code can run, PROTOCOL §4.7) runs on agent A (concurrency 1); agent B is ' +
  'started, then A and every process under it get SIGSTOP for 25 s and SIGCONT after. Pass: ' +
  "attempt 2 ran on B, and the side-effect file shows one execution run to its end (A's " +
  'command is killed when it wakes instead of finishing).';

export const variants = () => [{ label: '' }];

export async function run(ctx) {
  const swarm = await startSwarm(ctx, { agents: 1, concurrency: 1, config: { leaseMs: 10_000 } });
  const [a] = swarm.agents;
  const taskId = 's6-0';
  const t0 = Date.now();
  await swarm.submit([swarm.task(taskId, { seconds: 40 })]);
  await until(() => swarm.sideEffects().starts.length > 0, 30_000, 'the task to start on A');
  const b = await swarm.startAgent({ concurrency: 1 });
  const stopped = swarm.freeze(a);
  const frozenAt = Date.now();
  await sleep(FROZEN_MS);
  swarm.thaw(a);
  const outcome = await finish(swarm, [taskId], t0, ctx);
  // Attempt 2 ran its 40 s after A woke: A's command, had it lived, would have ended by now.
  const { starts, done } = swarm.sideEffects();
  const onB = starts.some((s) => s.agentId === b.id && s.attempt >= 2);
  const doneByA = done.filter((d) => d.agentId === a.id);
  const grantsToA = swarm
    .on(`tasks/assigned/${a.id}`)
    .filter((m) => m.at > frozenAt)
    .map((m) => m.payload?.attempt);
  const stale = (swarm.events(['stale']) ?? []).length;
  const executions = done.filter((d) => d.taskId === taskId).length;
  const pass = outcome.settled && onB && executions === 1;
  const notes = [
    `SIGSTOP to ${stopped} processes of ${a.id}`,
    `starts: ${starts.map((s) => `#${s.attempt} on ${s.agentId}`).join(', ')}`,
    `run to the end: ${done.map((d) => `#${d.attempt} on ${d.agentId}`).join(', ') || 'none'}`,
    `stale results in the ledger: ${stale}`,
  ];
  if (grantsToA.length > 0)
    notes.push(`${a.id} was granted attempt(s) ${grantsToA.join(', ')} after it froze`);
  if (!outcome.settled) notes.push(describeLost(outcome));
  return {
    outcome,
    criterion: `attempt 2 on B: ${onB ? 'yes' : 'no'}; executions run to the end ${executions} (A: ${doneByA.length})`,
    pass,
    notes,
  };
}
