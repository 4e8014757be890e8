// Case 8: how fast sheri starts: `--help`, and an agent process from spawn to registered.
import { join } from 'node:path';
import { now, startSheri } from '../lib.mjs';
import { startSwarm } from '../sheri-swarm.mjs';
import { median } from '../stats.mjs';

export const startup = {
  id: '8',
  name: 'startup',
  title: 'Start-up',
  describe:
    '_--help_: `node dist/bin/sheri.js --help`, spawn to exit, 10 times (5 with `--quick`), median. _Start → registered_: with `sheri broker` and `sheri hub` running, `sheri agent --role testing` (sandbox auto, as shipped) from spawn to its `agents/register` seen, 5 times (3 with `--quick`), median; each stopped before the next.',
  async run({ quick, dir }) {
    const helps = [];
    for (let i = 0; i < (quick ? 5 : 10); i++) {
      const t0 = now();
      const proc = startSheri(['--help']);
      const code = await proc.exited;
      if (code !== 0) throw new Error(`sheri --help exited ${code}: ${proc.output()}`);
      helps.push(now() - t0);
    }
    const swarm = await startSwarm(
      join(dir, 'swarm'),
      { broker: 'embedded', processes: 'separate' },
      { agents: 0 },
    );
    const starts = [];
    try {
      for (let i = 1; i <= (quick ? 3 : 5); i++) {
        const t0 = now();
        const [agent] = swarm.startAgents(1, [], `start${i}`);
        await swarm.watcher.registered(i, 30_000);
        starts.push(swarm.watcher.registers.get(`start${i}-1`) - t0);
        await agent.kill();
      }
    } finally {
      await swarm.stop();
    }
    return [
      {
        key: 'startup.help',
        label: '`sheri --help` wall time',
        unit: 'ms',
        value: median(helps),
        goal: { op: '<=', target: 200, text: '≤ 200 ms' },
      },
      {
        key: 'startup.registered',
        label: 'agent process start → registered',
        unit: 'ms',
        value: median(starts),
        goal: { op: '<=', target: 600, text: '≤ 600 ms' },
      },
    ];
  },
};
