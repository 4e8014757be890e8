import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { executeTask, type ExecutionContext } from '../../src/executors/execute-task.js';
import { TaskAssigned } from '../../src/protocol/messages.js';
import { DEFAULT_POLICIES } from '../../src/tools/shell/policy.js';
import { testSandbox } from '../helpers/sandbox.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'sheri-exec-'));
  mkdirSync(join(root, 'packages', 'core'), { recursive: true });
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function context(): ExecutionContext {
  return {
    agentId: 'general-test',
    workspace: root,
    sandbox: testSandbox(),
    protectedPaths: [],
    reportTamper: () => undefined,
    timeoutMs: 10_000,
    maxTimeoutMs: 10_000,
    inactivityMs: 10_000,
    outputLimit: 10_000,
    environment: { PATH: process.env.PATH },
    allowedEnv: [],
    policy: DEFAULT_POLICIES.general,
    reportRefusal: () => undefined,
    requestApproval: () => Promise.resolve({ approved: false, reason: 'no one asked' }),
    runbooks: {},
    signal: new AbortController().signal,
    progress: () => undefined,
  };
}

function task(workspace: string): TaskAssigned {
  // Parsed, as the agent receives it: the schema fills the defaults.
  return TaskAssigned.parse({
    task_id: 't1',
    agent_id: 'general-test',
    attempt: 1,
    lease_ms: 30_000,
    lease_expires_at: new Date().toISOString(),
    task: { task_id: 't1', type: 'general.task', commands: ['pwd'], workspace },
  });
}

describe('executeTask workspace', () => {
  it("runs a task's commands in its sub-folder of the agent's workspace", async () => {
    const outcome = await executeTask(task('packages/core'), context());
    expect(outcome.ok).toBe(true);
    const run = (outcome.result as { commands: { stdout: string }[] }).commands[0]!;
    expect(run.stdout.trim()).toBe(join(root, 'packages', 'core'));
  });

  it.each(['..', '../elsewhere', '/etc'])(
    'refuses, without retry, a task workspace %s outside the agent workspace',
    async (workspace) => {
      const outcome = await executeTask(task(workspace), context());
      expect(outcome).toMatchObject({ ok: false, retryable: false });
      expect(outcome.ok || outcome.error).toMatch(/lies outside the agent's workspace/);
    },
  );

  it('takes a folder whose name starts with two dots as inside', async () => {
    mkdirSync(join(root, '..cache'));
    const outcome = await executeTask(task('..cache'), context());
    expect(outcome.ok).toBe(true);
  });
});

describe('the step outputs file is read by the agent, outside the sandbox: what a command puts there (PROTOCOL §17.5)', () => {
  /** A role whose policy runs the workspace's script (as one that allows `npm test` does). */
  const scriptContext = (): ExecutionContext => ({
    ...context(),
    policy: { ...DEFAULT_POLICIES.general, allow: ['./step.sh'] },
  });

  /** A task running the workspace's own script, as `npm test` runs a repository's code. */
  function scriptTask(script: string): TaskAssigned {
    writeFileSync(join(root, 'step.sh'), `#!/bin/sh\n${script}\n`);
    chmodSync(join(root, 'step.sh'), 0o755);
    return TaskAssigned.parse({
      task_id: 't-out',
      agent_id: 'general-test',
      attempt: 1,
      lease_ms: 30_000,
      lease_expires_at: new Date().toISOString(),
      task: { task_id: 't-out', type: 'general.task', commands: ['./step.sh'] },
    });
  }

  it('does not follow a symbolic link to the agent’s own /proc/self/environ: no secret of the agent comes back as outputs', async () => {
    const canary = `OUTPUTCANARY${Math.random().toString(36).slice(2)}`;
    process.env['SHERI_TEST_OUTPUT_CANARY'] = canary;
    try {
      const outcome = await executeTask(
        scriptTask('ln -s /proc/self/environ "$SHERI_OUTPUT"'),
        scriptContext(),
      );
      expect(JSON.stringify(outcome)).not.toContain(canary);
      expect(outcome).toMatchObject({
        ok: true,
        result: { output_problems: ['outputs.env is a symbolic link; it was not read'] },
      });
    } finally {
      delete process.env['SHERI_TEST_OUTPUT_CANARY'];
    }
  });

  it('does not follow a symbolic link to a file outside the workspace the sandbox hides', async () => {
    const hidden = mkdtempSync(join(tmpdir(), 'sheri-hidden-'));
    const secret = join(hidden, 'token');
    writeFileSync(secret, 'TOKEN=hidden-canary-7d1\n');
    try {
      const outcome = await executeTask(
        scriptTask(`ln -s '${secret}' "$SHERI_OUTPUT"`),
        scriptContext(),
      );
      expect(JSON.stringify(outcome)).not.toContain('hidden-canary-7d1');
      expect(outcome).toMatchObject({
        ok: true,
        result: { output_problems: ['outputs.env is a symbolic link; it was not read'] },
      });
      expect((outcome.result as { outputs?: unknown }).outputs).toBeUndefined();
    } finally {
      rmSync(hidden, { recursive: true, force: true });
    }
  });

  it('does not wait for ever on a FIFO a command made of the outputs file: the task ends', async () => {
    const outcome = await Promise.race([
      executeTask(scriptTask('mkfifo "$SHERI_OUTPUT"'), scriptContext()),
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5_000)),
    ]);
    expect(outcome).not.toBe('hung');
    expect(outcome).toMatchObject({
      ok: true,
      result: { output_problems: ['outputs.env is not a file'] },
    });
  });
});
