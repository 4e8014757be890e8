// Scenario 2: the broker killed (-9) or stopped (SIGTERM) at 50 % for 5 s, then restarted.
import { atProgress, describeLost, finish, sleep, startSwarm, taskIds } from './common.mjs';

export const id = 2;
export const title = 'broker outage of 5 s';
export const description = (quick) =>
  `${quick ? 200 : 1000} × \`sleep 0.3\` on 8 agents × 2; at 50 % done the broker is killed ` +
  '(-9) or stopped (SIGTERM), restarted 5 s later on the same port and data. `sheri broker` keeps ' +
  'its state on disk; mosquitto runs with `persistence true` or with its default `persistence ' +
  'false` as the variant says. Pass: 0 lost among the tasks the ledger recorded (those the hub ' +
  'confirms to `sheri task submit`), every live agent is heard on the bus again within 10 s ' +
  'of the restart, and in the SIGTERM runs no task started twice.';

export function variants(broker) {
  if (broker === 'embedded')
    return [
      { label: 'kill -9', signal: 'SIGKILL', persistence: true },
      { label: 'SIGTERM', signal: 'SIGTERM', persistence: true },
    ];
  return [
    { label: 'kill -9, persistence true', signal: 'SIGKILL', persistence: true },
    { label: 'SIGTERM, persistence true', signal: 'SIGTERM', persistence: true },
    { label: 'SIGTERM, default persistence', signal: 'SIGTERM', persistence: false },
  ];
}

export async function run(ctx, variant) {
  const total = ctx.quick ? 200 : 1000;
  const swarm = await startSwarm(ctx, { agents: 8, persistence: variant.persistence });
  const ids = taskIds('s2', total);
  const t0 = Date.now();
  await swarm.submit(ids.map((taskId) => swarm.task(taskId)));
  await atProgress(swarm, total, 0.5, ctx.limitMs);
  await swarm.stopBroker(variant.signal);
  await sleep(5_000);
  await swarm.startBroker();
  const restartedAt = swarm.brokerStartedAt;
  const outcome = await finish(swarm, ids, t0, ctx);
  // Back on the bus: the first message from each agent still running after the restart (its
  // register, or a heartbeat, claim or result, should the recorder have resubscribed after the
  // register went by — a heartbeat follows within 2 s).
  const live = swarm.liveAgents();
  const back = live.map((agent) => {
    const first = swarm.messages.find(
      (m) => m.at >= restartedAt && !m.retained && m.envelope?.agent_id === agent.id,
    );
    return first ? first.at - restartedAt : Infinity;
  });
  const slowest = Math.max(...back);
  const recorded = new Set(outcome.ledger.map((r) => r.task_id));
  const lostRecorded = outcome.lostIds.filter((taskId) => recorded.has(taskId)).length;
  const sigterm = variant.signal === 'SIGTERM';
  const pass =
    outcome.settled &&
    lostRecorded === 0 &&
    slowest <= 10_000 &&
    (!sigterm || outcome.duplicateStarts === 0);
  const notes = [];
  if (!pass) {
    notes.push(describeLost(outcome), `${lostRecorded} of the lost were in the ledger`);
    notes.push(
      `agents heard again after ${back.map((ms) => (ms === Infinity ? 'never' : `${ms} ms`)).join(', ')}`,
    );
    if (sigterm && outcome.duplicateStarts > 0)
      notes.push(`${outcome.duplicateStarts} duplicate starts in a SIGTERM run`);
  }
  return {
    outcome,
    criterion:
      `lost of recorded ${lostRecorded}; agents back ≤ ${slowest === Infinity ? 'never' : `${(slowest / 1000).toFixed(1)} s`}` +
      (sigterm ? `; dup starts ${outcome.duplicateStarts} = 0` : ''),
    pass,
    notes,
  };
}
