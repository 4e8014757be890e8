import { describe, expect, it } from 'vitest';
import {
  AgentHeartbeat,
  AgentRegister,
  ClaimRequest,
  Envelope,
  Priority,
  TaskAssigned,
  TaskFailed,
  TaskSpec,
} from '../../src/protocol/messages.js';

const base = { task_id: 't1', type: 'testing.run' };

/** The issue messages of a failed parse, as "path: message". */
function issuesOf(result: ReturnType<typeof TaskSpec.safeParse>): string[] {
  if (result.success) throw new Error(`expected rejection, got ${JSON.stringify(result.data)}`);
  return result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

describe('TaskSpec task_id', () => {
  it.each([
    ['a "/" that would split a topic level', 'a/b'],
    ['a "+" wildcard', 'a+b'],
    ['a "#" wildcard', 'a#b'],
    ['a space', 'a b'],
    ['a tab', 'a\tb'],
    ['a newline', 'a\nb'],
  ])('rejects a task id with %s', (_risk, taskId) => {
    expect(issuesOf(TaskSpec.safeParse({ ...base, task_id: taskId }))).toContain(
      'task_id: must not contain spaces, "/", "+" or "#"',
    );
  });

  it('rejects a task id with a NUL character', () => {
    expect(issuesOf(TaskSpec.safeParse({ ...base, task_id: 'a\0b' }))).toContain(
      'task_id: must not contain NUL',
    );
  });

  it('rejects an empty task id', () => {
    expect(issuesOf(TaskSpec.safeParse({ ...base, task_id: '' }))[0]).toMatch(/^task_id: /);
  });

  it('accepts a 128-character task id and rejects 129', () => {
    expect(TaskSpec.safeParse({ ...base, task_id: 'a'.repeat(128) }).success).toBe(true);
    expect(issuesOf(TaskSpec.safeParse({ ...base, task_id: 'a'.repeat(129) }))[0]).toMatch(
      /^task_id: /,
    );
  });

  it('accepts ids with dots, dashes, underscores, colons and unicode', () => {
    for (const taskId of ['testing.run-1a2b3c', 'a_b:c', 'tâche-1']) {
      expect(TaskSpec.safeParse({ ...base, task_id: taskId }).success, taskId).toBe(true);
    }
  });

  it('applies the same id rules to needs and parent_task_id', () => {
    expect(issuesOf(TaskSpec.safeParse({ ...base, needs: ['ok', 'a/b'] }))).toContain(
      'needs.1: must not contain spaces, "/", "+" or "#"',
    );
    expect(issuesOf(TaskSpec.safeParse({ ...base, parent_task_id: 'p#1' }))).toContain(
      'parent_task_id: must not contain spaces, "/", "+" or "#"',
    );
  });
});

describe('TaskSpec type', () => {
  it('rejects a type with characters outside letters, digits, ".", "_" and "-"', () => {
    expect(issuesOf(TaskSpec.safeParse({ ...base, type: 'testing/run' }))).toContain(
      'type: must be letters, digits, ".", "_" or "-"',
    );
  });

  it('requires a type', () => {
    expect(issuesOf(TaskSpec.safeParse({ task_id: 't1' }))[0]).toMatch(/^type: /);
  });
});

describe('TaskSpec commands', () => {
  it('accepts a list of non-empty command strings in order', () => {
    const spec = TaskSpec.parse({ ...base, commands: ['npm ci', 'npm test'] });
    expect(spec.commands).toEqual(['npm ci', 'npm test']);
  });

  it('rejects an empty command string', () => {
    expect(issuesOf(TaskSpec.safeParse({ ...base, commands: ['npm test', ''] }))[0]).toMatch(
      /^commands\.1: /,
    );
  });

  it('rejects a command that is not a string', () => {
    expect(issuesOf(TaskSpec.safeParse({ ...base, commands: [['npm', 'test']] }))[0]).toMatch(
      /^commands\.0: /,
    );
  });

  it('rejects a single command string in place of a list', () => {
    expect(issuesOf(TaskSpec.safeParse({ ...base, commands: 'npm test' }))[0]).toMatch(
      /^commands: /,
    );
  });

  it('rejects an empty command list', () => {
    expect(issuesOf(TaskSpec.safeParse({ ...base, commands: [] }))[0]).toMatch(/^commands: /);
  });

  it('rejects more than 100 commands', () => {
    const commands = Array.from({ length: 101 }, (_, i) => `echo ${i}`);
    expect(TaskSpec.safeParse({ ...base, commands: commands.slice(0, 100) }).success).toBe(true);
    expect(issuesOf(TaskSpec.safeParse({ ...base, commands }))[0]).toMatch(/^commands: /);
  });
});

describe('TaskSpec max_attempts', () => {
  it('accepts 1 and 100 attempts', () => {
    expect(TaskSpec.parse({ ...base, max_attempts: 1 }).max_attempts).toBe(1);
    expect(TaskSpec.parse({ ...base, max_attempts: 100 }).max_attempts).toBe(100);
  });

  it.each([0, -1, 101, 1.5])('rejects %s attempts', (maxAttempts) => {
    expect(issuesOf(TaskSpec.safeParse({ ...base, max_attempts: maxAttempts }))[0]).toMatch(
      /^max_attempts: /,
    );
  });

  it('rejects attempts given as a string', () => {
    expect(issuesOf(TaskSpec.safeParse({ ...base, max_attempts: '3' }))[0]).toMatch(
      /^max_attempts: /,
    );
  });
});

describe('TaskSpec other fields', () => {
  it('rejects a payload that is not an object', () => {
    for (const payload of [[1, 2], 'text', 3, null]) {
      expect(issuesOf(TaskSpec.safeParse({ ...base, payload }))[0], String(payload)).toMatch(
        /^payload: /,
      );
    }
  });

  it('rejects an empty prompt', () => {
    expect(issuesOf(TaskSpec.safeParse({ ...base, prompt: '' }))[0]).toMatch(/^prompt: /);
  });

  it('bounds timeout_ms to between 1 ms and one day', () => {
    expect(TaskSpec.safeParse({ ...base, timeout_ms: 86_400_000 }).success).toBe(true);
    expect(TaskSpec.safeParse({ ...base, timeout_ms: 86_400_001 }).success).toBe(false);
    expect(TaskSpec.safeParse({ ...base, timeout_ms: 0 }).success).toBe(false);
  });

  it('rejects an unknown priority', () => {
    expect(issuesOf(TaskSpec.safeParse({ ...base, priority: 'urgent' }))[0]).toMatch(/^priority: /);
  });
});

describe('Priority', () => {
  it('maps "medium" to "normal" and keeps the other levels', () => {
    expect(['low', 'normal', 'medium', 'high'].map((p) => Priority.parse(p))).toEqual([
      'low',
      'normal',
      'normal',
      'high',
    ]);
  });
});

describe('Envelope', () => {
  const envelope = { id: 'm1', timestamp: '2026-02-22T19:00:00Z', agent_id: 'cli', payload: {} };

  it('accepts an envelope without role, type or metadata, as the origin sends', () => {
    expect(Envelope.safeParse(envelope).success).toBe(true);
  });

  it.each(['id', 'timestamp', 'agent_id', 'payload'])('requires %s', (key) => {
    const without: Record<string, unknown> = { ...envelope };
    delete without[key];
    const result = Envelope.safeParse(without);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual([key]);
  });

  it('rejects a timestamp that is not a date', () => {
    expect(Envelope.safeParse({ ...envelope, timestamp: 'yesterday' }).success).toBe(false);
  });

  it('rejects a negative retry_count in metadata', () => {
    expect(Envelope.safeParse({ ...envelope, metadata: { retry_count: -1 } }).success).toBe(false);
  });
});

describe('messages between hub and agents', () => {
  it('defaults a claim running list to empty', () => {
    expect(ClaimRequest.parse({ free: 2 })).toEqual({ free: 2, running: [] });
  });

  it('treats a failure as retryable unless it says otherwise', () => {
    const failed = { task_id: 't1', attempt: 1, duration_ms: 5, error: 'exit 1' };
    expect(TaskFailed.parse(failed).retryable).toBe(true);
    expect(TaskFailed.parse({ ...failed, retryable: false }).retryable).toBe(false);
  });

  it('rejects a grant with attempt 0, since attempts start at 1', () => {
    const grant = {
      task_id: 't1',
      agent_id: 'testing-1',
      attempt: 0,
      lease_ms: 30_000,
      lease_expires_at: '2026-02-22T19:00:30Z',
      task: base,
    };
    expect(TaskAssigned.safeParse(grant).success).toBe(false);
    expect(TaskAssigned.parse({ ...grant, attempt: 1 }).inputs).toEqual({});
  });
});

describe('TaskSpec needs', () => {
  it('rejects a task that needs itself', () => {
    const result = TaskSpec.safeParse({
      task_id: 'loop',
      type: 'testing.run',
      needs: ['other', 'loop'],
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]).toMatchObject({
      path: ['needs'],
      message: 'a task cannot need itself',
    });
  });
});

describe('agent capacity', () => {
  const heartbeat = {
    status: 'idle',
    uptime: 1,
    memory: { rss: 1, heapTotal: 1, heapUsed: 1 },
    role: 'testing',
  };

  it('refuses a heartbeat or registration claiming more room than an agent may have', () => {
    expect(AgentHeartbeat.safeParse({ ...heartbeat, free: 10_000 }).success).toBe(true);
    expect(AgentHeartbeat.safeParse({ ...heartbeat, free: 10_001 }).success).toBe(false);
    expect(AgentHeartbeat.safeParse({ ...heartbeat, free: Number.MAX_SAFE_INTEGER }).success).toBe(
      false,
    );
    expect(AgentRegister.safeParse({ role: 'testing', concurrency: 10_000 }).success).toBe(true);
    expect(AgentRegister.safeParse({ role: 'testing', concurrency: 1e9 }).success).toBe(false);
  });
});
