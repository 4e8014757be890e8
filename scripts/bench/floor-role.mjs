// One process of the protocol floor (case 1, bench/cases/floor.mjs): sheri's messages for a task
// an agent fails at once, with bare mqtt.js and JSON — no signatures, schemas, ledger or
// scheduler. `hub`: queues tasks/new, grants to a free worker, and on a failure publishes
// tasks/dead and the next grant (carrying the confirmation, as sheri's hub does, PROTOCOL §4.8);
// `worker <id>`: answers each grant with tasks/failed.
//
//   node scripts/bench/floor-role.mjs URL PREFIX hub|worker [ID]
import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';

const [url, prefix, role, id = ''] = process.argv.slice(2);
const client = await mqtt.connectAsync(url, {
  protocolVersion: 4,
  reconnectPeriod: 0,
  clientId: `floor-${role}${id}-${process.pid}`,
});
client.stream.setNoDelay?.(true);
const envelope = (agentId, payload) =>
  JSON.stringify({
    id: randomUUID(),
    timestamp: new Date().toISOString(),
    agent_id: agentId,
    role: agentId === 'hub' ? 'hub' : 'testing',
    payload,
  });
const qos = { qos: 1 };

if (role === 'hub') {
  const queue = [];
  const free = [];
  const grant = (worker, settled) => {
    const taskId = queue.shift();
    const now = Date.now();
    client.publish(
      `${prefix}/tasks/assigned/${worker}`,
      envelope('hub', {
        task_id: taskId,
        agent_id: worker,
        attempt: 1,
        lease_ms: 30_000,
        lease_expires_at: new Date(now + 30_000).toISOString(),
        task: { task_id: taskId, type: 'testing.coverage', payload: {}, priority: 'normal' },
        inputs: {},
        ...(settled ? { settled } : {}),
      }),
      qos,
    );
  };
  client.on('message', (topic, bytes) => {
    const { payload } = JSON.parse(bytes.toString());
    const local = topic.slice(prefix.length + 1);
    if (local === 'tasks/new') {
      queue.push(payload.task_id);
      if (free.length > 0) grant(free.shift());
    } else if (local.startsWith('tasks/failed/')) {
      const worker = local.slice('tasks/failed/'.length);
      client.publish(
        `${prefix}/tasks/dead`,
        envelope('hub', { task_id: payload.task_id, attempts: 1, error: payload.error }),
        qos,
      );
      const settled = [{ task_id: payload.task_id, attempt: payload.attempt }];
      if (queue.length > 0) grant(worker, settled);
      else {
        client.publish(
          `${prefix}/tasks/settled/${worker}`,
          envelope('hub', { results: settled }),
          qos,
        );
        free.push(worker);
      }
    } else if (local.startsWith('ready/')) {
      const worker = local.slice('ready/'.length);
      if (queue.length > 0) grant(worker);
      else free.push(worker);
    }
  });
  await client.subscribeAsync({
    [`${prefix}/tasks/new`]: qos,
    [`${prefix}/tasks/failed/+`]: qos,
    [`${prefix}/ready/+`]: qos,
  });
} else {
  client.on('message', (topic, bytes) => {
    if (!topic.startsWith(`${prefix}/tasks/assigned/`)) return;
    const { payload } = JSON.parse(bytes.toString());
    client.publish(
      `${prefix}/tasks/failed/${id}`,
      envelope(`testing-${id}`, {
        task_id: payload.task_id,
        attempt: payload.attempt,
        duration_ms: 0,
        error: `no runbook configured for task type "${payload.task.type}"`,
        retryable: false,
        free: 1,
        running: [],
      }),
      qos,
    );
  });
  await client.subscribeAsync({
    [`${prefix}/tasks/assigned/${id}`]: qos,
    [`${prefix}/tasks/settled/${id}`]: qos,
  });
  // As an agent's first claim: room for one.
  await client.publishAsync(`${prefix}/ready/${id}`, '{}', qos);
}
process.stdout.write('ready\n');
// Stopped by the bench (SIGTERM): nothing to keep.
process.on('SIGTERM', () => process.exit(0));
