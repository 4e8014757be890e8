// Scenario 7: a task that kills every agent that takes it, before or after acknowledging its grant.
import { until } from '../swarm.mjs';
import { describeLost, startSwarm } from './common.mjs';

export const id = 7;
export const title = 'poison task kills its agent';
const MAX_DEATHS = 16;
export const description = () =>
  '`max_attempts` 3. One agent at a time; the suite kills it with -9 when it is granted the ' +
  'poison task — "before": the moment the recorder sees the grant on `tasks/assigned/<agent>`, ' +
  '"after": the moment it sees the agent\'s acknowledgement — its claim listing the attempt or ' +
  "the attempt's first progress, PROTOCOL §4.1) — and starts a new agent, until the task is dead (or 16 deaths). Each death is " +
  'classed by whether the acknowledgement was on the bus before the kill. Pass: dead after ≤ 3 ' +
  'agent deaths.';

export const variants = () => [
  { label: 'before ack', when: 'grant' },
  { label: 'after ack', when: 'ack' },
];

/**
 * The agent's acknowledgement of an attempt (PROTOCOL §4.1): a claim listing it, or the attempt's
 * first progress — whichever the agent sends first (most attempts speak within the 50 ms window).
 */
const ackOf = (m, agentId, taskId) => {
  if (m.envelope?.agent_id !== agentId) return undefined;
  if (m.topic === 'tasks/progress' && m.payload?.task_id === taskId) return m.payload.attempt;
  if (m.topic !== 'tasks/claim') return undefined;
  return (m.payload?.running ?? []).find((r) => r.task_id === taskId)?.attempt;
};

const acks = (swarm, agentId, taskId, attempt) =>
  [...swarm.on('tasks/claim'), ...swarm.on('tasks/progress')].some(
    (m) => ackOf(m, agentId, taskId) === attempt,
  );

export async function run(ctx, variant) {
  const swarm = await startSwarm(ctx, { agents: 1, concurrency: 1, config: { maxAttempts: 3 } });
  const taskId = `s7-${variant.when}`;
  const t0 = Date.now();
  const isDead = () =>
    (swarm.ledger() ?? []).some((r) => r.task_id === taskId && r.state === 'dead');
  const deaths = [];
  let agent = swarm.agents[0];
  // Armed for an agent id before that agent starts: a queued task is granted at its first claim.
  const armed = (targetId) =>
    swarm.nextMessage(
      (m) => {
        const grant = m.topic === `tasks/assigned/${targetId}` && m.payload?.task_id === taskId;
        const ack = ackOf(m, targetId, taskId) !== undefined;
        if (variant.when === 'grant' ? !grant : !ack) return false;
        // Killed here, in the recorder's handler: as close to the message as the suite can be.
        const target = swarm.agents.find((a) => a.id === targetId);
        if (target) process.kill(target.child.pid, 'SIGKILL');
        return true;
      },
      ctx.limitMs,
      `${taskId} to reach ${targetId}`,
    );
  let hit = armed(agent.id);
  await swarm.submit([swarm.task(taskId, { seconds: 30 })]);
  while (deaths.length < MAX_DEATHS) {
    let message = null;
    hit.then(
      (m) => (message = m),
      () => {},
    );
    await until(() => message ?? isDead(), ctx.limitMs, `${taskId} to reach an agent or die`, 100);
    if (message === null) break;
    await agent.child.exited;
    const attempt = message.topic.startsWith('tasks/assigned/')
      ? message.payload.attempt
      : ackOf(message, agent.id, taskId);
    deaths.push({ agent: agent.id, attempt, acked: acks(swarm, agent.id, taskId, attempt) });
    if (isDead()) break;
    hit = armed(swarm.nextAgentId());
    agent = await swarm.startAgent({ concurrency: 1 });
  }
  await until(isDead, 15_000, 'the task to die', 250).catch(() => {});
  const row = (swarm.ledger('SELECT task_id, state, attempt, failures FROM tasks') ?? []).find(
    (r) => r.task_id === taskId,
  );
  const wallSeconds = (Date.now() - t0) / 1000;
  const dead = row?.state === 'dead';
  const acked = deaths.filter((d) => d.acked).length;
  const outcome = {
    submitted: 1,
    completed: row?.state === 'complete' ? 1 : 0,
    dead: dead ? 1 : 0,
    lost: row && (dead || row.state === 'complete') ? 0 : 1,
    lostIds: [taskId],
    duplicateStarts: Math.max(0, swarm.sideEffects().starts.length - 1),
    duplicateCompletions: Math.max(0, swarm.sideEffects().done.length - 1),
    wallSeconds,
  };
  const pass = dead && deaths.length <= 3;
  const notes = [
    `${deaths.length} agent deaths (${acked} after an ack on the bus, ${deaths.length - acked} before); ` +
      `ledger: ${row ? `${row.state}, attempt ${row.attempt}, failures ${row.failures}` : 'no row'}`,
  ];
  if (!dead) notes.push(`not dead after ${deaths.length} deaths`, describeLost(outcome));
  return {
    outcome,
    criterion: `dead after ${deaths.length} deaths (≤ 3)${dead ? '' : ': never dead'}`,
    pass,
    notes,
  };
}
