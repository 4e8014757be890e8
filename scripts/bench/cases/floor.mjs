// Case 1, the floor: raw MQTT QoS 1 publish → receive through the brokers the swarm uses, with
// nothing of sheri's on top. What no task round can beat.
import { join } from 'node:path';
import { freePort, now, plainClient, startMosquitto, startSheri, waitForBroker } from '../lib.mjs';
import { latencySummary } from '../stats.mjs';

export const floor = {
  id: '1',
  name: 'floor',
  title: 'Raw MQTT publish → receive (the floor)',
  describe:
    'One publisher and one subscriber (mqtt.js, QoS 1, clean sessions) in the bench process, the broker in its own: `sheri broker --no-auth` (the embedded aedes broker with its store on disk, without the login and ACL checks of `sheri up`) and mosquitto. _Throughput_: N messages of 200 bytes published at once, timed until the last is received. _Round trip_: one message at a time, publish → receive.',
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
