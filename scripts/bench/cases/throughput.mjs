// Cases 2 and 3: tasks/s through sheri (broker + hub + 4 agents × 1) and through BullMQ (one
// worker of concurrency 4 on a local redis-server), for a no-op task and for a real `true`.
import { join } from 'node:path';
import { startBullmq, startRedis, CONCURRENCY } from '../bullmq.mjs';
import { AGENTS, burst, startSwarm } from '../sheri-swarm.mjs';

export const LAYOUTS = [
  { broker: 'embedded', processes: 'one' },
  { broker: 'embedded', processes: 'separate' },
  { broker: 'mosquitto', processes: 'one' },
  { broker: 'mosquitto', processes: 'separate' },
];
const KINDS = ['noop', 'true'];
const tasksFor = (quick) => (quick ? 200 : 1_000);

const layoutName = ({ broker, processes }) =>
  `${broker === 'embedded' ? 'embedded broker' : 'mosquitto'}, ${processes === 'one' ? 'one process' : 'separate processes'}`;

export const dispatch = {
  id: '2',
  name: 'dispatch',
  title: `Throughput through broker + hub + ${AGENTS} agents × 1`,
  describe: [
    `N tasks (1,000; 200 with \`--quick\`) submitted at once by one signed operator client, timed from the first submit to the last outcome seen. _noop_: a task of type \`testing.coverage\` the agent fails at once (no runbook for it: dispatch only); _true_: a task running the command \`true\`. Agents run commands with \`--sandbox none\` here, so that both sides spawn a bare shell as BullMQ's job does (the sandbox's cost per command is in the sandbox case).`,
    '',
    '- _embedded broker, one process_: `sheri up --agents testing=4` (broker, hub and agents in one process);',
    '- _embedded broker, separate processes_: `sheri broker`, `sheri hub` and 4 × `sheri agent`;',
    '- _mosquitto, one process_: mosquitto, and hub + 4 agents in one Node process (`scripts/bench/swarm-process.mjs`);',
    '- _mosquitto, separate processes_: mosquitto, `sheri hub` and 4 × `sheri agent`.',
    '',
    'Every envelope is signed and checked, every login checked by the embedded broker, as shipped; the only setting changed is the per-operator submission rate limit (100 tasks/s by default), lifted for the burst.',
  ].join('\n'),
  async run({ quick, dir }) {
    const metrics = [];
    const n = tasksFor(quick);
    for (const layout of LAYOUTS) {
      const name = `${layout.broker}-${layout.processes}`;
      const swarm = await startSwarm(join(dir, name), layout, { sandbox: 'none' });
      if (!swarm) continue;
      try {
        // Warm-up: the first tasks pay for the JIT and the first SQLite pages.
        await burst(swarm, 'dispatch', 20);
        for (const kind of KINDS) {
          const result = await burst(swarm, kind === 'noop' ? 'dispatch' : 'true', n);
          metrics.push({
            key: `dispatch.${name}.${kind}`,
            label: `${layoutName(layout)}: ${kind === 'noop' ? 'dispatch only' : '`true`'}`,
            unit: 'tasks/s',
            value: result.tasksPerS,
          });
        }
      } finally {
        await swarm.stop();
      }
    }
    return metrics;
  },
};

export const bullmq = {
  id: '3',
  name: 'bullmq',
  title: `The same on BullMQ (one Worker, concurrency ${CONCURRENCY})`,
  describe: `redis-server (the distribution's, its defaults) started by the bench on a free port in a temp dir; one \`Queue\` adding N jobs at once and one \`Worker\` of concurrency ${CONCURRENCY}, in the bench's process (_one process_) or forked into its own (_separate processes_). _noop_: a job that returns at once; _true_: a job spawning \`sh -c true\` (\`execFile\`). Timed from the first \`add\` to the last \`completed\`. The ratios compare sheri's layout with the BullMQ layout of the same process count, medians against medians.`,
  async run({ quick, dir }) {
    const redis = await startRedis(join(dir, 'redis'));
    if (!redis) return { skipped: 'redis-server is not installed (apt-get install redis-server)' };
    const metrics = [];
    const n = tasksFor(quick);
    try {
      for (const processes of ['one', 'separate']) {
        for (const kind of KINDS) {
          const queue = await startBullmq(redis, processes, kind === 'noop' ? 'noop' : 'true');
          try {
            await queue.burst(20);
            const result = await queue.burst(n);
            metrics.push({
              key: `bullmq.${processes}.${kind}`,
              label: `BullMQ, ${processes === 'one' ? 'one process' : 'worker in its own process'}: ${kind === 'noop' ? 'no-op job' : '`sh -c true`'}`,
              unit: 'tasks/s',
              value: result.tasksPerS,
            });
          } finally {
            await queue.stop();
          }
        }
      }
    } finally {
      await redis.close();
    }
    return metrics;
  },
};

/**
 * sheri / BullMQ for each sheri layout and kind, from the medians of cases 2 and 3 (the issue's
 * goals: ≥ 1.0 dispatch only, ≥ 0.8 with `true`). Pure.
 */
export function deriveRatios(rows) {
  const byKey = new Map(rows.map((row) => [row.key, row]));
  const ratios = [];
  for (const layout of LAYOUTS) {
    for (const kind of KINDS) {
      const ours = byKey.get(`dispatch.${layout.broker}-${layout.processes}.${kind}`);
      const theirs = byKey.get(`bullmq.${layout.processes}.${kind}`);
      if (!ours || !theirs) continue;
      const target = kind === 'noop' ? 1 : 0.8;
      ratios.push({
        key: `ratio.${layout.broker}-${layout.processes}.${kind}`,
        label: `sheri / BullMQ, ${layoutName(layout)}: ${kind === 'noop' ? 'dispatch only' : '`true`'}`,
        unit: '×',
        values: [ours.median / theirs.median],
        median: ours.median / theirs.median,
        goal: { op: '>=', target, text: `≥ ${target.toFixed(1)} × BullMQ` },
      });
    }
  }
  // Case 1's protocol floor (bare clients, separate processes) against BullMQ's worker in its
  // own process, and sheri's separate-process layout against the floor on the same broker.
  const bullmqSeparate = byKey.get('bullmq.separate.noop');
  for (const [broker, floorKey] of [
    ['embedded', 'floor.aedes.protocol'],
    ['mosquitto', 'floor.mosquitto.protocol'],
  ]) {
    const floor = byKey.get(floorKey);
    if (!floor) continue;
    const name = broker === 'embedded' ? 'embedded aedes' : 'mosquitto';
    const ratio = (key, label, value) =>
      ratios.push({ key, label, unit: '×', values: [value], median: value });
    if (bullmqSeparate)
      ratio(
        `ratio.floor-${broker}.bullmq`,
        `protocol floor (case 1) / BullMQ, ${name}: dispatch only, separate processes`,
        floor.median / bullmqSeparate.median,
      );
    const ours = byKey.get(`dispatch.${broker}-separate.noop`);
    if (ours)
      ratio(
        `ratio.sheri-floor-${broker}`,
        `sheri / protocol floor, ${name}: dispatch only, separate processes`,
        ours.median / floor.median,
      );
  }
  return ratios;
}
