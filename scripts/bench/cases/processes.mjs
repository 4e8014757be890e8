// Case 6: 200 agents, each its own `sheri agent` process: time until all are registered, the
// memory each takes, and what the idle swarm costs in CPU.
import { join } from 'node:path';
import { cpuSeconds, now, privateRssBytes, rssBytes, sleep } from '../lib.mjs';
import { startSwarm } from '../sheri-swarm.mjs';
import { median } from '../stats.mjs';

const MB = 1e6; // the MB: 10^6 bytes

export const processes = {
  id: '6',
  name: 'processes',
  title: '200 agent processes',
  describe:
    "`sheri broker` and `sheri hub`, then 200 `sheri agent --role testing` processes (20 with `--quick`) started at once, as shipped (sandbox auto: bubblewrap here). _Registered_: from the first spawn to the last `agents/register` seen. _RSS_: each agent's resident memory once all are registered (`/proc/<pid>/status` VmRSS, MB); _private memory_: the part no other process shares (RssAnon: heap and stacks, without the pages of the node binary and libraries every agent maps alike). _Idle CPU_: the CPU time of every agent, the hub and the broker over 10 s (5 s with `--quick`) once all are registered, in % of one core.",
  async run({ quick, dir }) {
    const count = quick ? 20 : 200;
    const windowMs = quick ? 5_000 : 10_000;
    const swarm = await startSwarm(
      join(dir, 'swarm'),
      { broker: 'embedded', processes: 'separate' },
      { agents: 0 },
    );
    try {
      const t0 = now();
      const agents = swarm.startAgents(count, [], 'proc');
      await swarm.watcher.registered(count, 180_000);
      const registeredS = (Math.max(...swarm.watcher.registers.values()) - t0) / 1000;
      await sleep(1_000);
      const rss = agents.map((agent) => rssBytes(agent.pid) / MB);
      const privateRss = agents.map((agent) => privateRssBytes(agent.pid) / MB);
      const pids = [swarm.hubPid, swarm.brokerPid, ...agents.map((agent) => agent.pid)];
      const before = pids.map(cpuSeconds);
      const w0 = now();
      await sleep(windowMs);
      const seconds = (now() - w0) / 1000;
      const used = pids.map((pid, i) => cpuSeconds(pid) - before[i]);
      const total = used.reduce((sum, value) => sum + value, 0);
      const agentsOnly = used.slice(2).reduce((sum, value) => sum + value, 0);
      return [
        {
          key: 'processes.registered',
          label: `${count} agent processes: all registered`,
          unit: 's',
          value: registeredS,
          goal: { op: '<=', target: 20, text: '≤ 20 s (200 processes)' },
        },
        {
          key: 'processes.rss-median',
          label: `${count} agent processes: RSS per agent, median`,
          unit: 'MB',
          value: median(rss),
          goal: { op: '<=', target: 60, text: '≤ 60 MB each' },
        },
        {
          key: 'processes.rss-max',
          label: `${count} agent processes: RSS per agent, max`,
          unit: 'MB',
          value: Math.max(...rss),
          goal: { op: '<=', target: 60, text: '≤ 60 MB each' },
        },
        {
          key: 'processes.rss-private-median',
          label: `${count} agent processes: private memory per agent (RssAnon), median`,
          unit: 'MB',
          value: median(privateRss),
        },
        {
          key: 'processes.cpu-swarm',
          label: `${count} agent processes: idle swarm CPU (agents + hub + broker)`,
          unit: '% of a core',
          value: (total / seconds) * 100,
        },
        {
          key: 'processes.cpu-agents',
          label: `${count} agent processes: idle CPU of the agents`,
          unit: '% of a core',
          value: (agentsOnly / seconds) * 100,
        },
      ];
    } finally {
      await swarm.stop();
    }
  },
};
