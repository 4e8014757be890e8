import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { CredentialStore } from '../../src/auth/credential-store.js';
import { BusRecorder } from '../helpers/bus-recorder.js';
import { loginFor } from '../helpers/identities.js';
import { runSheri, startSheri, type SheriProcess } from '../helpers/sheri-process.js';
import { requireTool } from '../helpers/tools.js';

/** An address of this machine that is not loopback, to connect "from beyond" it. */
const external = Object.values(networkInterfaces())
  .flat()
  .find((address) => address?.family === 'IPv4' && !address.internal)?.address;

/** PROTOCOL §15.3, issue 9's "what it must show" 1: what `sheri up` does with no security flag. */
describe('sheri up with its defaults', () => {
  const processes: SheriProcess[] = [];
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    for (const process of processes.splice(0)) await process.kill('SIGKILL');
  });

  async function up(extra: string[] = []): Promise<{ dir: string; port: number; swarm: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'sheri-defaults-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const swarm = `d${Math.random().toString(36).slice(2, 8)}`;
    const process = startSheri(
      [
        'up',
        '--port',
        '0',
        '--swarm',
        swarm,
        '--agents',
        'testing',
        '--log-format',
        'json',
        ...extra,
      ],
      { cwd: dir },
    );
    processes.push(process);
    await process.waitForOutput(/is up on mqtt:\/\/[0-9.]+:(\d+)/);
    const port = Number(/is up on mqtt:\/\/[0-9.]+:(\d+)/.exec(process.output())![1]);
    return { dir, port, swarm };
  }

  function store(dir: string): CredentialStore {
    return CredentialStore.open(join(dir, '.sheri'))!;
  }

  it.skipIf(!external)(
    'refuses an anonymous client that connects from beyond loopback, and lets in one with a credential',
    async () => {
      const { dir, port } = await up(['--host', '0.0.0.0']);
      const url = `mqtt://${external}:${port}`;
      await expect(
        mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0 }),
      ).rejects.toThrow(/Not authorized/);
      const operator = await mqtt.connectAsync(url, {
        protocolVersion: 4,
        reconnectPeriod: 0,
        clientId: 'sheri-cli-from-afar',
        ...loginFor(store(dir), { kind: 'operator' }),
      });
      await operator.endAsync();
    },
  );

  it('lets an anonymous loopback client publish on no swarm topic: the refusal is reported, nothing runs, the ledger is unchanged', async () => {
    const { dir, port, swarm } = await up();
    const url = `mqtt://127.0.0.1:${port}`;
    // An observer credential (sheri credentials add --kind observer): it sees everything.
    const recorder = await BusRecorder.start(
      url,
      swarm,
      '#',
      loginFor(store(dir), { kind: 'observer' }),
    );
    cleanups.push(() => recorder.close());
    const marker = join(dir, 'anonymous-task-ran');
    const task = {
      id: 'anon-1',
      timestamp: new Date().toISOString(),
      agent_id: 'operator',
      role: 'operator',
      payload: { task_id: 'anon', type: 'testing.run', commands: [`touch ${marker}`] },
    };
    const attempts: [string, string, boolean][] = [
      ['tasks/new', JSON.stringify(task), false],
      ['hub/status', JSON.stringify({ ...task, payload: { state: 'offline' } }), true],
      [
        'approvals/answer',
        JSON.stringify({ ...task, payload: { approval_id: 'x', approved: true } }),
        false,
      ],
    ];
    for (const [local, body, retain] of attempts) {
      const anonymous = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0 });
      const closed = new Promise<void>((resolve) => anonymous.once('close', () => resolve()));
      void anonymous
        .publishAsync(`${swarm}/${local}`, body, { qos: 1, retain })
        .catch(() => undefined);
      await closed; // the broker closes the connection of a refused publish (MQTT-3.3.5-2)
      await anonymous.endAsync(true);
    }
    await recorder.waitFor(() => recorder.on('errors').length === 3, 10_000);
    expect(
      recorder.on('errors').map((m) => [m.payload.code, m.payload.reporter, m.payload.topic]),
    ).toEqual(attempts.map(([local]) => ['NOT_AUTHORIZED', 'broker', `${swarm}/${local}`]));
    expect(recorder.on('tasks/new')).toEqual([]);

    const tasks = await runSheri(['tasks', '--json', '--broker', url, '--swarm', swarm], {
      cwd: dir,
    });
    expect(JSON.parse(tasks.stdout)).toMatchObject({
      counts: { blocked: 0, queued: 0, assigned: 0, complete: 0, dead: 0 },
    });
    expect(existsSync(marker)).toBe(false);
  });

  it.skipIf(!requireTool('mosquitto_sub'))(
    "shows mosquitto_sub on loopback a task's life without its command or output, while task submit in the same folder needs no credential flag",
    async () => {
      const { dir, port, swarm } = await up();
      const url = `mqtt://127.0.0.1:${port}`;
      // Line-buffered: piped, mosquitto_sub would hold its output until it exits.
      const sub = spawn('stdbuf', [
        '-oL',
        'mosquitto_sub',
        '-p',
        String(port),
        '-t',
        `${swarm}/#`,
        '-v',
      ]);
      cleanups.push(() => void sub.kill());
      let traced = '';
      sub.stdout.on('data', (chunk: Buffer) => (traced += chunk.toString()));
      // Subscribed once the retained hub status shows.
      while (!traced.includes(`${swarm}/hub/status`)) await new Promise((r) => setTimeout(r, 20));

      const secret = 's3cret-token-4711';
      const submit = await runSheri(
        ['task', 'submit', '--broker', url, '--swarm', swarm, '--task-id', 'seen'].concat([
          '--type',
          'testing.run',
          '--command',
          `echo ${secret}`,
          '--wait',
        ]),
        { cwd: dir },
      );
      expect(submit.code, submit.stderr).toBe(0);
      expect(submit.stdout).toContain(secret); // the operator sees the result
      while (!traced.includes(`${swarm}/tasks/complete`))
        await new Promise((r) => setTimeout(r, 20));

      const life = traced
        .split('\n')
        .filter((line) => line.includes('"seen"'))
        .map((line) => line.split(' ')[0]!.slice(swarm.length + 1));
      expect(life).toEqual(
        expect.arrayContaining([
          'tasks/new',
          expect.stringMatching(/^tasks\/assigned\/testing-/),
          'tasks/progress',
          'tasks/complete',
        ]),
      );
      expect(traced).not.toContain(secret);
      expect(traced).toContain('"redacted":[');
    },
  );

  it('refuses to listen beyond loopback without authentication unless told --insecure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sheri-insecure-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const args = ['broker', '--no-auth', '--host', '0.0.0.0', '--port', '0', '--memory'];
    const refused = await runSheri(args, { cwd: dir });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('listens on 0.0.0.0 only with --insecure');
    const insecure = startSheri([...args, '--insecure', '--log-format', 'json'], { cwd: dir });
    processes.push(insecure);
    await insecure.waitForOutput('"auth":"none (open broker)"');
  });
});
