import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeResult } from '../../../src/executors/guarded-command.js';
import { buildEnvironment } from '../../../src/tools/shell/environment.js';
import { runProcess } from '../../../src/tools/shell/run-process.js';

const base = { cwd: tmpdir(), timeoutMs: 20_000, outputLimit: 30_000 };

/** Command lines of live processes that contain `marker`. */
function processesMatching(marker: string): string[] {
  return execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(marker) && !line.includes('ps -eo'));
}

describe('runProcess', () => {
  it('kills the command and every child at the hard timeout, leaving no process behind', async () => {
    const result = await runProcess("sh -c 'sleep 613 & sleep 613'", { ...base, timeoutMs: 500 });
    expect(result).toMatchObject({ timed_out: true, timeout_kind: 'hard', exit_code: null });
    expect(result.signal).toMatch(/SIGTERM|SIGKILL/);
    expect(processesMatching('sleep 613')).toEqual([]);
  });

  it('kills a command that prints nothing for the inactivity timeout, keeping what it printed', async () => {
    const result = await runProcess('echo started; sleep 30', { ...base, inactivityMs: 400 });
    expect(result).toMatchObject({
      timed_out: true,
      timeout_kind: 'inactivity',
      stdout: 'started\n',
    });
    expect(result.duration_ms).toBeLessThan(20_000);
  });

  it('returns once the shell ends, killing what it left running in the background', async () => {
    const result = await runProcess('sleep 617 & echo left', base);
    expect(result).toMatchObject({ exit_code: 0, timed_out: false, stdout: 'left\n' });
    expect(processesMatching('sleep 617')).toEqual([]);
  });

  it('keeps the head and the tail of 10 MB of output, with a marker, and the last line present', async () => {
    const result = await runProcess(
      "head -c 10000000 /dev/zero | tr '\\0' a; echo; echo LAST-LINE",
      base,
    );
    expect(result.exit_code).toBe(0);
    expect(result.truncated).toBe(true);
    expect(result.stdout.startsWith('aaaa')).toBe(true);
    expect(result.stdout.endsWith('\nLAST-LINE\n')).toBe(true);
    const cut = /\n\[… (\d+) chars cut …\]\n/.exec(result.stdout);
    expect(Number(cut?.[1])).toBe(10_000_000 + 1 + 10 - 30_000);
    expect(result.stdout.length).toBeLessThan(30_100);
  });

  it('reports a failing command by its exit code, never by throwing', async () => {
    const result = await runProcess('echo oops >&2; exit 7', base);
    expect(result).toMatchObject({
      exit_code: 7,
      stderr: 'oops\n',
      timed_out: false,
      canceled: false,
    });
  });

  it('reports a shell that cannot start (its folder is gone) with the reason, never by throwing', async () => {
    const cwd = join(tmpdir(), `sheri-gone-${process.pid}`);
    const result = await runProcess('true', { ...base, cwd });
    expect(result).toMatchObject({ exit_code: null, signal: null, timed_out: false });
    expect(result.stderr).toMatch(/^sheri: could not start bash: spawn bash ENOENT/);
    expect(describeResult(result)).toMatch(/^did not start \(sheri: could not start bash: /);
  });

  it('keeps a UTF-8 character split across two writes whole', async () => {
    const result = await runProcess("printf '\\xc3'; sleep 0.05; printf '\\xa9\\n'", base);
    expect(result).toMatchObject({ exit_code: 0, stdout: 'é\n' });
  });

  it('shows a command neither ANTHROPIC_API_KEY nor GITHUB_TOKEN that the agent holds', async () => {
    const agentEnv = {
      ...process.env,
      ANTHROPIC_API_KEY: 'sk-ant-secret',
      GITHUB_TOKEN: 'ghp_secret',
    };
    const result = await runProcess('env', { ...base, env: buildEnvironment(agentEnv) });
    expect(result.stdout).not.toContain('ANTHROPIC_API_KEY');
    expect(result.stdout).not.toContain('GITHUB_TOKEN');
    expect(result.stdout).not.toContain('secret');
    expect(result.stdout).toMatch(/^PATH=/m);
  });
});

describe('buildEnvironment', () => {
  const agentEnv = {
    PATH: '/usr/bin',
    HOME: '/root',
    ANTHROPIC_API_KEY: 'a',
    AWS_SECRET_ACCESS_KEY: 'b',
    DB_PASSWORD: 'c',
    NPM_CONFIG_REGISTRY: 'https://registry',
    NPM_CONFIG_TOKEN: 'd',
    DATABASE_URL: 'postgres://',
    RANDOM_THING: 'e',
  };

  it('passes only the safe defaults when the role names nothing', () => {
    expect(buildEnvironment(agentEnv)).toEqual({ PATH: '/usr/bin', HOME: '/root' });
  });

  it('passes a secret-looking variable only when the role names it exactly', () => {
    expect(buildEnvironment(agentEnv, ['DB_PASSWORD'])).toMatchObject({ DB_PASSWORD: 'c' });
  });

  it('never lets a prefix rule pass a secret-looking variable', () => {
    const env = buildEnvironment(agentEnv, ['NPM_CONFIG_*']);
    expect(env).toMatchObject({ NPM_CONFIG_REGISTRY: 'https://registry' });
    expect(env).not.toHaveProperty('NPM_CONFIG_TOKEN');
  });

  it('never passes BASH_ENV, BASH_FUNC_* or LD_PRELOAD, even when a role names them', () => {
    const env = buildEnvironment(
      { ...agentEnv, BASH_ENV: '/tmp/evil.sh', 'BASH_FUNC_ls%%': '() { id; }', LD_PRELOAD: 'x.so' },
      ['BASH_ENV', 'BASH_FUNC_ls%%', 'LD_PRELOAD'],
    );
    expect(Object.keys(env).sort()).toEqual(['HOME', 'PATH']);
  });

  it('replaces a multibyte locale other than UTF-8, in which bash would cut words differently', () => {
    expect(buildEnvironment({ PATH: '/usr/bin', LANG: 'zh_TW.Big5' }, [])).toMatchObject({
      LC_ALL: 'C.UTF-8',
    });
    expect(buildEnvironment({ PATH: '/usr/bin', LANG: 'de_DE.UTF-8' })).not.toHaveProperty(
      'LC_ALL',
    );
  });

  it('adds the task variables on top', () => {
    expect(buildEnvironment(agentEnv, [], { SHERI_TASK_ID: 't1' })).toMatchObject({
      SHERI_TASK_ID: 't1',
    });
  });
});
