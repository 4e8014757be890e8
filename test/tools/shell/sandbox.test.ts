import { execFileSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../../src/config/defaults.js';
import { runProcess, type ProcessResult } from '../../../src/tools/shell/run-process.js';
import { Sandbox, type SandboxLimits } from '../../../src/tools/shell/sandbox.js';
import { requireTool } from '../../helpers/tools.js';
import { ATTEMPTS, CANARY, VICTIM_FILES } from '../../fixtures/exfiltration.js';

const hasBwrap = requireTool('bwrap');

/** Small limits, so each one is reached in well under a second. */
const LIMITS: SandboxLimits = {
  ...DEFAULTS.sandboxLimits,
  memoryMiB: 256,
  processes: 64,
  fileSizeMiB: 16,
  tmpMiB: 32,
  cpuSeconds: 1,
};

let root: string;
let workspace: string;
let secretDir: string;
let sandbox: Sandbox;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'sheri-sandbox-'));
  workspace = join(root, 'ws');
  secretDir = join(root, 'state');
  mkdirSync(join(workspace, '.git', 'hooks'), { recursive: true });
  writeFileSync(join(workspace, '.git', 'config'), '[core]\n');
  writeFileSync(join(workspace, 'notes.txt'), 'keep me\n');
  mkdirSync(join(workspace, '.sheri'));
  writeFileSync(join(workspace, '.sheri', 'hub-x.sqlite'), 'LEDGER-CANARY');
  writeFileSync(join(workspace, 'sheri.config.json'), '{"swarm":"CONFIG-CANARY"}');
  mkdirSync(secretDir);
  writeFileSync(join(secretDir, 'token'), 'OUTSIDE-CANARY');
  if (!hasBwrap) return;
  sandbox = Sandbox.create({
    mode: 'bwrap',
    limits: LIMITS,
    protectedPaths: [join(workspace, '.sheri'), join(workspace, 'sheri.config.json')],
    env: process.env,
  });
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

function run(
  command: string,
  options: { readOnly?: boolean; network?: boolean; timeoutMs?: number } = {},
): Promise<ProcessResult> {
  return runProcess(command, {
    cwd: workspace,
    env: { PATH: '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', LANG: 'C.UTF-8' },
    timeoutMs: options.timeoutMs ?? 20_000,
    outputLimit: 4_000,
    outputCeiling: 1024 * 1024,
    sandbox: {
      sandbox,
      workspace,
      readOnly: options.readOnly ?? false,
      network: options.network ?? false,
    },
  });
}

/** Live processes whose command line holds `marker`, wherever they run. */
function leftover(marker: string): string[] {
  return execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(marker) && !line.includes('ps -eo'));
}

describe.runIf(hasBwrap)('the bubblewrap sandbox', () => {
  it('says it is bubblewrap, with a cgroup for memory and processes', () => {
    expect(sandbox.mode).toBe('bwrap');
    expect(sandbox.status.kind).toBe('bwrap');
    // CI and this machine let root create cgroups; elsewhere the status says what is missing.
    if (sandbox.status.cgroup === 'none') expect(sandbox.status.note).toMatch(/no cgroup/);
  });

  it('runs commands as uid 65534 in their own PID namespace: the agent is not in /proc', async () => {
    const result = await run(`id -u; echo $$; ls /proc | grep -c '^[0-9]'; cat /proc/1/environ`);
    const [uid, , count] = result.stdout.split('\n');
    expect(uid).toBe('65534');
    expect(Number(count)).toBeLessThan(10);
    expect(result.stdout).not.toContain(String(process.pid));
    expect(result.stdout).not.toMatch(/ANTHROPIC|GITHUB_TOKEN|AWS_/);
  });

  it("hides $HOME, other folders and sheri's own files; /etc/shadow reads nothing", async () => {
    const result = await run(
      `ls -A ~; cat ${secretDir}/token; cat .sheri/hub-x.sqlite; cat sheri.config.json; cat /etc/shadow; true`,
    );
    expect(result.stdout).toBe('');
    const all = result.stdout + result.stderr;
    for (const canary of ['OUTSIDE-CANARY', 'LEDGER-CANARY', 'CONFIG-CANARY', 'root:'])
      expect(all).not.toContain(canary);
  });

  it("refuses writes to sheri's own files, .git/config and .git/hooks, and leaves them as they were", async () => {
    await run(
      'echo x > sheri.config.json; echo x > .sheri/hub-x.sqlite; echo "[core] fsmonitor=evil" >> .git/config; echo evil > .git/hooks/pre-commit; true',
    );
    expect(readFileSync(join(workspace, 'sheri.config.json'), 'utf8')).toBe(
      '{"swarm":"CONFIG-CANARY"}',
    );
    expect(readFileSync(join(workspace, '.sheri', 'hub-x.sqlite'), 'utf8')).toBe('LEDGER-CANARY');
    expect(readFileSync(join(workspace, '.git', 'config'), 'utf8')).toBe('[core]\n');
    expect(() => statSync(join(workspace, '.git', 'hooks', 'pre-commit'))).toThrow();
  });

  it('keeps .git/config from a command that renames .git and writes a new one in its place', async () => {
    const result = await run(
      'mv .git .git.old; mkdir -p .git; printf "[core]\\n\\tfsmonitor = evil\\n" > .git/config; cp -r .git.old/. .git/ 2>/dev/null; true',
    );
    expect(result.stderr).toMatch(/busy|Read-only/i);
    expect(readFileSync(join(workspace, '.git', 'config'), 'utf8')).toBe('[core]\n');
    expect(() => statSync(join(workspace, '.git.old'))).toThrow();
  });

  it('refuses to run beside a .git/config that is a link, rather than failing every command or leaving its target writable', async () => {
    const other = join(root, 'ws-linked');
    mkdirSync(join(other, '.git'), { recursive: true });
    writeFileSync(join(other, 'real-config'), '[core]\n');
    symlinkSync('../real-config', join(other, '.git', 'config'));
    const result = await runProcess('echo "[core] fsmonitor=evil" > real-config', {
      cwd: other,
      env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' },
      timeoutMs: 20_000,
      outputLimit: 4_000,
      outputCeiling: 1024 * 1024,
      sandbox: { sandbox, workspace: other, readOnly: false, network: false },
    });
    expect(result.exit_code).toBeNull();
    expect(result.stderr).toMatch(
      /the sandbox will not start it: .*\.git\/config is not a plain file/,
    );
    expect(readFileSync(join(other, 'real-config'), 'utf8')).toBe('[core]\n');
  });

  it('mounts the workspace read-only for a read-only role: "> file" cannot truncate it', async () => {
    const result = await run('echo gone > notes.txt', { readOnly: true });
    expect(result.exit_code).not.toBe(0);
    expect(result.stderr).toMatch(/Read-only file system/);
    expect(readFileSync(join(workspace, 'notes.txt'), 'utf8')).toBe('keep me\n');
  });

  it('stops "tail /dev/zero" at the memory limit, saying so, with nothing left running', async () => {
    const result = await run('tail /dev/zero');
    expect(result.exit_code).not.toBe(0);
    // With a cgroup the kernel kills it there; without one, RLIMIT_AS makes its allocation fail.
    if (sandbox.status.cgroup !== 'none') expect(result.limit).toBe('memory');
    expect(leftover('tail /dev/zero')).toEqual([]);
  });

  it('stops a fork bomb at the process limit, and the bomb dies with its command', async () => {
    const result = await run(':(){ :|:& };: ; sleep 1; echo after-bomb');
    if (sandbox.status.cgroup !== 'none') expect(result.limit).toBe('processes');
    expect(result.stdout).toContain('after-bomb');
    expect(result.timed_out).toBe(false);
    expect(leftover('after-bomb')).toEqual([]);
  });

  it('cannot make a user namespace of its own inside (unshare -U)', async () => {
    const result = await run('unshare -U true');
    expect(result.exit_code).not.toBe(0);
  });

  it('kills what "setsid -f sleep 603" left when the command ends', async () => {
    const result = await run('setsid -f sleep 603; echo detached');
    expect(result).toMatchObject({ exit_code: 0, timed_out: false, stdout: 'detached\n' });
    expect(leftover('sleep 603')).toEqual([]);
  });

  it('kills a double-forked process that closed its output, returning at once', async () => {
    const result = await run('( ( exec >&- 2>&- </dev/null; sleep 604 ) & ) ; echo forked');
    expect(result).toMatchObject({ exit_code: 0, timed_out: false, stdout: 'forked\n' });
    expect(leftover('sleep 604')).toEqual([]);
  });

  it('stops a command writing 10 GB to a file at the file size limit', async () => {
    const result = await run('head -c 10G /dev/zero > big.bin');
    expect(result.limit).toBe('file-size');
    expect(statSync(join(workspace, 'big.bin')).size).toBe(LIMITS.fileSizeMiB * 1024 * 1024);
    rmSync(join(workspace, 'big.bin'));
  });

  it('stops a command writing 10 GB to /tmp when the private /tmp is full', async () => {
    const result = await run('head -c 10G /dev/zero > /tmp/big.bin');
    expect(result.exit_code).not.toBe(0);
    expect(result.stderr).toMatch(/No space left|File size limit/);
  });

  it('stops a command writing 10 GB to its output at the output ceiling', async () => {
    const result = await run('head -c 10G /dev/zero');
    expect(result.limit).toBe('output');
    expect(result.truncated).toBe(true);
  });

  it('stops a busy loop at the CPU time limit', async () => {
    const result = await run('while :; do :; done');
    expect(result.limit).toBe('cpu-time');
    expect(result.timed_out).toBe(false);
  });

  it(`keeps every secret from ${ATTEMPTS.length} exfiltration attempts on its own, without the policy`, async () => {
    // This process stands for the agent: the secrets are in its environment, its $HOME and in
    // sheri's own files, and the commands run straight through the sandboxed runner.
    const saved = { ...process.env };
    process.env.ANTHROPIC_API_KEY = CANARY.anthropic;
    process.env.GITHUB_TOKEN = CANARY.github;
    process.env.AWS_SECRET_ACCESS_KEY = CANARY.aws;
    const home = join(root, 'home');
    mkdirSync(join(home, '.aws'), { recursive: true });
    writeFileSync(join(home, '.aws', 'credentials'), CANARY.home);
    writeFileSync(join(workspace, '.sheri', 'credentials.json'), CANARY.data);
    writeFileSync(join(workspace, 'sheri.config.json'), CANARY.config);
    const ledger = join(secretDir, 'ledger.sqlite');
    writeFileSync(ledger, CANARY.data);
    for (const [name, text] of Object.entries(VICTIM_FILES))
      writeFileSync(join(workspace, name), text);
    try {
      const outputs: string[] = [];
      for (const attempt of ATTEMPTS) {
        const result = await runProcess(attempt.replaceAll('$L', ledger), {
          cwd: workspace,
          env: { PATH: '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8' },
          timeoutMs: 30_000,
          outputLimit: 100_000,
          sandbox: { sandbox, workspace, readOnly: false, network: false },
        });
        outputs.push(result.stdout, result.stderr);
      }
      const everything = outputs.join('\n');
      for (const [name, canary] of Object.entries(CANARY)) {
        expect(everything.includes(canary), `canary ${name} leaked`).toBe(false);
      }
    } finally {
      process.env = saved;
    }
  });

  describe('network', () => {
    let server: Server;
    let url: string;
    beforeAll(async () => {
      server = createServer((_request, response) => response.end('reached'));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('cannot reach the host from a role without network', async () => {
      const result = await run(`curl -sS --max-time 5 ${url}`);
      expect(result.exit_code).not.toBe(0);
      expect(result.stdout).not.toContain('reached');
    });

    it('reaches the host from a role with network (deployment)', async () => {
      const result = await run(`curl -sS --max-time 5 ${url}`, { network: true });
      expect(result.stdout).toBe('reached');
    });
  });
});
