import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './tools.js';

const PG_ROOT = '/usr/lib/postgresql';

/** The directory of PostgreSQL's server binaries (Debian keeps them off PATH), newest first. */
export function postgresBin(): string | undefined {
  if (!existsSync(PG_ROOT)) return undefined;
  const versions = readdirSync(PG_ROOT)
    .filter((name) => existsSync(join(PG_ROOT, name, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(PG_ROOT, versions[0], 'bin') : undefined;
}

/**
 * Tests on PostgreSQL skip without it on a developer's machine and fail in CI, where .ci/run
 * installs it (as requireTool() does for tools on PATH).
 */
export function requirePostgres(): boolean {
  if (postgresBin()) return true;
  if (process.env.CI) {
    throw new Error(
      `PostgreSQL is not installed (no ${PG_ROOT}/*/bin/initdb), and CI must run this test (see .ci/run)`,
    );
  }
  return false;
}

/**
 * A PostgreSQL server of the test's own: initdb into a temporary directory, a free port on
 * 127.0.0.1, its unix socket in that directory, one database. initdb and postgres refuse to run
 * as root, so when the tests run as root the server runs as the `postgres` user (the directory
 * is given to it). `close()` stops it (fast shutdown) and removes the directory.
 */
export class TestPostgres {
  private server: ChildProcess | undefined;
  private exited: Promise<unknown> | undefined;

  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly database: string,
  ) {}

  /** postgres://… for the test's database, over TCP (what a hub on another machine would use). */
  get url(): string {
    return `postgres://sheri:sheri-test-password@127.0.0.1:${this.port}/${this.database}`;
  }

  static async start(): Promise<TestPostgres> {
    const bin = postgresBin();
    if (!bin) throw new Error('PostgreSQL is not installed');
    const dir = mkdtempSync(join(tmpdir(), 'sheri-pg-'));
    const asRoot = process.getuid?.() === 0;
    const owner = asRoot ? pgUser() : undefined;
    const data = join(dir, 'data');
    const pgPassword = join(dir, 'pwfile');
    try {
      if (owner) chownSync(dir, owner.uid, owner.gid);
      chmodSync(dir, 0o700);
      runAs(owner, 'sh', ['-c', `printf '%s' sheri-test-password > '${pgPassword}'`]);
      runAs(owner, join(bin, 'initdb'), [
        '-D',
        data,
        '-U',
        'sheri',
        '--auth=scram-sha-256',
        `--pwfile=${pgPassword}`,
        '-E',
        'UTF8',
        '--no-sync',
      ]);
      const port = await freePort();
      const db = new TestPostgres(dir, port, 'sheri');
      await db.launch(bin, owner, data);
      await db.query('postgres', 'CREATE DATABASE sheri');
      return db;
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  private async launch(bin: string, owner: PgUser | undefined, data: string): Promise<void> {
    const args = [
      '-D',
      data,
      '-p',
      String(this.port),
      '-h',
      '127.0.0.1',
      '-k',
      this.dir,
      // A test server: durability across power loss is not what it is for.
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=50',
    ];
    const command = owner ? 'runuser' : join(bin, 'postgres');
    const argv = owner ? ['-u', owner.name, '--', join(bin, 'postgres'), ...args] : args;
    const server = spawn(command, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.server = server;
    this.exited = once(server, 'exit');
    let log = '';
    server.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
    const ready = new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (log.includes('ready to accept connections')) resolve();
      };
      server.stderr?.on('data', check);
      void this.exited!.then(() => reject(new Error(`postgres exited at start:\n${log}`)));
    });
    await ready;
    // Keep reading its log, so a full pipe never stops the server.
    server.stderr?.resume();
  }

  /** Run one statement on `database` of this server. */
  async query(database: string, sql: string): Promise<pg.QueryResult> {
    const client = new pg.Client({
      host: '127.0.0.1',
      port: this.port,
      user: 'sheri',
      password: 'sheri-test-password',
      database,
    });
    await client.connect();
    try {
      return await client.query(sql);
    } finally {
      await client.end();
    }
  }

  /** Another empty database on this server (one per test, so tests share a server). */
  async createDatabase(name: string): Promise<string> {
    await this.query('postgres', `CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    return `postgres://sheri:sheri-test-password@127.0.0.1:${this.port}/${name}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server && server.exitCode === null && server.signalCode === null) {
      // SIGINT: PostgreSQL's fast shutdown (sessions ended, no wait for clients to leave). Sent
      // to the postmaster itself: runuser, its parent when we are root, does not pass it on.
      const pid = postmasterPid(join(this.dir, 'data'));
      if (pid) process.kill(pid, 'SIGINT');
      else server.kill('SIGKILL');
      await this.exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

interface PgUser {
  name: string;
  uid: number;
  gid: number;
}

function pgUser(): PgUser {
  const field = (flag: string): number =>
    Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { name: 'postgres', uid: field('-u'), gid: field('-g') };
  } catch {
    throw new Error(
      'running as root, PostgreSQL needs the "postgres" user to run as (apt-get install postgresql creates it)',
    );
  }
}

function postmasterPid(data: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function runAs(owner: PgUser | undefined, command: string, args: string[]): void {
  const [cmd, argv] = owner
    ? ['runuser', ['-u', owner.name, '--', command, ...args]]
    : [command, args];
  execFileSync(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
}
