import { describe, expect, it } from 'vitest';
import type { buildTaskSpec as BuildTaskSpec } from '../../src/cli/task-submit.js';
import { EXIT, SheriError } from '../../src/errors.js';
import { DEFAULT_TASK_TYPES } from '../../src/protocol/task-types.js';
import { DEFAULTS } from '../../src/config/defaults.js';

// Watched kinds of handle: a listening broker, a client socket, a timer or a child process.
const WATCHED = new Set(['TCPServerWrap', 'TCPSocketWrap', 'Timeout', 'ProcessWrap', 'PipeWrap']);
const watchedHandles = (): string[] =>
  process
    .getActiveResourcesInfo()
    .filter((kind) => WATCHED.has(kind))
    .sort();

// Imported here rather than statically, so the first test can see what importing them opens.
const handlesBefore = watchedHandles();
const { parseAgentList } = await import('../../src/cli/serve.js');
const { buildTaskSpec } = await import('../../src/cli/task-submit.js');
const handlesAfter = watchedHandles();

type SubmitFlags = Parameters<typeof BuildTaskSpec>[0];
// testing.run has its runbook (npm test), so a task of it needs no --command.
const config = { taskTypes: DEFAULT_TASK_TYPES, runbooks: DEFAULTS.runbooks };

function flags(extra: Partial<SubmitFlags> = {}): SubmitFlags {
  return { type: 'testing.run', command: [], priority: 'normal', ...extra };
}

/** The SheriError `run` throws; fails the test when it throws nothing or something else. */
function errorOf(run: () => unknown): SheriError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SheriError);
    return error as SheriError;
  }
  throw new Error('expected a SheriError');
}

it('imports the serve and task-submit commands without opening sockets, servers or timers', () => {
  expect(handlesAfter).toEqual(handlesBefore);
});

describe('parseAgentList', () => {
  it('runs no agents when --agents is absent or empty', () => {
    expect(parseAgentList(undefined)).toEqual([]);
    expect(parseAgentList('')).toEqual([]);
  });

  it('expands "testing=3,deployment" into three testing agents and one deployment agent', () => {
    expect(parseAgentList('testing=3,deployment')).toEqual([
      'testing',
      'testing',
      'testing',
      'deployment',
    ]);
  });

  it('ignores spaces around items and empty items', () => {
    expect(parseAgentList(' review=2 ,, security ,')).toEqual(['review', 'review', 'security']);
  });

  it('accepts up to 1000 agents of one role', () => {
    expect(parseAgentList('testing=1000')).toHaveLength(1000);
  });

  it.each([
    ['a count of 0', 'testing=0'],
    ['a negative count', 'testing=-1'],
    ['a fractional count', 'testing=1.5'],
    ['a count that is not a number', 'testing=three'],
    ['an empty count', 'testing='],
    ['a missing role', '=3'],
    ['more than 1000 agents', 'testing=1001'],
  ])('rejects %s with an example of the syntax', (_what, part) => {
    const error = errorOf(() => parseAgentList(`review,${part}`));
    expect(error.exitCode).toBe(EXIT.usage);
    expect(error.message).toBe(
      `--agents: "${part}" is not role[=count]; e.g. --agents testing=3,deployment (roles: general, deployment, testing, review, security, monitoring, documentation, database)`,
    );
  });

  it('trims spaces around "=" in an item', () => {
    expect(parseAgentList('testing = 2')).toEqual(['testing', 'testing']);
  });

  it('rejects an item with two "="', () => {
    expect(() => parseAgentList('testing=3=4')).toThrow(SheriError);
  });
});

describe('buildTaskSpec', () => {
  it('builds a runbook task from --type and --command, with a generated id', () => {
    const spec = buildTaskSpec(flags({ command: ['npm ci', 'npm test'] }), config);
    expect(spec).toEqual({
      task_id: expect.stringMatching(/^testing\.run-[0-9a-f]{12}$/),
      type: 'testing.run',
      payload: {},
      priority: 'normal',
      commands: ['npm ci', 'npm test'],
    });
  });

  it('generates a different task id for each submission', () => {
    const first = buildTaskSpec(flags(), config).task_id;
    const second = buildTaskSpec(flags(), config).task_id;
    expect(first).not.toBe(second);
  });

  it('carries every optional flag into the task', () => {
    const spec = buildTaskSpec(
      flags({
        type: 'code.review',
        prompt: 'Review the last commit',
        priority: 'high',
        payload: '{"repo":"sheri","depth":2}',
        taskId: 'review-1',
        idempotencyKey: 'review-abc123',
        maxAttempts: 5,
        timeout: 60_000,
        workspace: 'packages/core',
      }),
      config,
    );
    expect(spec).toEqual({
      task_id: 'review-1',
      type: 'code.review',
      payload: { repo: 'sheri', depth: 2 },
      priority: 'high',
      prompt: 'Review the last commit',
      idempotency_key: 'review-abc123',
      max_attempts: 5,
      timeout_ms: 60_000,
      workspace: 'packages/core',
    });
  });

  it('leaves out commands and prompt when none are given', () => {
    const spec = buildTaskSpec(flags(), config);
    expect(spec).not.toHaveProperty('commands');
    expect(spec).not.toHaveProperty('prompt');
    expect(spec).not.toHaveProperty('needs');
  });

  it('splits --needs on commas, trimming and dropping empty ids', () => {
    const spec = buildTaskSpec(flags({ needs: 'build-1, lint-2,,' }), config);
    expect(spec.needs).toEqual(['build-1', 'lint-2']);
  });

  it('turns the priority "medium" into "normal"', () => {
    expect(buildTaskSpec(flags({ priority: 'medium' }), config).priority).toBe('normal');
  });

  it('rejects an unknown task type, listing the known ones and how to add one', () => {
    const error = errorOf(() => buildTaskSpec(flags({ type: 'lint.run' }), config));
    expect(error.exitCode).toBe(EXIT.usage);
    expect(error.message).toBe(
      `unknown task type "lint.run"; known types: ${Object.keys(DEFAULT_TASK_TYPES).join(', ')} (sheri types; add one under "taskTypes" in sheri.config.json)`,
    );
  });

  it('accepts a task type added in the configuration', () => {
    const custom = { taskTypes: { ...DEFAULT_TASK_TYPES, 'lint.run': ['testing'] } };
    expect(buildTaskSpec(flags({ type: 'lint.run', command: ['npm run lint'] }), custom).type).toBe(
      'lint.run',
    );
  });

  it('suggests the nearest task type for a misspelt one', () => {
    const error = errorOf(() => buildTaskSpec(flags({ type: 'testin.run' }), config));
    expect(error.message).toMatch(
      /^unknown task type "testin\.run" — did you mean testing\.run\?;/,
    );
  });

  it('refuses a task with no command, no prompt and no runbook for its type, saying how to give one', () => {
    const error = errorOf(() => buildTaskSpec(flags({ type: 'testing.coverage' }), config));
    expect(error.exitCode).toBe(EXIT.usage);
    expect(error.message).toBe(
      'a testing.coverage task needs --command or --prompt: the type has no runbook in this config (add "runbooks": { "testing.coverage": ["…"] } to sheri.config.json; sheri types lists the runbooks)',
    );
  });

  it('refuses --command with --prompt, rather than silently dropping the prompt', () => {
    const error = errorOf(() =>
      buildTaskSpec(flags({ command: ['npm test'], prompt: 'also review it' }), config),
    );
    expect(error.exitCode).toBe(EXIT.usage);
    expect(error.message).toMatch(/^--command and --prompt are two ways to run a task/);
  });

  it('rejects the task type "constructor" as unknown', () => {
    expect(() => buildTaskSpec(flags({ type: 'constructor' }), config)).toThrow(
      'unknown task type "constructor"',
    );
  });

  it('rejects a --payload that is not JSON', () => {
    const error = errorOf(() => buildTaskSpec(flags({ payload: '{repo: sheri}' }), config));
    expect(error.message).toMatch(/^--payload is not JSON: /);
  });

  it('rejects a --payload that is JSON but not an object, naming the field', () => {
    const error = errorOf(() => buildTaskSpec(flags({ payload: '[1,2]' }), config));
    expect(error.message).toMatch(/^invalid task: payload: /);
  });

  it('rejects an unknown priority, naming the field', () => {
    const error = errorOf(() => buildTaskSpec(flags({ priority: 'urgent' }), config));
    expect(error.exitCode).toBe(EXIT.usage);
    expect(error.message).toMatch(/^invalid task: priority: /);
  });

  it('rejects a task id that would break a topic', () => {
    const error = errorOf(() => buildTaskSpec(flags({ taskId: 'a/b' }), config));
    expect(error.message).toBe('invalid task: task_id: must not contain spaces, "/", "+" or "#"');
  });

  it('rejects a needed id that would break a topic, naming its position', () => {
    const error = errorOf(() => buildTaskSpec(flags({ needs: 'ok,bad#id' }), config));
    expect(error.message).toMatch(/^invalid task: needs\.1: /);
  });

  it('rejects an empty --command', () => {
    const error = errorOf(() => buildTaskSpec(flags({ command: ['npm test', ''] }), config));
    expect(error.message).toMatch(/^invalid task: commands\.1: /);
  });

  it('rejects more than 100 attempts', () => {
    const error = errorOf(() => buildTaskSpec(flags({ maxAttempts: 101 }), config));
    expect(error.message).toMatch(/^invalid task: max_attempts: /);
  });

  it('rejects --max-attempts 0 instead of ignoring it', () => {
    expect(() => buildTaskSpec(flags({ maxAttempts: 0 }), config)).toThrow(SheriError);
  });

  it('rejects --timeout 0 instead of ignoring it', () => {
    expect(() => buildTaskSpec(flags({ timeout: 0 }), config)).toThrow(SheriError);
  });
});
