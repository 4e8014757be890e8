import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CredentialStore } from '../../src/auth/credential-store.js';
import { connectAs } from '../helpers/identities.js';
import { freePort } from '../helpers/tools.js';
import { runSheri, startSheri, type SheriProcess } from '../helpers/sheri-process.js';

describe('the sheri command', () => {
  const processes: SheriProcess[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const process of processes.splice(0)) await process.kill('SIGKILL');
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'sheri-cli-'));
    dirs.push(dir);
    return dir;
  }

  /** `sheri up` on a free port; resolves with its broker URL once it says it is up. */
  async function up(
    dir: string,
    extra: string[] = [],
  ): Promise<{ process: SheriProcess; broker: string }> {
    const process = startSheri(
      ['up', '--port', '0', '--swarm', 'clitest', '--log-format', 'json', ...extra],
      { cwd: dir },
    );
    processes.push(process);
    await process.waitForOutput(/is up on (mqtt:\/\/[0-9.:]+)/);
    const broker = /is up on (mqtt:\/\/[0-9.:]+)/.exec(process.output())![1]!;
    return { process, broker };
  }

  it('teaches its commands in --help', async () => {
    const { code, stdout } = await runSheri(['--help']);
    expect(code).toBe(0);
    for (const command of ['up', 'broker', 'hub', 'agent', 'task', 'tasks', 'agents', '--mqtt'])
      expect(stdout).toContain(command);
    expect(stdout).toContain('sheri task submit --type testing.run');
  });

  it.each([
    {
      what: '--replicas beyond what one process may run',
      args: ['agent', '--role', 'testing', '--replicas', '5001'],
      says: '--replicas must be 1 to 5000, got 5001',
    },
    {
      what: '--concurrency beyond what an agent may claim',
      args: ['agent', '--role', 'testing', '--concurrency', '10001'],
      says: '--concurrency must be an integer from 1 to 10000, got "10001"',
    },
    {
      what: '--concurrency 0',
      args: ['agent', '--role', 'testing', '--concurrency', '0'],
      says: '--concurrency must be an integer from 1 to 10000, got "0"',
    },
    {
      what: 'sheri tasks --limit 0, which the hub would refuse',
      args: ['tasks', '--limit', '0'],
      says: '--limit must be an integer from 1 to 20000, got "0"',
    },
    {
      what: 'sheri tasks --limit past what a reply may list',
      args: ['tasks', '--limit', '20001'],
      says: '--limit must be an integer from 1 to 20000, got "20001"',
    },
  ])('refuses $what, before connecting to anything', async ({ args, says }) => {
    const { code, stderr } = await runSheri(args);
    expect(code).toBe(2);
    expect(stderr).toContain(says);
  });

  it('rejects an unknown task type with the list of known ones and no stack trace', async () => {
    const { code, stderr } = await runSheri([
      'task',
      'submit',
      '--type',
      'nope.never',
      '--command',
      'true',
    ]);
    expect(code).toBe(2);
    expect(stderr).toContain('unknown task type "nope.never"; known types: code.review');
    expect(stderr).not.toContain('    at ');
  });

  it('says plainly that no broker answers, and exits 3', async () => {
    const port = await freePort();
    const { code, stderr } = await runSheri(['tasks', '--broker', `mqtt://127.0.0.1:${port}`]);
    expect(code).toBe(3);
    expect(stderr.trim()).toBe(
      `sheri: no MQTT broker at mqtt://127.0.0.1:${port} — start one with \`sheri up\` or point --broker at yours`,
    );
  });

  it('keeps an agent retrying while no broker answers, and lets Ctrl-C stop it', async () => {
    const port = await freePort();
    const dir = tempDir();
    CredentialStore.openOrCreate(join(dir, '.sheri'));
    const agent = startSheri(
      [
        '--mqtt',
        '--role',
        'deployment',
        '--broker',
        `mqtt://127.0.0.1:${port}`,
        '--log-format',
        'json',
      ],
      { cwd: dir },
    );
    processes.push(agent);
    await agent.waitForOutput(`no MQTT broker at mqtt://127.0.0.1:${port}`);
    expect(agent.child.exitCode).toBeNull();
    agent.child.kill('SIGINT');
    expect(await agent.exited()).toBe(0);
  });

  it('stops a hub still waiting for its broker on SIGTERM, cleanly: exit 0 and its data directory free for the next hub', async () => {
    const port = await freePort();
    const dir = tempDir();
    const args = ['hub', '--broker', `mqtt://127.0.0.1:${port}`, '--log-format', 'json'];
    const hub = startSheri(args, { cwd: dir });
    processes.push(hub);
    await hub.waitForOutput(`no MQTT broker at mqtt://127.0.0.1:${port}`);
    hub.child.kill('SIGTERM');
    expect(await hub.exited(), hub.output()).toBe(0);
    expect(hub.output()).toContain('hub stopped before it had started');
    // Its lock went with it: another hub of this data directory starts (and waits in turn).
    const next = startSheri(args, { cwd: dir });
    processes.push(next);
    await next.waitForOutput(`no MQTT broker at mqtt://127.0.0.1:${port}`);
    expect(next.output()).not.toContain('in use by another sheri');
  });

  it('runs the walkthrough: up, an agent in the seed form, submit --wait, tasks, task show, agents', async () => {
    const dir = tempDir();
    const { process: swarm, broker } = await up(dir);
    const common = ['--broker', broker, '--swarm', 'clitest'];
    // Every command below runs in `dir`: it finds the credentials `sheri up` made in ./.sheri.
    const agent = startSheri(
      [
        '--mqtt',
        '--role',
        'testing',
        '--agent-id',
        'tester-1',
        ...common,
        '--log-format',
        'json',
        '--workspace',
        dir,
      ],
      { cwd: dir },
    );
    processes.push(agent);
    await agent.waitForOutput('joined swarm clitest');
    const here = { cwd: dir };

    const ok = await runSheri(
      [
        'task',
        'submit',
        '--type',
        'testing.run',
        '--task-id',
        'walk-1',
        '--command',
        'echo all 3 tests passed',
        '--wait',
        ...common,
      ],
      here,
    );
    expect(ok.stderr).toContain('assigned to tester-1 (attempt 1)');
    expect(ok.stderr).toMatch(/complete in \d+ ms/);
    expect(ok.stdout).toContain('all 3 tests passed');
    expect(ok.code).toBe(0);

    const bad = await runSheri(
      [
        'task',
        'submit',
        '--type',
        'testing.run',
        '--task-id',
        'walk-2',
        '--command',
        'exit 4',
        '--max-attempts',
        '1',
        '--wait',
        ...common,
      ],
      here,
    );
    expect(bad.stderr).toContain('dead after 1 attempt(s)');
    expect(bad.code).toBe(1);

    const tasks = await runSheri(['tasks', '--json', ...common], here);
    const listed = JSON.parse(tasks.stdout) as {
      counts: Record<string, number>;
      tasks: { task_id: string; state: string }[];
    };
    expect(listed.counts).toMatchObject({ complete: 1, dead: 1 });
    expect(listed.tasks.map((t) => [t.task_id, t.state])).toEqual([
      ['walk-2', 'dead'],
      ['walk-1', 'complete'],
    ]);

    const show = await runSheri(['task', 'show', 'walk-1', ...common], here);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/state\s+complete \(tester-1\)/);
    expect(show.stdout).toMatch(/submitted[\s\S]*assigned[\s\S]*complete/);

    const missing = await runSheri(['task', 'show', 'nope', ...common], here);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no task "nope" in the ledger');

    const agents = await runSheri(['agents', '--json', ...common], here);
    expect(
      (JSON.parse(agents.stdout) as { agents: { agent_id: string; role: string }[] }).agents,
    ).toMatchObject([{ agent_id: 'tester-1', role: 'testing' }]);

    agent.child.kill('SIGTERM');
    expect(await agent.exited()).toBe(0);
    swarm.child.kill('SIGINT');
    expect(await swarm.exited()).toBe(0);
    expect(swarm.output()).toContain('swarm stopped');

    // The ledger outlives the process: a new `sheri up` on the same data dir knows both tasks.
    const again = await up(dir);
    const after = await runSheri(
      ['tasks', '--json', '--broker', again.broker, '--swarm', 'clitest'],
      here,
    );
    expect((JSON.parse(after.stdout) as { counts: Record<string, number> }).counts).toMatchObject({
      complete: 1,
      dead: 1,
    });
  });

  it('reports a hub that does not answer, and refuses a task no hub would ever see', async () => {
    const dir = tempDir();
    const broker = startSheri(['broker', '--port', '0', '--memory', '--log-format', 'json'], {
      cwd: dir,
    });
    processes.push(broker);
    await broker.waitForOutput('broker listening');
    const port = /"port":(\d+)/.exec(broker.output())![1];
    const here = { cwd: dir };
    const { code, stderr } = await runSheri(
      ['agents', '--broker', `mqtt://127.0.0.1:${port}`],
      here,
    );
    expect(code).toBe(3);
    expect(stderr).toContain('no hub answered on swarm "opencto-dev"');

    const submit = await runSheri(
      [
        'task',
        'submit',
        '--type',
        'testing.run',
        '--command',
        'true',
        '--broker',
        `mqtt://127.0.0.1:${port}`,
      ],
      here,
    );
    expect(submit.code).toBe(3);
    expect(submit.stderr).toContain('no hub has run on swarm "opencto-dev"');
    expect(submit.stderr).toContain('a task published now would reach no one');

    // A hub that ran and is down (its Last Will says offline): the task waits in its session.
    // Only the hub may say so, signed (PROTOCOL §15.3): its credential, from the store.
    const store = CredentialStore.open(join(dir, '.sheri'))!;
    const hub = await connectAs(`mqtt://127.0.0.1:${port}`, 'opencto-dev', store, { kind: 'hub' });
    const offline = { state: 'offline', since: '2026-11-21T10:00:00Z' };
    await hub.publish('hub/status', offline, { retain: true });
    await hub.close();
    const waiting = await runSheri(
      [
        'task',
        'submit',
        '--type',
        'testing.run',
        '--task-id',
        'later',
        '--command',
        'true',
        '--broker',
        `mqtt://127.0.0.1:${port}`,
      ],
      here,
    );
    expect(waiting.code).toBe(0);
    expect(waiting.stdout.trim()).toBe('later');
    expect(waiting.stderr).toContain(
      'the hub of swarm "opencto-dev" is offline since 2026-11-21T10:00:00Z',
    );
  });
});
