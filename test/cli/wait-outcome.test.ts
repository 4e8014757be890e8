import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/errors.js';
import { runSheri, startSheri, type SheriProcess } from '../helpers/sheri-process.js';

/** Quick to say why a task waits: the test's pace. */
const PACE = { waitNoticeMs: 300 };

const processes: SheriProcess[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const process of processes.splice(0)) await process.kill('SIGKILL');
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function paced(extra: Record<string, number> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'sheri-wait-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'sheri.config.json'), JSON.stringify({ ...PACE, ...extra }));
  return dir;
}

/** `task submit --wait` left running, to read what it says while the task waits. */
function waiting(args: string[], cwd: string, where: NodeJS.ProcessEnv = {}): SheriProcess {
  const process = startSheri(['task', 'submit', ...args, '--wait'], { cwd, env: where });
  processes.push(process);
  return process;
}

function started(args: string[], dir: string): SheriProcess {
  const process = startSheri([...args, '--log-format', 'json'], { cwd: dir });
  processes.push(process);
  return process;
}

/** A swarm of one testing agent (and no deployment agent), as `sheri up` makes it. */
let dir: string;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  dir = paced();
  const swarm = started(['up', '--port', '0', '--agents', 'testing'], dir);
  await swarm.waitForOutput(/is up on mqtt:\/\//);
  env = { SHERI_BROKER: /is up on (mqtt:\/\/[0-9.:]+)/.exec(swarm.output())![1] };
});

const submit = (...args: string[]) =>
  runSheri(['task', 'submit', ...args], { cwd: dir, env, timeoutMs: 30_000 });

describe('trip-up 4: --wait shows why a task died, and --wait --json has one shape', () => {
  it('prints the failing command’s output (stdout and stderr) and the error, exit 1', async () => {
    const result = await submit(
      '--type',
      'testing.run',
      '--command',
      'echo out; echo err >&2; exit 3',
      '--max-attempts',
      '1',
      '--wait',
    );
    expect(result.code).toBe(EXIT.taskFailed);
    expect(result.stdout).toBe('$ echo out; echo err >&2; exit 3  (exit 3)\nout\nerr\n');
    expect(result.stderr).toMatch(
      /dead after 1 attempt\(s\): command 1\/1 `echo out; echo err >&2; exit 3` exited 3 in \d+ ms\n$/,
    );
  });

  it('shows only the last lines of a long failing output, saying how many came before', async () => {
    const result = await submit(
      '--type',
      'testing.run',
      '--command',
      `echo -e "${Array.from({ length: 100 }, (_, i) => i + 1).join('\\n')}"; exit 1`,
      '--max-attempts',
      '1',
      '--wait',
    );
    expect(result.code).toBe(EXIT.taskFailed);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\$ echo -e "1\\n2\\n.*100"; exit 1 {2}\(exit 1\)$/);
    expect(lines[1]).toBe('… 60 lines before these');
    expect(lines.slice(2)).toEqual(Array.from({ length: 40 }, (_, i) => String(61 + i)));
  });

  it('prints {task_id, state, attempt, result, error} for a complete and for a dead task', async () => {
    const ok = await submit('--type', 'testing.run', '--command', 'echo fine', '--wait', '--json');
    const bad = await submit(
      '--type',
      'testing.run',
      '--command',
      'echo broken; exit 2',
      '--max-attempts',
      '2',
      '--wait',
      '--json',
    );
    expect(ok.code).toBe(EXIT.ok);
    expect(bad.code).toBe(EXIT.taskFailed);
    const done = JSON.parse(ok.stdout) as Record<string, unknown>;
    const dead = JSON.parse(bad.stdout) as Record<string, unknown>;
    expect(Object.keys(done)).toEqual(['task_id', 'state', 'attempt', 'result', 'error']);
    expect(Object.keys(dead)).toEqual(Object.keys(done));
    expect(done).toMatchObject({ state: 'complete', attempt: 1, error: null });
    expect(dead).toMatchObject({
      state: 'dead',
      attempt: 2,
      error: expect.stringMatching(/^command 1\/1 `echo broken; exit 2` exited 2/),
      // The last attempt's output, which says why.
      result: { commands: [{ exit_code: 2, stdout: 'broken\n' }] },
    });
  });
});

describe('trip-up 5: --wait names the real reason a task waits, and never hangs on a duplicate', () => {
  it('says a task is blocked on its needs, naming them, rather than asking for an agent', async () => {
    const needed = await submit(
      '--type',
      'deployment.deploy',
      '--command',
      'true',
      '--task-id',
      'rollout-1',
    );
    expect(needed.code).toBe(EXIT.ok);
    const blocked = waiting(
      ['--type', 'testing.run', '--command', 'true', '--needs', 'rollout-1'],
      dir,
      env,
    );
    await blocked.waitForOutput(
      'blocked: it needs rollout-1 (queued); it becomes claimable when it completes',
    );
    expect(blocked.output()).not.toContain('is an agent of role');
  });

  it('says no agent of the role runs, and how to start one', async () => {
    const queued = waiting(['--type', 'deployment.deploy', '--command', 'true'], dir, env);
    await queued.waitForOutput(
      'queued: no agent of role deployment is running — start one: sheri agent --role deployment',
    );
  });

  it('gives up after --wait-timeout with exit 3, saying so in the one --json shape', async () => {
    const result = await submit(
      '--type',
      'deployment.deploy',
      '--command',
      'true',
      '--wait',
      '--wait-timeout',
      '1',
      '--json',
    );
    expect(result.code).toBe(EXIT.unavailable);
    expect(JSON.parse(result.stdout)).toEqual({
      task_id: expect.stringMatching(/^deployment\.deploy-[0-9a-f]{12}$/),
      state: 'waiting',
      attempt: 0,
      result: null,
      error: expect.stringMatching(/^gave up waiting after 1 s; the task goes on/),
    });
  });

  it('follows a task whose id was already submitted, to its outcome, rather than hanging', async () => {
    const first = await submit(
      '--type',
      'testing.run',
      '--command',
      'echo once',
      '--task-id',
      'twice',
      '--wait',
    );
    expect(first.code).toBe(EXIT.ok);
    const again = await submit(
      '--type',
      'testing.run',
      '--command',
      'echo once',
      '--task-id',
      'twice',
      '--wait',
    );
    expect(again.timedOut).toBe(false);
    expect(again.code).toBe(EXIT.ok);
    expect(again.stderr).toContain('task_id "twice" was already submitted (now complete)');
    expect(again.stdout).toContain('once');
  });

  it('follows the task that first used an idempotency key, while it runs, to its outcome', async () => {
    // The first task runs until the test lets it finish, so the second comes while it runs.
    const runner = startSheri(
      [
        'task',
        'submit',
        '--type',
        'testing.run',
        '--command',
        'until test -e k-1.go; do sleep 0.1; done; echo keyed',
        '--idempotency-key',
        'k-1',
        '--wait',
      ],
      { cwd: dir, env },
    );
    processes.push(runner);
    await runner.waitForOutput('  running 1/1');
    const follower = startSheri(
      [
        'task',
        'submit',
        '--type',
        'testing.run',
        '--command',
        'echo other',
        '--idempotency-key',
        'k-1',
        '--wait',
      ],
      { cwd: dir, env },
    );
    processes.push(follower);
    await follower.waitForOutput(
      /idempotency_key "k-1" was already used by task "testing\.run-[0-9a-f]+" \(now assigned\); this submission is ignored; following task/,
    );
    writeFileSync(join(dir, 'k-1.go'), '');
    expect(await follower.exited()).toBe(EXIT.ok);
    expect(follower.output()).toContain('keyed');
    expect(await runner.exited()).toBe(EXIT.ok);
  });

  it('says the hub does not answer — not that an agent is missing — when the hub is down', async () => {
    const apart = paced({ queryTimeoutMs: 1_000 });
    const broker = started(['broker', '--port', '0'], apart);
    await broker.waitForOutput('broker listening');
    const url = `mqtt://127.0.0.1:${/"port":(\d+)/.exec(broker.output())![1]}`;
    const hub = started(['hub', '--broker', url], apart);
    await hub.waitForOutput('hub ready');
    await hub.kill('SIGINT');
    const orphan = waiting(['--type', 'testing.run', '--command', 'true', '--broker', url], apart);
    await orphan.waitForOutput(
      /waiting for the hub: it does not answer \(its status says offline[^)]*\); the task waits in its session until a hub runs again/,
    );
    expect(orphan.output()).not.toContain('agent of role');
  });
});

describe('trip-up 8 (output): a closed pipe ends the command quietly', () => {
  it('does not crash with EPIPE when sheri tasks writes to a reader that has gone', async () => {
    const result = await runSheri(['tasks'], {
      cwd: dir,
      env,
      closeStdout: true,
      timeoutMs: 20_000,
    });
    expect(result.code).toBe(EXIT.ok);
    expect(result.stderr).not.toContain('EPIPE');
    expect(result.stderr).toBe('');
  });
});
