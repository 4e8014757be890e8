// Case 4: claim latency, submit → started, at a steady 100 tasks/s and at saturation.
import { join } from 'node:path';
import { startBullmq, startRedis } from '../bullmq.mjs';
import { burst, startSwarm, steady } from '../sheri-swarm.mjs';
import { latencySummary } from '../stats.mjs';

const RATE = 100; // tasks a second

const LAYOUTS = [
  { broker: 'embedded', processes: 'one', label: 'embedded broker, one process' },
  { broker: 'mosquitto', processes: 'separate', label: 'mosquitto, separate processes' },
];

export const latency = {
  id: '4',
  name: 'latency',
  title: 'Claim latency, submit → started',
  describe: `Submit → started: from the operator's publish of \`tasks/new\` to the grant on \`tasks/assigned/<agent>\` seen by a subscriber on the operator's connection (the moment the agent receives it; the agent then acknowledges and runs it). _Steady_: ${RATE} tasks/s for 10 s (3 s with \`--quick\`) of dispatch-only tasks, paced by the clock; _saturation_: the same tasks all at once (1,000; 300 with \`--quick\`), where latency is queueing. Broker + hub + 4 agents × 1, as in case 2. BullMQ for reference: \`add\` → the worker's processor called.`,
  async run({ quick, dir }) {
    const steadyN = quick ? RATE * 3 : RATE * 10;
    const burstN = quick ? 300 : 1_000;
    const metrics = [];
    const add = (key, label, values, goals = {}) => {
      const summary = latencySummary(values);
      for (const p of ['p50', 'p95', 'p99']) {
        metrics.push({
          key: `${key}.${p}`,
          label: `${label} ${p}`,
          unit: 'ms',
          value: summary[p],
          ...(goals[p] ? { goal: goals[p] } : {}),
        });
      }
    };
    for (const layout of LAYOUTS) {
      const name = `${layout.broker}-${layout.processes}`;
      const swarm = await startSwarm(join(dir, name), layout, { sandbox: 'none' });
      if (!swarm) continue;
      try {
        await burst(swarm, 'dispatch', 20);
        add(
          `latency.${name}.steady`,
          `${layout.label}: at ${RATE}/s`,
          await steady(swarm, 'dispatch', RATE, steadyN),
          {
            p50: { op: '<=', target: 2, text: '≤ 2 ms' },
            p99: { op: '<=', target: 5, text: '≤ 5 ms' },
          },
        );
        add(
          `latency.${name}.saturated`,
          `${layout.label}: saturated`,
          (await burst(swarm, 'dispatch', burstN)).latency,
        );
      } finally {
        await swarm.stop();
      }
    }
    const redis = await startRedis(join(dir, 'redis'));
    if (redis) {
      try {
        const queue = await startBullmq(redis, 'one', 'noop');
        try {
          await queue.burst(20);
          add(
            'latency.bullmq.steady',
            `BullMQ, one process: at ${RATE}/s`,
            await queue.steady(RATE, steadyN),
          );
          add(
            'latency.bullmq.saturated',
            'BullMQ, one process: saturated',
            (await queue.burst(burstN)).latency,
          );
        } finally {
          await queue.stop();
        }
      } finally {
        await redis.close();
      }
    }
    return metrics;
  },
};
