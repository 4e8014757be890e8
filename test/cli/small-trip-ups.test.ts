import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/errors.js';
import { runSheri, startSheri, type SheriProcess } from '../helpers/sheri-process.js';
import { freePort } from '../helpers/tools.js';

const processes: SheriProcess[] = [];
const dirs: string[] = [];
let dir: string;
let env: NodeJS.ProcessEnv;
let swarm: SheriProcess;

function tempDir(): string {
  const made = mkdtempSync(join(tmpdir(), 'sheri-small-'));
  dirs.push(made);
  return made;
}

function started(args: string[], cwd: string): SheriProcess {
  const process = startSheri(args, { cwd });
  processes.push(process);
  return process;
}

beforeAll(async () => {
  dir = tempDir();
  swarm = started(
    ['up', '--port', '0', '--agents', 'testing', '--log-level', 'debug', '--log-format', 'json'],
    dir,
  );
  await swarm.waitForOutput(/is up on mqtt:\/\//);
  env = { SHERI_BROKER: /is up on (mqtt:\/\/[0-9.:]+)/.exec(swarm.output())![1] };
});

afterAll(async () => {
  for (const process of processes.splice(0)) await process.kill('SIGKILL');
  for (const made of dirs.splice(0)) rmSync(made, { recursive: true, force: true });
});

const sheri = (...args: string[]) => runSheri(args, { cwd: dir, env, timeoutMs: 30_000 });

describe('trip-up 9: help texts say what the code does', () => {
  it('names medium among the priorities of task submit', async () => {
    expect((await sheri('task', 'submit', '--help')).stdout).toMatch(
      /--priority <p> +low, normal \(the origin's medium\) or high/,
    );
  });

  it('lists for sheri broker only the options it uses: no --swarm, no --config', async () => {
    const help = (await sheri('broker', '--help')).stdout;
    expect(help).toContain('--data-dir <dir>');
    expect(help).not.toContain('--swarm');
    expect(help).not.toContain('--config');
    expect(help).not.toContain('--broker');
  });

  it('shows no "(default: [])" after a repeatable option', async () => {
    for (const command of [['trace'], ['task', 'submit']]) {
      const help = (await sheri(...command, '--help')).stdout;
      expect(help).not.toContain('(default: [])');
    }
    expect((await sheri('trace', '--help')).stdout).toMatch(/\(repeatable; default "#"\)\n/);
  });
});

describe('trip-up 9: what would be silently ignored or guessed is refused', () => {
  it('refuses up --broker, which it would ignore, pointing at sheri hub --broker', async () => {
    const result = await runSheri(['up', '--broker', 'mqtt://elsewhere:1883'], {
      cwd: tempDir(),
      timeoutMs: 20_000,
    });
    expect(result.code).toBe(EXIT.usage);
    expect(result.stderr).toBe(
      'sheri: sheri up runs its own broker, so --broker mqtt://elsewhere:1883 would be ignored: --port and --host say where it listens; to use that broker, run sheri hub --broker mqtt://elsewhere:1883 instead\n',
    );
  });

  it('refuses an agent without --role rather than making it general', async () => {
    const result = await runSheri(['agent'], { cwd: tempDir(), timeoutMs: 20_000 });
    expect(result.code).toBe(EXIT.usage);
    expect(result.stderr).toMatch(
      /^sheri: an agent needs a role: --role database\|deployment\|.*\(e\.g\. sheri agent --role testing/,
    );
  });

  it('refuses a task with no command, prompt or runbook, exit 2, and publishes nothing', async () => {
    const result = await sheri(
      'task',
      'submit',
      '--type',
      'deployment.deploy',
      '--task-id',
      'empty',
    );
    expect(result.code).toBe(EXIT.usage);
    expect(result.stderr).toContain('a deployment.deploy task needs --command or --prompt');
    expect((await sheri('task', 'show', 'empty')).stderr).toContain(
      'no task "empty" in the ledger',
    );
  });

  it('refuses --command with --prompt, exit 2', async () => {
    const result = await sheri(
      'task',
      'submit',
      '--type',
      'code.review',
      '--command',
      'git diff',
      '--prompt',
      'review it',
    );
    expect(result.code).toBe(EXIT.usage);
    expect(result.stderr).toMatch(/^sheri: --command and --prompt are two ways to run a task/);
  });

  it('refuses --needs on an id the hub never recorded, unless --allow-unknown-needs', async () => {
    const refused = await sheri(
      'task',
      'submit',
      '--type',
      'testing.run',
      '--command',
      'true',
      '--needs',
      'buidl-1',
    );
    expect(refused.code).toBe(EXIT.usage);
    expect(refused.stderr).toMatch(
      /^sheri: --needs names "buidl-1", which the hub has no record of/,
    );
    const allowed = await sheri(
      'task',
      'submit',
      '--type',
      'testing.run',
      '--command',
      'true',
      '--needs',
      'build-1',
      '--allow-unknown-needs',
      '--task-id',
      'after-build',
    );
    expect(allowed.code).toBe(EXIT.ok);
    expect(allowed.stdout).toBe('after-build\n');
  });
});

describe('trip-up 9: what a newcomer looks for is there', () => {
  it('shows grants, leases and policy decisions with --log-level debug', async () => {
    const done = await sheri(
      'task',
      'submit',
      '--type',
      'testing.run',
      '--command',
      'echo dbg',
      '--task-id',
      'dbg',
      '--wait',
    );
    expect(done.code).toBe(EXIT.ok);
    const log = swarm.output();
    expect(log).toMatch(
      /"level":20,[^\n]*"msg":"claim from testing-[0-9a-f]{6}: 1 free, 0 lease\(s\) renewed"/,
    );
    expect(log).toMatch(/"level":20,[^\n]*"msg":"grant of dbg attempt 1, lease 30000 ms"/);
    expect(log).toMatch(/"level":20,[^\n]*"msg":"policy: allow by rule \\"echo \*\\": /);
  });

  it('lists the task types with their roles and runbooks, and the roles with what they run', async () => {
    const types = await sheri('types');
    expect(types.code).toBe(0);
    expect(types.stdout).toMatch(/^TYPE +ROLES +RUNBOOK\n/);
    expect(types.stdout).toMatch(/\ntesting\.run +testing +npm test\n/);
    expect(types.stdout).toMatch(/\nsecurity\.scan +security, review +npm audit --json\n/);
    const roles = await sheri('roles');
    expect(roles.stdout).toMatch(/\nreview +code\.review, security\.scan +read-only +no\n/);
  });

  it('marks a broker outage in the trace, where messages are missing', async () => {
    const here = tempDir();
    const port = String(await freePort());
    const broker = started(['broker', '--port', port, '--log-format', 'json'], here);
    await broker.waitForOutput('broker listening');
    const trace = started(['trace', '--broker', `mqtt://127.0.0.1:${port}`], here);
    await trace.waitForOutput('tracing ');
    await broker.kill('SIGKILL');
    await trace.waitForOutput(/---- connection to mqtt:\/\/127\.0\.0\.1:\d+ lost; reconnecting/);
    const again = started(['broker', '--port', port, '--log-format', 'json'], here);
    await again.waitForOutput('broker listening');
    await trace.waitForOutput(
      /---- reconnected to mqtt:\/\/127\.0\.0\.1:\d+; messages published while it was away are missing above/,
    );
  });
});
