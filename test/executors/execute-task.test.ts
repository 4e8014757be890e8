import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
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
