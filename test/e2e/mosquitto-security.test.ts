import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { startMosquitto } from '../helpers/mosquitto.js';
import { runMixedScenario, waitForComplete, waitUntil } from '../helpers/scenarios.js';
import { runSheri } from '../helpers/sheri-process.js';
import { TestSwarm } from '../helpers/swarm.js';
import { freePort, requireTool } from '../helpers/tools.js';
import { envelopeFrom } from '../helpers/identities.js';

const run = promisify(execFile);
const haveMosquitto =
  requireTool('mosquitto') && requireTool('mosquitto_pub') && requireTool('mosquitto_sub');

async function mosquittoPub(port: number, topic: string, message: string, extra: string[] = []) {
  return run('mosquitto_pub', [
    '-p',
    String(port),
    '-q',
    '1',
    '-t',
    topic,
    '-m',
    message,
    ...extra,
  ]);
}

/** Issue 9's "must show" 3: mosquitto open to anyone, the swarm signing (PROTOCOL §15.4). */
describe.skipIf(!haveMosquitto)('signed envelopes on an open mosquitto', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  async function setUp() {
    swarm = new TestSwarm();
    const mosquitto = await startMosquitto(swarm.dir); // allow_anonymous true: anyone publishes
    swarm.onCloseLast(() => mosquitto.stop());
    swarm.useBroker(mosquitto.url);
    const hub = await swarm.startHub();
    const agent = await swarm.startAgent('testing');
    const recorder = await swarm.record();
    return { hub, agent, recorder, port: mosquitto.port };
  }

  it('never runs a task injected with mosquitto_pub without a valid signature, and reports it', async () => {
    const { hub, recorder, port } = await setUp();
    const marker = join(swarm.dir, 'injected-ran');
    const origin = {
      id: 'inject-1',
      timestamp: new Date().toISOString(),
      agent_id: 'operator',
      role: 'operator',
      payload: { task_id: 'injected', type: 'testing.run', commands: [`touch ${marker}`] },
    };
    await mosquittoPub(port, `${swarm.swarm}/tasks/new`, JSON.stringify(origin));
    // A signature made up, in the right shape: still no key that makes it match.
    const fakeSig = `${JSON.stringify({ ...origin, id: 'inject-2' }).slice(0, -1)},"sig":{"kid":"operator:-:operator:1","alg":"hs256","mac":"${'A'.repeat(43)}"}}`;
    await mosquittoPub(port, `${swarm.swarm}/tasks/new`, fakeSig);

    await recorder.waitFor(() => recorder.on('errors').length === 2, 10_000);
    expect(recorder.on('errors').map((m) => [m.payload.code, m.payload.message_id])).toEqual([
      ['BAD_SIGNATURE', 'inject-1'],
      ['BAD_SIGNATURE', 'inject-2'],
    ]);
    expect(String(recorder.on('errors')[0]!.payload.reason)).toContain('not signed');
    await swarm.submit([swarm.taskAppending('signed-one', 'testing.run')]);
    await waitForComplete(hub, 1, 10_000);
    expect(hub.ledger.get('injected')).toBeUndefined();
    expect(existsSync(marker)).toBe(false);
  });

  it('rejects a replay of a valid signed task, and of a valid signed grant, and a stale one', async () => {
    const { hub, agent, recorder, port } = await setUp();
    await swarm.submit([swarm.taskAppending('once-only', 'testing.run')]);
    await waitForComplete(hub, 1, 10_000);
    const history = hub.ledger.history('once-only');
    const task = recorder.on('tasks/new')[0]!;
    const grant = recorder.on('tasks/assigned')[0]!;

    // Byte for byte, by anyone who saw them go by.
    await mosquittoPub(port, task.topic, task.raw.toString());
    await mosquittoPub(port, grant.topic, grant.raw.toString());
    // Signed now by the operator's key, but dated 10 minutes ago.
    const old = JSON.parse(
      envelopeFrom(swarm.store, { kind: 'operator' }, { task_id: 'old', type: 'testing.run' }),
    ) as Record<string, unknown>;
    old.timestamp = new Date(Date.now() - 600_000).toISOString();
    await mosquittoPub(
      port,
      task.topic,
      swarm.sign({ kind: 'operator' }, 'tasks/new', JSON.stringify(old)),
    );

    await recorder.waitFor(() => recorder.on('errors').length === 3, 10_000);
    const reports = recorder.on('errors').map((m) => [m.payload.code, m.payload.reporter]);
    expect(reports).toEqual(
      expect.arrayContaining([
        ['REPLAYED', 'hub'],
        ['REPLAYED', agent.agentId],
        ['STALE', 'hub'],
      ]),
    );
    expect(hub.ledger.history('once-only')).toEqual(history);
    expect(hub.ledger.get('old')).toBeUndefined();
    expect(swarm.executions().map((e) => e.taskId)).toEqual(['once-only']);
  });

  it('ignores a forged grant: an agent runs only what the hub signed for it', async () => {
    const { hub, agent, recorder, port } = await setUp();
    const marker = join(swarm.dir, 'forged-grant-ran');
    const grant = (taskId: string) => ({
      task_id: taskId,
      agent_id: agent.agentId,
      attempt: 1,
      lease_ms: 30_000,
      lease_expires_at: new Date(Date.now() + 30_000).toISOString(),
      task: { task_id: taskId, type: 'testing.run', payload: {}, commands: [`touch ${marker}`] },
      inputs: {},
    });
    const topic = `tasks/assigned/${agent.agentId}`;
    // Unsigned; signed by another agent's key; signed as the hub but with another agent's key.
    const unsigned = envelopeFrom(swarm.store, { kind: 'hub' }, grant('g-unsigned'));
    const byAgent = swarm.sign(
      { kind: 'agent', name: 'mallory', role: 'testing' },
      topic,
      JSON.stringify({ ...JSON.parse(unsigned), payload: grant('g-agent') }),
    );
    const wrongKey = swarm.sign(
      { kind: 'hub' },
      topic,
      envelopeFrom(swarm.store, { kind: 'hub' }, grant('g-wrong-key')),
      { name: 'mallory', role: 'testing' },
    );
    for (const message of [unsigned, byAgent, wrongKey]) {
      await mosquittoPub(port, `${swarm.swarm}/${topic}`, message);
    }
    await recorder.waitFor(() => recorder.on('errors').length === 3, 10_000);
    expect(recorder.on('errors').map((m) => [m.payload.code, m.payload.reporter])).toEqual([
      ['BAD_SIGNATURE', agent.agentId],
      ['NOT_AUTHORIZED', agent.agentId],
      ['BAD_SIGNATURE', agent.agentId],
    ]);
    await swarm.submit([swarm.taskAppending('real', 'testing.run')]);
    await waitForComplete(hub, 1, 10_000);
    expect(existsSync(marker)).toBe(false);
    expect(swarm.executions().map((e) => e.taskId)).toEqual(['real']);
  });
});

interface Mosquitto {
  port: number;
  stop: () => Promise<void>;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The shipped mosquitto.conf as `sheri credentials mosquitto` writes it, on a free port. */
async function startShippedMosquitto(dir: string, port: number): Promise<Mosquitto> {
  const conf = join(dir, 'mosquitto.conf');
  const text = readFileSync(conf, 'utf8').replace(/^listener 1883$/m, `listener ${port} 127.0.0.1`);
  writeFileSync(conf, text);
  const child: ChildProcess = spawn('mosquitto', ['-c', conf], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const deadline = Date.now() + 10_000;
  while (!(await listening(port))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`mosquitto: ${log}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    port,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** Issue 9's "must show" 4: the shipped configuration, run by the real mosquitto. */
describe.skipIf(!haveMosquitto)(
  'the shipped mosquitto.conf with its password and ACL files',
  () => {
    let swarm: TestSwarm;
    afterEach(async () => swarm.close());

    async function setUp(): Promise<{ out: string; port: number; mosquitto: Mosquitto }> {
      swarm = new TestSwarm();
      // mosquitto run as root drops to its own user, which must get through to its folder.
      chmodSync(swarm.dir, 0o711);
      // The agents another machine would run, each with its credential (sheri credentials add).
      for (let i = 0; i < 3; i++) swarm.store.add('agent', `testing-${i}`, 'testing');
      for (let i = 0; i < 2; i++) swarm.store.add('agent', `deployment-${i}`, 'deployment');
      swarm.store.add('observer', 'observer', undefined);
      const out = join(swarm.dir, 'mosquitto');
      const made = await runSheri(
        ['credentials', 'mosquitto', '--out', out, '--swarm', swarm.swarm],
        { cwd: swarm.dir },
      );
      expect(made.code, made.stderr).toBe(0);
      const port = await freePort();
      const mosquitto = await startShippedMosquitto(out, port);
      swarm.onCloseLast(() => mosquitto.stop());
      swarm.useBroker(`mqtt://127.0.0.1:${port}`);
      return { out, port, mosquitto };
    }

    it('is closed to anonymous clients (allow_anonymous false) and keeps state in its folder', async () => {
      const shipped = readFileSync(new URL('../../mosquitto.conf', import.meta.url), 'utf8');
      expect(shipped).toMatch(/^allow_anonymous false$/m);
      expect(shipped).toMatch(/^password_file /m);
      expect(shipped).toMatch(/^acl_file /m);
      expect(shipped).toMatch(/^#listener 8883$/m);
      const { out, port, mosquitto } = await setUp();
      await expect(
        mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, reconnectPeriod: 0 }),
      ).rejects.toThrow(/Not authorized|Bad username/);
      await expect(
        run('mosquitto_pub', ['-p', String(port), '-t', `${swarm.swarm}/tasks/new`, '-m', '{}']),
      ).rejects.toThrow();

      // Persistence by hand: a retained status outlives a restart, saved in <out>/data.
      const hub = await swarm.startHub();
      await hub.close();
      await mosquitto.stop();
      expect(existsSync(join(out, 'data', 'mosquitto.db'))).toBe(true);
      const again = await startShippedMosquitto(out, port);
      swarm.onCloseLast(() => again.stop());
      const reader = await swarm.record('hub/status', { kind: 'operator' });
      await reader.waitFor(() => reader.on('hub/status').length === 1, 5_000);
      expect(reader.on('hub/status')[0]).toMatchObject({
        retained: true,
        payload: { state: 'offline' },
      });
    });

    it('runs 200 mixed tasks exactly once each with every client logged in', async () => {
      await setUp();
      await runMixedScenario(swarm, (role, i) => `${role}-${i}`);
    });

    it('drops what a credential holder publishes outside its ACL: a grant from an agent never runs', async () => {
      await setUp();
      const hub = await swarm.startHub();
      const victim = await swarm.startAgent('testing', {}, 1, swarm.dir, 'testing-0');
      const recorder = await swarm.record();
      const marker = join(swarm.dir, 'acl-bypassed');
      const grant = envelopeFrom(
        swarm.store,
        { kind: 'hub' },
        {
          task_id: 'sneaky',
          agent_id: victim.agentId,
          attempt: 1,
          lease_ms: 30_000,
          lease_expires_at: new Date(Date.now() + 30_000).toISOString(),
          task: {
            task_id: 'sneaky',
            type: 'testing.run',
            payload: {},
            commands: [`touch ${marker}`],
          },
          inputs: {},
        },
      );
      const mallory = await swarm.connectAs(
        { kind: 'agent', name: 'testing-1', role: 'testing' },
        { signing: false },
      );
      await mallory.publishRaw(`tasks/assigned/${victim.agentId}`, grant);
      await mallory.publishRaw(
        'hub/status',
        envelopeFrom(swarm.store, { kind: 'hub' }, { state: 'offline' }),
        { retain: true },
      );
      await swarm.submit([swarm.taskAppending('after-acl', 'testing.run')]);
      await waitForComplete(hub, 1, 15_000);
      await waitUntil(() => recorder.on('tasks/complete').length === 1, 5_000);
      // mosquitto drops them silently (MQTT 3.1.1 has no refusal to send back): nobody saw them.
      expect(recorder.on('tasks/assigned').map((m) => m.payload.task_id)).toEqual(['after-acl']);
      expect(recorder.on('hub/status').every((m) => m.payload.state === 'online')).toBe(true);
      expect(existsSync(marker)).toBe(false);
    });
  },
);
