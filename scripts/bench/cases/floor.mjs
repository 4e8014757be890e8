// Case 1, the floor: raw MQTT QoS 1 publish → receive through the brokers the swarm uses, with
// nothing of sheri's on top. What no task round can beat.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import {
  freePort,
  now,
  plainClient,
  ROOT,
  startMosquitto,
  startProcess,
  startSheri,
  waitForBroker,
} from '../lib.mjs';
import { latencySummary } from '../stats.mjs';

export const floor = {
  id: '1',
  name: 'floor',
  title: 'Raw MQTT publish → receive (the floor)',
  describe:
    'One publisher and one subscriber (mqtt.js, QoS 1, clean sessions) in the bench process, the broker in its own: `sheri broker --no-auth` (the embedded aedes broker with its store on disk, without the login and ACL checks of `sheri up`) and mosquitto. _Throughput_: N messages of 200 bytes published at once, timed until the last is received. _Round trip_: one message at a time, publish → receive. _Protocol floor_: the messages of case 2\'s dispatch-only task as sheri sends them — `tasks/new`, the grant on `tasks/assigned/<agent>` (carrying the last result\'s confirmation, PROTOCOL §4.8), `tasks/failed`, `tasks/dead`: 4 QoS 1 messages of the same sizes — between a bare mqtt.js "hub" and 4 bare "agents" of concurrency 1, each its own process (`scripts/bench/floor-role.mjs`), with nothing else: no signatures, schemas, ledger or scheduler. N tasks (1,000; 200 with `--quick`) at once after a warm-up of 20, as in case 2: what sheri\'s protocol over this broker and client allows at most.',
  async run({ quick, dir }) {
    const messages = quick ? 5_000 : 20_000;
    const trips = quick ? 200 : 1_000;
    const metrics = [];
    for (const name of ['aedes', 'mosquitto']) {
      const broker =
        name === 'aedes' ? await startAedes(join(dir, 'aedes')) : await startMosquitto(dir);
      if (!broker) continue;
      try {
        const { perS, latency } = await measure(broker.url, messages, trips);
        const tasks = await protocolFloor(broker.url, quick ? 200 : 1_000);
        const label = name === 'aedes' ? 'embedded aedes' : 'mosquitto';
        metrics.push(
          {
            key: `floor.${name}.throughput`,
            label: `${label}: QoS 1 messages/s`,
            unit: 'msg/s',
            value: perS,
          },
          {
            key: `floor.${name}.p50`,
            label: `${label}: round trip p50`,
            unit: 'ms',
            value: latency.p50,
          },
          {
            key: `floor.${name}.p99`,
            label: `${label}: round trip p99`,
            unit: 'ms',
            value: latency.p99,
          },
          {
            key: `floor.${name}.protocol`,
            label: `${label}: protocol floor, dispatch-only tasks/s (bare hub + 4 agents)`,
            unit: 'tasks/s',
            value: tasks,
          },
        );
      } finally {
        await broker.close();
      }
    }
    return metrics;
  },
};

async function startAedes(dataDir) {
  const port = await freePort();
  const proc = startSheri([
    'broker',
    '--no-auth',
    '--port',
    String(port),
    '--data-dir',
    dataDir,
    '--log-level',
    'error',
    '--log-format',
    'json',
  ]);
  const url = `mqtt://127.0.0.1:${port}`;
  await waitForBroker(url);
  return { url, close: () => proc.kill() };
}

async function measure(url, messages, trips) {
  const topic = `floor/${Math.random().toString(36).slice(2, 8)}`;
  const sub = await plainClient(url);
  const pub = await plainClient(url);
  try {
    await sub.subscribeAsync(topic, { qos: 1 });
    const payload = Buffer.alloc(200, 'x');
    let received = 0;
    let onMessage = () => {};
    sub.on('message', () => {
      received++;
      onMessage();
    });
    // Round trips first, one message in flight.
    const times = [];
    for (let i = 0; i < trips; i++) {
      const got = new Promise((resolve) => (onMessage = resolve));
      const t0 = now();
      pub.publish(topic, payload, { qos: 1 });
      await got;
      times.push(now() - t0);
    }
    received = 0;
    const all = new Promise((resolve) => (onMessage = () => received >= messages && resolve()));
    const t0 = now();
    for (let i = 0; i < messages; i++) pub.publish(topic, payload, { qos: 1 });
    await all;
    const seconds = (now() - t0) / 1000;
    return { perS: messages / seconds, latency: latencySummary(times) };
  } finally {
    await pub.endAsync(true);
    await sub.endAsync(true);
  }
}

/** The protocol floor (see `describe`): tasks/s of N dispatch-only tasks through bare clients. */
async function protocolFloor(url, n) {
  const prefix = `pf${Math.random().toString(36).slice(2, 8)}`;
  const role = (...args) =>
    startProcess(process.execPath, [
      join(ROOT, 'scripts/bench/floor-role.mjs'),
      url,
      prefix,
      ...args,
    ]);
  const procs = [];
  const submitter = await plainClient(url);
  submitter.stream.setNoDelay?.(true);
  try {
    const hub = role('hub');
    procs.push(hub);
    await hub.waitFor('ready');
    for (let id = 1; id <= 4; id++) procs.push(role('worker', String(id)));
    await Promise.all(procs.map((proc) => proc.waitFor('ready')));
    let dead = 0;
    let onDead = () => {};
    submitter.on('message', () => {
      dead++;
      onDead();
    });
    await submitter.subscribeAsync(`${prefix}/tasks/dead`, { qos: 1 });
    let seq = 0;
    const burst = async (count) => {
      dead = 0;
      const all = new Promise((resolve) => (onDead = () => dead >= count && resolve()));
      const t0 = now();
      for (let i = 0; i < count; i++) {
        const taskId = `testing.coverage-${++seq}`;
        submitter.publish(
          `${prefix}/tasks/new`,
          JSON.stringify({
            id: randomUUID(),
            timestamp: new Date().toISOString(),
            agent_id: 'bench',
            role: 'operator',
            type: 'testing.coverage',
            payload: { task_id: taskId, type: 'testing.coverage', payload: {}, priority: 'normal' },
          }),
          { qos: 1 },
        );
      }
      await all;
      return count / ((now() - t0) / 1000);
    };
    await burst(20);
    return await burst(n);
  } finally {
    await submitter.endAsync(true);
    for (const proc of procs) proc.child.kill();
    await Promise.all(procs.map((proc) => proc.exited));
  }
}
