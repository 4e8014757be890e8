import {
  cpSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { noteProtected } from './protected-inodes.js';

/**
 * sheri's own files — the config file it reads, the data directory (broker state, the hub's
 * ledger, credentials) — are never a task's to change (SPEC §5): the sandbox hides the ones that
 * exist, the policy and the file tools refuse them by path. A path that does not exist yet
 * (`sheri.config.json` before anyone wrote one) cannot be covered by a mount, so the guard
 * below looks after every sandboxed command whether one appeared, and moves it aside.
 */
export const CONFIG_FILE_NAME = 'sheri.config.json';
export const DATA_DIR_NAME = '.sheri';

/** Absolute paths, symlinks resolved (of the nearest existing parent for a path not there yet). */
export function protectedPathsFor(options: {
  cwd: string;
  workspace: string;
  configFile: string | undefined;
  dataDir: string;
  /** More of sheri's own files: a credential file outside the data directory. */
  extra?: readonly string[];
}): string[] {
  const paths = [
    ...(options.extra ?? []),
    options.dataDir,
    join(options.cwd, CONFIG_FILE_NAME),
    join(options.workspace, CONFIG_FILE_NAME),
    join(options.workspace, DATA_DIR_NAME),
    ...(options.configFile ? [options.configFile] : []),
  ];
  return [...new Set(paths.map((path) => realPathOf(resolve(path))))];
}

export function realPathOf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(realPathOf(parent), basename(path));
  }
}

interface Marker {
  pid: number;
  agent_id: string;
  since: string;
  absent: string[];
  /** Those that existed, by identity: one below a workspace subfolder can be swapped (below). */
  present?: Present[];
}

/** A protected path that exists, and which file it is (device and inode). */
interface Present {
  path: string;
  id: string;
}

/**
 * Watches the protected paths inside the workspace, which mounts cover only in part. Before a
 * sandboxed command it writes a marker in the data directory (hidden from the sandbox) naming
 * them; after, it moves to `<data-dir>/quarantine/` each that appeared, and each that is now
 * another file than before, and removes the marker. The second case: a file the sandbox masks
 * below a subfolder of the workspace (`profiles/general.md`) cannot be written, but the folder
 * can be renamed and a new one made with a file of the same name (`mv profiles p && mkdir
 * profiles && echo … > profiles/general.md`). A marker left by a process that died mid-command
 * makes the next start refuse (checkGuardMarkers) while such a path is there, so a crash cannot
 * smuggle a file past the check either.
 */
export class StateGuard {
  private readonly markerFile: string;
  private running = 0;

  constructor(
    private readonly paths: readonly string[],
    private readonly dataDir: string,
    agentId: string,
  ) {
    this.markerFile = join(dataDir, 'guard', `${agentId}.json`);
  }

  /**
   * Run `body`; returns what it produced and the protected paths it created or replaced (moved
   * aside).
   */
  async around<T>(body: () => Promise<T>): Promise<{ value: T; created: Moved[] }> {
    if (this.paths.length === 0) return { value: await body(), created: [] };
    // The file tools refuse these by inode too, whatever the command renames (protected-inodes.ts).
    noteProtected(this.paths);
    const absent: string[] = [];
    const present: Present[] = [];
    for (const path of this.paths) {
      const id = identityOf(path);
      if (id === undefined) absent.push(path);
      else present.push({ path, id });
    }
    this.running++;
    this.writeMarker(absent, present);
    try {
      let value: T;
      try {
        value = await body();
      } catch (error) {
        // What the command left is not kept because the runner failed.
        this.quarantine(changed(absent, present));
        throw error;
      }
      return { value, created: this.quarantine(changed(absent, present)) };
    } finally {
      // A path still changed (neither moved nor deleted) keeps the marker, so that the next
      // start refuses while it is there (checkGuardMarkers).
      if (--this.running === 0 && changed(absent, present).length === 0) {
        rmSync(this.markerFile, { force: true });
      }
    }
  }

  private writeMarker(absent: string[], present: Present[]): void {
    mkdirSync(dirname(this.markerFile), { recursive: true, mode: 0o700 });
    const marker: Marker = {
      pid: process.pid,
      agent_id: basename(this.markerFile, '.json'),
      since: new Date().toISOString(),
      absent,
      present,
    };
    writeFileSync(this.markerFile, JSON.stringify(marker), { mode: 0o600 });
  }

  /**
   * Each protected path that appeared, moved to `<data-dir>/quarantine/`. The data directory may
   * lie on another filesystem than the workspace (docker-compose: the image's /app/.sheri, the
   * host's repo bind-mounted at /workspace), where rename fails with EXDEV: it is then copied
   * (links as links) and removed. One that cannot be kept is removed all the same; none is left
   * where a later start would read it, and one failure does not stop the others.
   */
  private quarantine(paths: readonly string[]): Moved[] {
    const moved: Moved[] = [];
    for (const path of paths) {
      const dir = join(this.dataDir, 'quarantine');
      const to = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${basename(path)}`);
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        moveAside(path, to);
        moved.push({ path, to });
      } catch (error) {
        const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        try {
          rmSync(path, { recursive: true, force: true });
          moved.push({ path, to: `nowhere: it could not be kept (${why}), so it was deleted` });
        } catch {
          moved.push({ path, to: `nowhere: it could be neither kept (${why}) nor deleted` });
        }
      }
    }
    return moved;
  }
}

export interface Moved {
  path: string;
  to: string;
}

/**
 * Why this process must not start: a guard marker of a process that is gone names a protected
 * path that now exists — written by a command while that process died. Undefined when clear;
 * markers that no longer matter are removed.
 */
export function checkGuardMarkers(dataDir: string): string | undefined {
  const dir = join(dataDir, 'guard');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  for (const name of names) {
    const file = join(dir, name);
    let marker: Marker;
    try {
      marker = JSON.parse(readFileSync(file, 'utf8')) as Marker;
    } catch {
      rmSync(file, { force: true });
      continue;
    }
    if (marker.pid !== process.pid && isAlive(marker.pid)) continue;
    const absent = (Array.isArray(marker.absent) ? marker.absent : []).filter(
      (path) => typeof path === 'string',
    );
    const present = (Array.isArray(marker.present) ? marker.present : []).filter(
      (entry) => typeof entry?.path === 'string' && typeof entry.id === 'string',
    );
    const appeared = changed(absent, present);
    if (appeared.length === 0) {
      rmSync(file, { force: true });
      continue;
    }
    return (
      `${appeared.join(', ')} appeared or was replaced while a sandboxed command of agent ${marker.agent_id} ran ` +
      `(since ${marker.since}), and that agent stopped before it could check: a task may have ` +
      `written it. Read it; if it is yours, delete ${file} and start again, else delete the file.`
    );
  }
  return undefined;
}

/** rename, or across filesystems (EXDEV) a copy that keeps links as links, then the removal. */
function moveAside(path: string, to: string): void {
  try {
    renameSync(path, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    cpSync(path, to, { recursive: true, verbatimSymlinks: true, errorOnExist: true, force: false });
    rmSync(path, { recursive: true, force: true });
  }
}

function exists(path: string): boolean {
  return identityOf(path) !== undefined;
}

/** Which file a path is now (its device and inode, the link itself for a link), if any. */
function identityOf(path: string): string | undefined {
  try {
    const stat = lstatSync(path, { bigint: true });
    return `${stat.dev}:${stat.ino}`;
  } catch {
    return undefined;
  }
}

/** The protected paths that are there now but were not, or are another file than they were. */
function changed(absent: readonly string[], present: readonly Present[]): string[] {
  return [
    ...absent.filter((path) => exists(path)),
    ...present.flatMap(({ path, id }) => {
      const now = identityOf(path);
      return now !== undefined && now !== id ? [path] : [];
    }),
  ];
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
