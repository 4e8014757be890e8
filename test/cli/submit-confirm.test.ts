import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/errors.js';
import { runSheri, startSheri, type SheriProcess } from '../helpers/sheri-process.js';

// Issue 14: `sheri task submit` says "recorded" only when the hub confirms it, "published" otherwise.

const processes: SheriProcess[] = [];
let dir: string;
let hub: SheriProcess;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sheri-confirm-'));
  // No agent runs, so every task stays queued: the four recorded below fill the queue.
  writeFileSync(
    join(dir, 'sheri.config.json'),
    JSON.stringify({ queryTimeoutMs: 1_500, security: { maxQueuedPerSubmitter: 4 } }),
  );
  const broker = startSheri(['broker', '--port', '0', '--memory', '--log-format', 'json'], {
    cwd: dir,
  });
  processes.push(broker);
  await broker.waitForOutput('broker listening');
  env = { SHERI_BROKER: `mqtt://127.0.0.1:${/"port":(\d+)/.exec(broker.output())![1]}` };
  hub = startSheri(['hub', '--log-format', 'json'], { cwd: dir, env });
  processes.push(hub);
  await hub.waitForOutput('hub ready');
});

afterAll(async () => {
  for (const process of processes.splice(0)) await process.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const submit = (...args: string[]) =>
  runSheri(['task', 'submit', '--type', 'testing.run', '--command', 'true', ...args], {
    cwd: dir,
    env,
    timeoutMs: 30_000,
  });

async function state(taskId: string): Promise<string> {
  const shown = await runSheri(['task', 'show', taskId, '--json'], { cwd: dir, env });
  expect(shown.code).toBe(0);
  return (JSON.parse(shown.stdout) as { state: string }).state;
}

describe('task submit without --wait', () => {
  it('says "recorded" once the hub has the task in its ledger, and prints its id', async () => {
    const result = await submit('--task-id', 'kept-1');
    expect(result.code).toBe(EXIT.ok);
    expect(result.stdout).toBe('kept-1\n');
    expect(result.stderr).toBe(
      'recorded kept-1 (testing.run, normal) in swarm opencto-dev: queued\n',
    );
    expect(await state('kept-1')).toBe('queued');
  });

  it('names the earlier task when the submission is a duplicate, and prints its id', async () => {
    const again = await submit('--task-id', 'kept-2', '--idempotency-key', 'once');
    expect(again.code).toBe(EXIT.ok);
    const dup = await submit('--task-id', 'kept-3', '--idempotency-key', 'once');
    expect(dup.code).toBe(EXIT.ok);
    expect(dup.stdout).toBe('kept-2\n');
    expect(dup.stderr).toContain('idempotency_key "once" was already used by task "kept-2"');
    expect(dup.stderr).not.toContain('recorded');
  });

  it('does not say "recorded" for a task of the same id submitted before with another spec', async () => {
    const result = await submit('--task-id', 'kept-1', '--priority', 'high');
    expect(result.code).toBe(EXIT.ok);
    expect(result.stderr).toContain('task_id "kept-1" was already submitted');
    expect(result.stderr).not.toContain('recorded');
  });

  it('says only "published" with --no-confirm', async () => {
    const result = await submit('--task-id', 'quick', '--no-confirm');
    expect(result.code).toBe(EXIT.ok);
    expect(result.stdout).toBe('quick\n');
    expect(result.stderr).toBe('published quick (testing.run, normal) to swarm opencto-dev\n');
  });

  it('says "published, not confirmed" while the hub cannot answer, and the task is recorded once it can', async () => {
    hub.child.kill('SIGSTOP');
    let result;
    try {
      result = await submit('--task-id', 'later', '--no-hub-check');
    } finally {
      hub.child.kill('SIGCONT');
    }
    expect(result.code).toBe(EXIT.ok);
    expect(result.stdout).toBe('later\n');
    expect(result.stderr).toBe(
      'published later (testing.run, normal) to swarm opencto-dev, not confirmed: the hub did not answer within 1.5 s (the broker keeps it for the hub; sheri task show later)\n',
    );
    expect(result.stderr).not.toContain('recorded');
    // The broker kept it in the hub's session: the woken hub records it.
    await expect.poll(() => state('later'), { timeout: 10_000 }).toBe('queued');
  });

  it("exits 2 with the hub's reason when the hub refuses the task (its queue is full)", async () => {
    const result = await submit('--task-id', 'over');
    expect(result.code).toBe(EXIT.usage);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /^rejected by hub: .*already has 4 tasks blocked, queued or assigned/,
    );
    const shown = await runSheri(['task', 'show', 'over'], { cwd: dir, env });
    expect(shown.stderr).toContain('no task "over" in the ledger');
  });
});
