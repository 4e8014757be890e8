import { existsSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve, sep } from 'node:path';
import Database from 'better-sqlite3';
import { EXIT, SheriError } from '../errors.js';

/** A part of the data directory one process uses alone, and the files and folders it makes. */
export interface DataDirPart {
  /** The lock's name: `broker`, `hub-<swarm>`. */
  name: string;
  /** What it is, for the message a second process gets. */
  what: string;
  /** Entries of the data directory this part creates (removed after a failed first start). */
  owns: readonly string[];
}

export const BROKER_PART: DataDirPart = {
  name: 'broker',
  what: "the broker's state",
  owns: ['broker'],
};

export function hubPart(swarm: string): DataDirPart {
  const ledger = `hub-${swarm}.sqlite`;
  return {
    name: `hub-${swarm}`,
    what: `the hub's ledger of swarm ${swarm}`,
    owns: [ledger, `${ledger}-wal`, `${ledger}-shm`],
  };
}

interface Owner {
  pid: number;
  command: string;
  host: string;
  since: string;
}

/**
 * The data directory of a serving process (`sheri up`, `broker`, `hub`): checked before anything
 * starts — a folder sheri can write — and locked part by part, so a second process on the same
 * broker state or ledger is told plainly (exit 5) instead of failing deep inside LevelDB or
 * corrupting a ledger. The lock is SQLite's exclusive lock on `<part>.lock`, which the OS drops
 * when the process dies however it dies: no stale lock after a kill -9, no pid to trust.
 */
export class DataDir {
  private readonly locks: Database.Database[] = [];
  private readonly existing = new Set<string>();

  private constructor(
    readonly path: string,
    /** The first folder this run created (the data directory or one above it), if any. */
    private readonly created: string | undefined,
    private readonly parts: readonly DataDirPart[],
  ) {}

  static open(path: string, command: string, parts: readonly DataDirPart[]): DataDir {
    const dir = resolve(path);
    let created: string | undefined;
    try {
      created = mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw unusable(dir, error);
    }
    const dataDir = new DataDir(dir, created, parts);
    try {
      probeWritable(dir);
      for (const part of parts) {
        for (const entry of part.owns)
          if (existsSync(join(dir, entry))) dataDir.existing.add(entry);
        dataDir.locks.push(takeLock(dir, part, command));
      }
    } catch (error) {
      dataDir.abandon();
      throw error instanceof SheriError ? error : unusable(dir, error);
    }
    return dataDir;
  }

  /** Stopping: let the next process have it. The lock files stay (deleting one would race). */
  release(): void {
    for (const lock of this.locks.splice(0)) lock.close();
  }

  /**
   * A start that failed: release the locks and remove what this run created — the whole data
   * directory if it made it, else only what its parts made (an empty `broker/`, a new ledger).
   */
  abandon(): void {
    this.release();
    if (this.created) {
      rmSync(this.created, { recursive: true, force: true });
      return;
    }
    for (const part of this.parts) {
      for (const entry of part.owns) {
        if (!this.existing.has(entry))
          rmSync(join(this.path, entry), { recursive: true, force: true });
      }
    }
  }
}

function probeWritable(dir: string): void {
  const probe = join(dir, `.write-check-${process.pid}`);
  // A page, so a full disk is found now rather than by the ledger's first write.
  writeFileSync(probe, Buffer.alloc(4096));
  unlinkSync(probe);
}

function takeLock(dir: string, part: DataDirPart, command: string): Database.Database {
  const file = join(dir, `${part.name}.lock`);
  const lock = new Database(file, { timeout: 0 });
  try {
    lock.pragma('journal_mode = MEMORY');
    // Exclusive locking mode keeps the lock BEGIN EXCLUSIVE takes until the connection closes.
    lock.pragma('locking_mode = EXCLUSIVE');
    lock.exec('BEGIN EXCLUSIVE');
    lock.exec('COMMIT');
  } catch (error) {
    lock.close();
    if ((error as { code?: string }).code === 'SQLITE_BUSY') throw inUse(dir, part, file);
    throw error;
  }
  const owner: Owner = {
    pid: process.pid,
    command,
    host: hostname(),
    since: new Date().toISOString(),
  };
  writeFileSync(`${file}.owner`, `${JSON.stringify(owner)}\n`);
  return lock;
}

function inUse(dir: string, part: DataDirPart, file: string): SheriError {
  let who = 'another sheri';
  try {
    const owner = JSON.parse(readFileSync(`${file}.owner`, 'utf8')) as Owner;
    who = `another sheri (${owner.command}, pid ${owner.pid}${owner.host === hostname() ? '' : ` on ${owner.host}`}, since ${owner.since})`;
  } catch {
    // Who holds it is a courtesy; that it is held is what counts.
  }
  return new SheriError(
    `the data directory ${dir} is in use by ${who}, which holds ${part.what} — stop that one first, or give this one a folder of its own: --data-dir <dir>`,
    EXIT.dataDir,
  );
}

const WHY: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'it is on a read-only file system',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  ENOTDIR: 'part of its path is a file, not a folder',
  EEXIST: 'it is a file, not a folder',
  EIO: 'the disk reports an I/O error',
  SQLITE_FULL: 'the disk is full',
  SQLITE_READONLY: 'it is read-only',
  SQLITE_CANTOPEN: 'a file in it cannot be opened',
  SQLITE_IOERR: 'the disk reports an I/O error',
  SQLITE_PERM: 'permission denied',
  SQLITE_NOTADB: 'a file in it is not a database',
  SQLITE_CORRUPT: 'a database in it is corrupt',
};

/** LevelDB (the broker's state) says it in words, under its own "failed to open". */
const LEVEL_WORDS: [RegExp, string][] = [
  [/No space left/i, 'ENOSPC'],
  [/Read-only file system/i, 'EROFS'],
  [/Permission denied/i, 'EACCES'],
  [/Not a directory/i, 'ENOTDIR'],
];

function reasonOf(error: unknown): string | undefined {
  for (let at = error, depth = 0; at instanceof Error && depth < 5; at = at.cause, depth++) {
    const code = (at as { code?: unknown }).code;
    if (typeof code === 'string') {
      // SQLite's extended codes name their family first: SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED.
      const family = Object.keys(WHY).find((key) => code === key || code.startsWith(`${key}_`));
      if (family) return WHY[family];
    }
    for (const [pattern, name] of LEVEL_WORDS) if (pattern.test(at.message)) return WHY[name];
  }
  return undefined;
}

function unusable(dir: string, error: unknown): SheriError {
  const why = reasonOf(error) ?? (error as Error).message;
  return new SheriError(
    `cannot use the data directory ${dir}: ${why} — make room or fix its permissions, or choose another with --data-dir <dir>`,
    EXIT.dataDir,
    { cause: error },
  );
}

/**
 * A failure of the disk under the data directory (full, read-only, not writable), as a one-line
 * error of exit 5 — or undefined when `error` is something else. A file-system error about a
 * path outside the data directory is not the data directory's.
 */
export function storageFailure(error: unknown, dataDir: string): SheriError | undefined {
  if (error instanceof SheriError && error.exitCode === EXIT.dataDir) return error;
  if (!reasonOf(error)) return undefined;
  const path = (error as { path?: unknown }).path;
  if (
    typeof path === 'string' &&
    !`${resolve(path)}${sep}`.startsWith(`${resolve(dataDir)}${sep}`)
  ) {
    return undefined;
  }
  return unusable(dataDir, error);
}
