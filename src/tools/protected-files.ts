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
import { lstat, opendir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
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
 * profiles && echo … > profiles/general.md`). The operator's file, moved along with its folder,
 * is then looked for in the workspace by device and inode and put back where it was: the mask is
 * by path, so left at `p/general.md` the next command would read it unmasked (`cat p/…`). A
 * marker left by a process that died mid-command makes the next start refuse (checkGuardMarkers)
 * while such a path is there, so a crash cannot smuggle a file past the check either.
 */
export class StateGuard {
  private readonly markerFile: string;
  private running = 0;
  /** Each protected path that existed, and which file it was: what must be there. */
  private readonly expected = new Map<string, string>();

  constructor(
    private readonly paths: readonly string[],
    private readonly dataDir: string,
    agentId: string,
    private readonly options: GuardOptions = {},
  ) {
    this.markerFile = join(dataDir, 'guard', `${agentId}.json`);
    this.expect(
      paths.flatMap((path) => {
        const id = identityOf(path);
        return id === undefined ? [] : [{ path, id }];
      }),
    );
  }

  /**
   * Run `body`; returns what it produced, the protected paths it created or replaced (moved
   * aside), and the protected files it moved away or deleted (put back where they were when
   * found).
   */
  async around<T>(body: () => Promise<T>): Promise<GuardedResult<T>> {
    if (this.paths.length === 0) return { value: await body(), created: [], displaced: [] };
    let ids = this.paths.map(identityOf);
    // Moved by a command still running (another task's, another agent's in this workspace):
    // put back before this one's sandbox masks the paths.
    if (await this.recover(ids)) ids = this.paths.map(identityOf);
    // The file tools refuse these by inode too, whatever the command renames (protected-inodes.ts).
    noteProtected(this.paths);
    const absent: string[] = [];
    const present: Present[] = [];
    this.paths.forEach((path, i) => {
      const id = ids[i];
      if (id === undefined) absent.push(path);
      else present.push({ path, id });
    });
    this.expect(present);
    this.running++;
    this.writeMarker(absent, present);
    try {
      let value: T;
      try {
        value = await body();
      } catch (error) {
        // What the command left is not kept because the runner failed.
        this.quarantine(changed(absent, present, this.options.workspace));
        this.forget(await this.putBack(present));
        throw error;
      }
      const created = this.quarantine(changed(absent, present, this.options.workspace));
      const displaced = await this.putBack(present);
      this.forget(displaced);
      return { value, created, displaced };
    } finally {
      // A path still changed (neither moved nor deleted) keeps the marker, so that the next
      // start refuses while it is there (checkGuardMarkers).
      if (--this.running === 0 && changed(absent, present, this.options.workspace).length === 0) {
        rmSync(this.markerFile, { force: true });
      }
    }
  }

  /**
   * Each protected file or folder that is no longer at its path (after the impostors there went
   * to quarantine): found by device and inode in the workspace and moved back, its folders made
   * again if the command removed them. Not found in a complete search: the command deleted it
   * (a rename cannot leave the workspace's mount in the sandbox).
   */
  private async putBack(present: readonly Present[]): Promise<Displaced[]> {
    const gone = present.filter(({ path, id }) => identityOf(path) !== id);
    // Another file at the path (not moved aside first: before a command, it may be the
    // operator's own edit, saved as a new file): the one found elsewhere goes to quarantine,
    // never back over it.
    const replaced = new Set(
      gone.filter(({ path }) => identityOf(path) !== undefined).map(({ path }) => path),
    );
    if (gone.length === 0) return [];
    const found = this.options.workspace
      ? await findByIdentity(
          this.options.workspace,
          new Set(gone.map(({ id }) => id)),
          this.options.searchLimits ?? SEARCH_LIMITS,
        )
      : { at: new Map<string, string>(), complete: false };
    // Not left where the next command, masked by path, would read it.
    const keep = (path: string, at: string, replaced: boolean): Displaced => {
      const [kept] = this.quarantine([at]);
      return {
        path,
        found: at,
        restored: false,
        complete: true,
        ...(replaced ? { replaced } : {}),
        ...(kept ? { kept: kept.to } : {}),
      };
    };
    return gone.map(({ path, id }) => {
      const at = found.at.get(id);
      if (at === undefined)
        return { path, found: undefined, restored: false, complete: found.complete };
      if (replaced.has(path)) return keep(path, at, true);
      try {
        mkdirSync(dirname(path), { recursive: true });
        renameSync(at, path);
        return { path, found: at, restored: true, complete: true };
      } catch {
        return keep(path, at, false);
      }
    });
  }

  /** Record which file each existing path is, the first time it is seen. */
  private expect(present: readonly Present[]): void {
    for (const { path, id } of present) if (!this.expected.has(path)) this.expected.set(path, id);
  }

  /** Deleted (a complete search found it nowhere): not looked for again before each command. */
  private forget(displaced: readonly Displaced[]): void {
    for (const entry of displaced) {
      if (entry.found === undefined && entry.complete) this.expected.delete(entry.path);
    }
  }

  /**
   * Put back the protected files no longer at their paths (`ids`: what is at each path now),
   * and say so (onRecovered); true when it looked for any.
   */
  private async recover(ids: readonly (string | undefined)[]): Promise<boolean> {
    const missing = this.paths.flatMap((path, i) => {
      const id = this.expected.get(path);
      return id !== undefined && ids[i] !== id ? [{ path, id }] : [];
    });
    if (missing.length === 0) return false;
    // A folder on the way swapped for a link: moved aside before anything is put back through it.
    const links = missing.flatMap(({ path }) => linkAbove(path, this.options.workspace) ?? []);
    const created = this.quarantine([...new Set(links)]);
    const displaced = await this.putBack(missing);
    this.forget(displaced);
    // What is at a path now (another file, or the one put back) is what the next check expects.
    for (const { path } of missing) {
      const now = identityOf(path);
      if (now !== undefined) this.expected.set(path, now);
    }
    if (displaced.length > 0 || created.length > 0) this.options.onRecovered?.(created, displaced);
    return true;
  }

  private writeMarker(absent: string[], present: Present[]): void {
    const marker: Marker = {
      pid: process.pid,
      agent_id: basename(this.markerFile, '.json'),
      since: new Date().toISOString(),
      absent,
      present,
    };
    try {
      writeFileSync(this.markerFile, JSON.stringify(marker), { mode: 0o600 });
    } catch (error) {
      // The first time (or after someone removed it): its folder, then the marker.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      mkdirSync(dirname(this.markerFile), { recursive: true, mode: 0o700 });
      writeFileSync(this.markerFile, JSON.stringify(marker), { mode: 0o600 });
    }
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
      // The time, then a random part: two moved aside in one millisecond (a command's planted
      // file and the operator's own it had moved) must not land on one name, the second
      // replacing the first.
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      const to = join(dir, `${stamp}-${randomBytes(4).toString('hex')}-${basename(path)}`);
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

/** A protected file a command moved away from its path, or deleted. */
export interface Displaced {
  path: string;
  /** Where the command had put it; undefined when it was not found. */
  found: string | undefined;
  /** Moved back to `path`. */
  restored: boolean;
  /** Whether the search for it covered the whole workspace (so "not found" means deleted). */
  complete: boolean;
  /** Where it went instead, when it could not be put back: quarantine. */
  kept?: string;
  /** Another file was at its path, so it was not put back. */
  replaced?: boolean;
}

export interface GuardedResult<T> {
  value: T;
  created: Moved[];
  displaced: Displaced[];
}

/** What a command did to sheri's own files, for its failure and the SANDBOX_VIOLATION report. */
export function describeTampering(
  created: readonly Moved[],
  displaced: readonly Displaced[],
): string {
  const parts: string[] = [];
  if (created.length > 0) {
    const list = created.map(({ path, to }) => `${path} (moved to ${to})`).join(', ');
    parts.push(
      `created sheri's own ${created.length === 1 ? 'file' : 'files'} ${list}, which tasks may not write`,
    );
  }
  for (const { path, found, restored, complete, kept, replaced } of displaced) {
    parts.push(
      found === undefined
        ? complete
          ? `deleted sheri's own ${path}`
          : `moved sheri's own ${path} where the search of the workspace did not reach`
        : restored
          ? `moved sheri's own ${path} to ${found} (put back)`
          : `moved sheri's own ${path} to ${found}, and it could not be put back${replaced ? ' over the file now at its path' : ''} (${kept ? `moved to ${kept}` : 'left there'})`,
    );
  }
  return parts.join('; ');
}

export interface GuardOptions {
  /** Where a command can move a protected file to (the workspace): searched to put it back. */
  workspace?: string;
  searchLimits?: SearchLimits;
  /**
   * Protected files found moved or deleted before a command starts: by a command still running
   * (another task's, or another agent's in this workspace) or one no guard watched.
   */
  onRecovered?: (created: Moved[], displaced: Displaced[]) => void;
}

/** How long the search for a moved protected file may take, and how many entries it may see. */
export interface SearchLimits {
  timeMs: number;
  entries: number;
}

const SEARCH_LIMITS: SearchLimits = { timeMs: 15_000, entries: 2_000_000 };

/**
 * The paths below `root` of the files whose identities are wanted, by a walk that follows no
 * link and stays on root's device (a rename cannot cross it).
 */
async function findByIdentity(
  root: string,
  wanted: ReadonlySet<string>,
  limits: SearchLimits,
): Promise<{ at: Map<string, string>; complete: boolean }> {
  const at = new Map<string, string>();
  let device: bigint;
  try {
    device = (await lstat(root, { bigint: true })).dev;
  } catch {
    return { at, complete: false };
  }
  // Asynchronous, so that a workspace of millions of files a task made to slow this down does
  // not stop the agent's heartbeats and its other tasks meanwhile.
  const deadline = Date.now() + limits.timeMs;
  let seen = 0;
  const folders = [root];
  while (folders.length > 0 && at.size < wanted.size) {
    if (seen > limits.entries || Date.now() > deadline) return { at, complete: false };
    const folder = folders.pop()!;
    let dir;
    try {
      dir = await opendir(folder);
    } catch {
      continue;
    }
    // Entry by entry (a folder of millions of names is never held whole), within the limits.
    for await (const entry of dir) {
      // Leaving the loop closes the folder.
      if (++seen > limits.entries || Date.now() > deadline) return { at, complete: false };
      const path = join(folder, entry.name);
      let stat;
      try {
        stat = await lstat(path, { bigint: true });
      } catch {
        continue;
      }
      if (stat.dev !== device) continue;
      const id = `${stat.dev}:${stat.ino}`;
      if (wanted.has(id) && !at.has(id)) at.set(id, path);
      else if (stat.isDirectory()) folders.push(path);
    }
  }
  return { at, complete: true };
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

/**
 * The protected paths that are there now but were not, or are another file than they were —
 * or, where a folder on the way to one is now a link (`mv secrets s && ln -s /etc secrets`), that
 * link: what lies behind it is someone else's file, and no move of sheri's may go through it.
 * Links are looked for from `root` (the workspace) down, from / without one.
 */
function changed(absent: readonly string[], present: readonly Present[], root?: string): string[] {
  const found = new Set<string>();
  for (const path of absent) {
    const link = linkAbove(path, root);
    if (link !== undefined) found.add(link);
    else if (exists(path)) found.add(path);
  }
  for (const { path, id } of present) {
    const link = linkAbove(path, root);
    if (link !== undefined) {
      found.add(link);
      continue;
    }
    const now = identityOf(path);
    if (now !== undefined && now !== id) found.add(path);
  }
  return [...found];
}

/**
 * The first folder between `root` (exclusive) and `path` (exclusive) that is not a folder now: a
 * link (or a file) put in its place. Protected paths are real paths (protectedPathsFor), so none
 * was a link when recorded. Undefined when the way is all folders, or stops where one is missing.
 */
function linkAbove(path: string, root = '/'): string | undefined {
  const rel = relative(root, dirname(path));
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
  let at = root;
  for (const part of rel.split(sep)) {
    at = join(at, part);
    let stat;
    try {
      stat = lstatSync(at);
    } catch {
      return undefined;
    }
    if (!stat.isDirectory()) return at;
  }
  return undefined;
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
