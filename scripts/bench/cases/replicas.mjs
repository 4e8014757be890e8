// Case 7: 1,000 agents as replicas in one process: time until all are registered, memory per agent.
import { join } from 'node:path';
import { now, rssBytes, sleep } from '../lib.mjs';
import { startSwarm } from '../sheri-swarm.mjs';

const MB = 1e6; // the MB: 10^6 bytes

export const replicas = {
  id: '7',
  name: 'replicas',
  title: '1,000 replicas in one process',
  describe:
    "On the embedded broker (`sheri broker`) and on mosquitto, each with `sheri hub`: one `sheri agent --role testing` (one agent: the baseline), stopped once registered, then `sheri agent --role testing --replicas 1000` (100 with `--quick`), sandbox auto as shipped. _Registered_: from its spawn to the last replica's `agents/register` seen. _Memory per agent_: the process's RSS once all are registered less the one-agent process's RSS, divided by N − 1 (the cost of one more agent); _RSS / N_ also shown.",
  async run({ quick, dir }) {
    const count = quick ? 100 : 1_000;
    const metrics = [];
    for (const broker of ['embedded', 'mosquitto']) {
      const swarm = await startSwarm(
        join(dir, broker),
        { broker, processes: 'separate' },
        { agents: 0 },
      );
      if (!swarm) continue;
      try {
        metrics.push(...(await measure(swarm, broker, count)));
      } finally {
        await swarm.stop();
      }
    }
    return metrics;
  },
};

async function measure(swarm, broker, count) {
  const on = broker === 'embedded' ? 'embedded broker' : 'mosquitto';
  const [one] = swarm.startAgents(1, [], 'single');
  await swarm.watcher.registered(1);
  await sleep(1_000);
  const baseline = rssBytes(one.pid);
  await one.kill();
  const t0 = now();
  const [proc] = swarm.startAgents(1, ['--replicas', String(count)], 'rep');
  await swarm.watcher.registered(1 + count, 300_000);
  const registered = [...swarm.watcher.registers]
    .filter(([id]) => id.startsWith('rep-'))
    .map(([, at]) => at);
  const registeredS = (Math.max(...registered) - t0) / 1000;
  await sleep(1_000);
  const rss = rssBytes(proc.pid);
  return [
    {
      key: `replicas.${broker}.registered`,
      label: `${on}: ${count} replicas, all registered`,
      unit: 's',
      value: registeredS,
      goal: { op: '<=', target: 30, text: '≤ 30 s (1,000 replicas)' },
    },
    {
      key: `replicas.${broker}.per-agent`,
      label: `${on}: ${count} replicas, memory per added agent`,
      unit: 'MB',
      value: (rss - baseline) / (count - 1) / MB,
      goal: { op: '<=', target: 2, text: '≤ 2 MB each' },
    },
    {
      key: `replicas.${broker}.rss`,
      label: `${on}: ${count} replicas, process RSS`,
      unit: 'MB',
      value: rss / MB,
    },
    {
      key: `replicas.${broker}.rss-per-n`,
      label: `${on}: ${count} replicas, RSS / N`,
      unit: 'MB',
      value: rss / count / MB,
    },
    {
      key: `replicas.${broker}.baseline`,
      label: `${on}: one agent process, RSS`,
      unit: 'MB',
      value: baseline / MB,
    },
  ];
}
