import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/errors.js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { runSheri, SHERI_BIN, startSheri, type SheriProcess } from '../helpers/sheri-process.js';
import { freePort, requireTool } from '../helpers/tools.js';

// Read-only and full folders need a mount of their own: bubblewrap makes them without root.
const HAS_BWRAP = requireTool('bwrap');

const processes: SheriProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const process of processes.splice(0)) await process.kill('SIGKILL');
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sheri-up-'));
  dirs.push(dir);
  return dir;
}

/** Whether something still listens on the port (a failed `up` must not keep it). */
async function portIsFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function up(dir: string, extra: string[] = []): Promise<SheriProcess> {
  const process = startSheri(['up', '--port', '0', '--log-format', 'json', ...extra], { cwd: dir });
  processes.push(process);
  await process.waitForOutput(/is up on mqtt:\/\//);
  return process;
}

describe('trip-up 1: sheri up checks its arguments and config before it starts anything', () => {
  it('exits 4 on an invalid sheri.config.json, with no broker started and nothing left behind', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'sheri.config.json'), '{ "leaseMs": "soon" }');
    const result = await runSheri(['up', '--port', '0', '--log-format', 'json'], {
      cwd: dir,
      timeoutMs: 20_000,
    });
    expect(result.timedOut).toBe(false);
    expect(result.code).toBe(EXIT.config);
    expect(result.stderr).toMatch(
      /^sheri: config file .*sheri\.config\.json is invalid: leaseMs: /,
    );
    expect(result.stderr).not.toContain('broker listening');
    expect(readdirSync(dir)).toEqual(['sheri.config.json']);
  });

  it('refuses --agents bogus=2 with exit 2 before the broker starts', async () => {
    const dir = tempDir();
    const port = await freePort();
    const result = await runSheri(
      ['up', '--port', String(port), '--agents', 'bogus=2', '--log-format', 'json'],
      { cwd: dir, timeoutMs: 20_000 },
    );
    expect(result.code).toBe(EXIT.usage);
    expect(result.stderr).toBe(
      'sheri: --agents: unknown role "bogus"; roles are database, deployment, documentation, general, monitoring, review, security, testing\n',
    );
    expect(readdirSync(dir)).toEqual([]);
  });

  it('stops the broker it started when a later step fails, frees the port and leaves no empty .sheri/broker', async () => {
    const dir = tempDir();
    const port = await freePort();
    // The hub's ledger cannot be opened: a folder stands where its file would be.
    mkdirSync(join(dir, '.sheri', 'hub-opencto-dev.sqlite'), { recursive: true });
    const result = await runSheri(['up', '--port', String(port), '--log-format', 'json'], {
      cwd: dir,
      timeoutMs: 20_000,
    });
    expect(result.timedOut).toBe(false);
    expect(result.stderr).toContain('broker listening');
    expect(result.code).toBe(EXIT.dataDir);
    expect(result.stderr).toMatch(
      /sheri: cannot use the data directory .*\.sheri: a file in it cannot be opened/,
    );
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(await portIsFree(port)).toBe(true);
    expect(existsSync(join(dir, '.sheri', 'broker'))).toBe(false);
  });
});

describe('trip-up 7: the data directory is locked by the sheri that uses it', () => {
  it('tells a second sheri up in the same folder who holds it and to use --data-dir, exit 5', async () => {
    const dir = tempDir();
    const first = await up(dir);
    const second = await runSheri(['up', '--port', '0', '--log-format', 'json'], {
      cwd: dir,
      timeoutMs: 20_000,
    });
    expect(second.code).toBe(EXIT.dataDir);
    expect(second.stderr).toMatch(
      new RegExp(
        `^sheri: the data directory .*\\.sheri is in use by another sheri \\(sheri up, pid ${first.child.pid}, since [0-9T:.-]+Z\\), which holds the broker's state — stop that one first, or give this one a folder of its own: --data-dir <dir>\\n$`,
      ),
    );
    expect(second.stderr).not.toContain('Database failed to open');
    // The first goes on serving; a second with a folder of its own starts.
    expect(first.child.exitCode).toBeNull();
    await up(dir, ['--data-dir', join(dir, 'other')]);
  });

  it('refuses a second hub of the same swarm on the same ledger, but not one of another swarm', async () => {
    const dir = tempDir();
    const swarm = await up(dir);
    const broker = /is up on (mqtt:\/\/[0-9.:]+)/.exec(swarm.output())![1]!;
    const hub = await runSheri(['hub', '--broker', broker, '--log-format', 'json'], {
      cwd: dir,
      timeoutMs: 20_000,
    });
    expect(hub.code).toBe(EXIT.dataDir);
    expect(hub.stderr).toContain("which holds the hub's ledger of swarm opencto-dev");
    const other = startSheri(
      ['hub', '--broker', broker, '--swarm', 'other', '--log-format', 'json'],
      {
        cwd: dir,
      },
    );
    processes.push(other);
    await other.waitForOutput('hub ready');
  });

  it('is free again once its holder dies, even by kill -9', async () => {
    const dir = tempDir();
    const first = await up(dir);
    await first.kill('SIGKILL');
    await up(dir);
  });
});

describe.skipIf(!HAS_BWRAP)(
  'trip-up 8 (data directory): an unusable one is said in one line, exit 5',
  () => {
    /** sheri up inside a mount namespace where `dataDir` is made read-only or small. */
    async function upWith(mount: string[], dataDir: string) {
      const child = spawn(
        'bwrap',
        [
          '--bind',
          '/',
          '/',
          '--dev',
          '/dev',
          ...mount,
          '--',
          process.execPath,
          SHERI_BIN,
          'up',
          '--port',
          '0',
          '--data-dir',
          dataDir,
          '--log-format',
          'json',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.stdout.resume();
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const [code] = (await once(child, 'close')) as [number | null];
      clearTimeout(timer);
      return { code, stderr };
    }

    it('a read-only folder: exit 5 and no stack trace', async () => {
      const dir = tempDir();
      const result = await upWith(['--ro-bind', dir, dir], dir);
      expect(result.code).toBe(EXIT.dataDir);
      expect(result.stderr).toBe(
        `sheri: cannot use the data directory ${dir}: it is on a read-only file system — make room or fix its permissions, or choose another with --data-dir <dir>\n`,
      );
    });

    it('a full disk: exit 5, and the process ends instead of hanging on with its broker', async () => {
      const dir = tempDir();
      // Room for the credential store and the broker's first files, not for the hub's ledger.
      const result = await upWith(['--size', String(64 * 1024), '--tmpfs', dir], dir);
      expect(result.code).toBe(EXIT.dataDir);
      expect(result.stderr).toMatch(
        /sheri: cannot use the data directory .*: (the disk is full|the disk reports an I\/O error) — make room/,
      );
      expect(result.stderr).not.toMatch(/\n\s+at /);
    });
  },
);
