import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/errors.js';
import { runSheri, startSheri, type SheriProcess } from '../helpers/sheri-process.js';

const processes: SheriProcess[] = [];
let dir: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sheri-approvals-'));
  // deployment's policy asks before `kubectl * delete *` (default-policies.json).
  const swarm = startSheri(
    ['up', '--port', '0', '--agents', 'deployment', '--log-format', 'json'],
    {
      cwd: dir,
    },
  );
  processes.push(swarm);
  await swarm.waitForOutput(/is up on mqtt:\/\//);
  env = { SHERI_BROKER: /is up on (mqtt:\/\/[0-9.:]+)/.exec(swarm.output())![1] };
});

afterAll(async () => {
  for (const process of processes.splice(0)) await process.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const sheri = (...args: string[]) => runSheri(args, { cwd: dir, env, timeoutMs: 30_000 });

interface Listed {
  approvals: {
    approval_id: string;
    task_id: string;
    attempt: number;
    agent_id: string;
    command: string;
    rule: string;
    deadline: string;
  }[];
}

/** Submit a command that asks, and wait until it waits. */
async function asking(taskId: string, command: string): Promise<SheriProcess> {
  const waiter = startSheri(
    [
      'task',
      'submit',
      '--type',
      'deployment.rollback',
      '--task-id',
      taskId,
      '--command',
      command,
      '--wait',
    ],
    { cwd: dir, env },
  );
  processes.push(waiter);
  await waiter.waitForOutput(`waiting for approval ${taskId}.1.`);
  return waiter;
}

describe('trip-up 6: approvals are listed, and an answer is checked against what waits', () => {
  it('says none wait when none do', async () => {
    const result = await sheri('approvals');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('no command is waiting for approval\n');
  });

  it('lists a waiting approval with its id, task, who asked, command, rule and deadline', async () => {
    const waiter = await asking('cleanup-1', 'kubectl -n prod delete pod web-7f9d');
    const json = JSON.parse((await sheri('approvals', '--json')).stdout) as Listed;
    expect(json.approvals).toEqual([
      {
        approval_id: expect.stringMatching(/^cleanup-1\.1\.[0-9a-f]{8}$/),
        task_id: 'cleanup-1',
        attempt: 1,
        agent_id: expect.stringMatching(/^deployment-[0-9a-f]{6}$/),
        command: 'kubectl -n prod delete pod web-7f9d',
        rule: 'kubectl * delete *',
        deadline: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      },
    ]);
    const table = await sheri('approvals');
    expect(table.stdout).toMatch(
      /^APPROVAL +TASK +ASKED BY +COMMAND +RULE +DEADLINE\ncleanup-1\.1\.[0-9a-f]{8} +cleanup-1#1 +deployment-[0-9a-f]{6} +kubectl -n prod delete pod web-7f9d +kubectl \* delete \* +\dm\d{1,2}s left\n/,
    );
    const id = json.approvals[0]!.approval_id;
    const denied = await sheri('deny', id, '--reason', 'wrong pod');
    expect(denied.code).toBe(0);
    expect(denied.stdout).toBe(`denied ${id}\n`);
    expect(await waiter.exited()).toBe(EXIT.taskFailed);

    // Answered once: a second answer is told so, and by whom, not "approved".
    const again = await sheri('approve', id);
    expect(again.code).toBe(EXIT.usage);
    expect(again.stdout).toBe('');
    expect(again.stderr).toMatch(
      new RegExp(
        `^sheri: approval ${id.replace(/\./g, '\\.')} was already answered: denied by operator at [0-9T:.-]+Z\\n$`,
      ),
    );
    // The denial is not a failure to retry: task show says so rather than "failures 0/3".
    const show = await sheri('task', 'show', 'cleanup-1');
    expect(show.stdout).toMatch(/state {5}dead {3}attempt 1 {3}dead without retry\n/);
    expect((await sheri('approvals')).stdout).toBe('no command is waiting for approval\n');
  });

  it('refuses to approve an id nothing asked for, exit 2', async () => {
    const result = await sheri('approve', 'does-not-exist');
    expect(result.code).toBe(EXIT.usage);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      'sheri: no approval does-not-exist is waiting, and the hub knows of none by that id (sheri approvals lists those that wait)\n',
    );
  });
});
