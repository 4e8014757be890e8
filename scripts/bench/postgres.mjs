// A private PostgreSQL server for a bench script: initdb into a temp dir, a free port on
// 127.0.0.1, its socket in that dir. As root (this machine) the server runs as the `postgres`
// user, since initdb and postgres refuse root. `close()` stops it and removes its dir; if the
// bench dies instead, lib.mjs's exit handler kills its process group and removes the dir.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, removeDir, startProcess, tempDir } from './lib.mjs';

const PG_ROOT = '/usr/lib/postgresql';
const USER = 'sheri';
const PASSWORD = 'sheri-bench-password';

/** The newest of Debian's PostgreSQL versions (directory names such as "15", "16"). Pure. */
export function newestVersion(names) {
  return (
    names.filter((name) => /^\d+(\.\d+)?$/.test(name)).sort((a, b) => Number(b) - Number(a))[0] ??
    undefined
  );
}

/** The directory of PostgreSQL's server binaries (Debian keeps them off PATH), or undefined. */
export function postgresBin() {
  if (!existsSync(PG_ROOT)) return undefined;
  const version = newestVersion(
    readdirSync(PG_ROOT).filter((name) => existsSync(join(PG_ROOT, name, 'bin', 'initdb'))),
  );
  return version ? join(PG_ROOT, version, 'bin') : undefined;
}

/** postgres://… for one database of the server (over TCP, as a hub elsewhere would use). Pure. */
export function databaseUrl(port, database) {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
}

/**
 * Start a server, or undefined when PostgreSQL is not installed. Settings: the distribution's
 * defaults, except `synchronous_commit=off`, the same durability as the SQLite ledger's WAL with
 * `synchronous = NORMAL` (a commit is not flushed at once; a crash of the machine may lose the
 * last ones, never corrupt the ledger), and enough connections for a few hubs.
 */
export async function startPostgres() {
  const bin = postgresBin();
  if (!bin) return undefined;
  const dir = tempDir('sheri-bench-pg-');
  let proc;
  try {
    const owner = process.getuid?.() === 0 ? pgUser() : undefined;
    if (owner) chownSync(dir, owner.uid, owner.gid);
    chmodSync(dir, 0o700);
    const data = join(dir, 'data');
    const pwfile = join(dir, 'pwfile');
    writeFileSync(pwfile, PASSWORD, { mode: 0o600 });
    if (owner) chownSync(pwfile, owner.uid, owner.gid);
    runAs(owner, join(bin, 'initdb'), [
      '-D',
      data,
      '-U',
      USER,
      '--auth=scram-sha-256',
      `--pwfile=${pwfile}`,
      '-E',
      'UTF8',
      '--no-sync',
    ]);
    const port = await freePort();
    const args = [
      '-D',
      data,
      '-p',
      String(port),
      '-h',
      '127.0.0.1',
      '-k',
      dir,
      '-c',
      'synchronous_commit=off',
      '-c',
      'max_connections=50',
    ];
    proc = owner
      ? startProcess('runuser', ['-u', owner.name, '--', join(bin, 'postgres'), ...args])
      : startProcess(join(bin, 'postgres'), args);
    await proc.waitFor('ready to accept connections', 30_000);
    let databases = 0;
    return {
      port,
      pid: proc.pid,
      /** A new empty database; its postgres://… URL. */
      async createDatabase(prefix = 'bench') {
        const name = `${prefix}_${++databases}`;
        await query(port, 'postgres', `CREATE DATABASE ${pg.escapeIdentifier(name)}`);
        return databaseUrl(port, name);
      },
      async close() {
        await stop(proc, data);
        removeDir(dir);
      },
    };
  } catch (error) {
    if (proc) await stop(proc, join(dir, 'data'));
    removeDir(dir);
    throw error;
  }
}

/**
 * SIGINT to the postmaster, PostgreSQL's fast shutdown (sessions ended, no wait for clients):
 * runuser, its parent when we are root, does not pass signals on. SIGKILL to the group after 10 s.
 */
async function stop(proc, data) {
  let pid;
  try {
    pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    pid = undefined;
  }
  if (pid && Number.isInteger(pid) && pid > 0) {
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      // gone already
    }
  }
  await proc.kill(pid ? 'SIGCONT' : 'SIGKILL', 10_000);
}

async function query(port, database, sql) {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: USER,
    password: PASSWORD,
    database,
  });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

function pgUser() {
  const field = (flag) =>
    Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: 'pipe' }).trim());
  try {
    return { name: 'postgres', uid: field('-u'), gid: field('-g') };
  } catch {
    throw new Error(
      'running as root, PostgreSQL needs the "postgres" user to run as (apt-get install postgresql creates it)',
    );
  }
}

function runAs(owner, command, args) {
  const [file, argv] = owner
    ? ['runuser', ['-u', owner.name, '--', command, ...args]]
    : [command, args];
  execFileSync(file, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
}
