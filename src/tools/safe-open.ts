import { constants, type Stats } from 'node:fs';
import { mkdir, open, readlink, realpath, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import {
  changingRefusal,
  errorCode,
  explain,
  gitRefusal,
  kindOf,
  protectedRefusal,
} from './file-refusals.js';
import {
  FileRefusal,
  isGitName,
  isInside,
  isProtected,
  linkComponents,
  workspaceComponents,
} from './workspace-path.js';
import { isProtectedFile, noteProtected } from './protected-inodes.js';

/*
 * Open first, then check what was opened. Node has no openat(), so every name is opened relative
 * to an already checked folder descriptor through its /proc/self/fd/N magic link: the kernel
 * jumps to the folder the descriptor holds (not to a name that may since have been swapped) and
 * looks up one single name there. O_PATH | O_NOFOLLOW opens that name without following a
 * symbolic link and without opening the file itself (a FIFO cannot block, a device's open() never
 * runs); fstat says what it is, readlink of the descriptor where it really lies. Only then is a
 * regular file reopened for reading through its own descriptor, which is the same inode whatever
 * happens to names meanwhile. Symbolic links are never followed by the kernel: the tools read a
 * link's text and resolve it themselves, name by name, inside the workspace.
 */

/** Linux's O_PATH (asm-generic value, used by every architecture Node runs on); Node lacks it. */
export const O_PATH = 0o10000000;
const { O_DIRECTORY, O_NOCTTY, O_NOFOLLOW, O_NONBLOCK, O_RDONLY } = constants;
/** As the kernel's own limit (ELOOP). */
const MAX_LINK_HOPS = 40;
/** A name that keeps changing while it is opened (a racing process) ends the attempt. */
const MAX_RETRIES = 20;
const READ_CHUNK_BYTES = 256 * 1024;

/** The workspace the tools work in, with everything its descriptors are checked against. */
export interface SafeRoot {
  /** The spellings of the workspace absolute paths may use (openSafeRoot gives its real path). */
  readonly roots: readonly [string, string];
  /** Every opened descriptor must lie at or below this real path. */
  readonly real: string;
  /** Real paths of sheri's own files (config, data dir, ledger, credentials): off limits. */
  readonly protectedReal: readonly string[];
}

/** An open, checked folder: its descriptor, its real path, and its names from the root. */
export interface Folder {
  readonly handle: FileHandle;
  readonly real: string;
  readonly rel: readonly string[];
}

export type Intent = 'read' | 'write' | 'folder';

export interface Located {
  folder: Folder;
  /** The last name, when the path names something in `folder` rather than `folder` itself. */
  name?: string;
  /** O_PATH descriptor of that name and what fstat said of it; absent when it does not exist. */
  node?: FileHandle;
  stat?: Stats;
}

/** Names one path may take to reach, every link's target included. */
const MAX_WALKED_NAMES = 4_096;

let procChecked: Promise<void> | undefined;

/**
 * The root the tools walk from: `workspace` is the task folder's real path, fixed when the task
 * started (execute-task.ts resolveWorkspace; the agent's workspace is real from its start), and
 * not resolved again here. Resolving it on each call let a command that swapped the task folder
 * for a link to `/` take the tools along: every file of the agent's user readable and writable
 * outside the sandbox. A folder no longer at that path is refused (openRootFolder). The real
 * paths of the protected ones are taken once per call.
 */
export async function openSafeRoot(
  workspace: string,
  protectedPaths: readonly string[],
): Promise<SafeRoot> {
  procChecked ??= checkProcFd();
  await procChecked;
  const real = resolve(workspace);
  const protectedReal = new Set<string>();
  for (const path of protectedPaths) {
    protectedReal.add(resolve(path));
    protectedReal.add(await realpathOfNearest(resolve(path)));
  }
  noteProtected(protectedPaths);
  return { roots: [real, real], real, protectedReal: [...protectedReal] };
}

/**
 * Walks `path` name by name from the workspace root: each name opened O_PATH|O_NOFOLLOW in the
 * folder descriptor before it, each folder's real path checked, links resolved by the tools.
 * Writes create missing folders on the way (mkdir of one name in a checked folder) and refuse
 * any name `.git`.
 */
export async function locate(root: SafeRoot, path: string, intent: Intent): Promise<Located> {
  try {
    return await walkTo(root, path, intent);
  } catch (error) {
    throw explain(error, path);
  }
}

async function walkTo(root: SafeRoot, path: string, intent: Intent): Promise<Located> {
  let pending = workspaceComponents(root.roots, path);
  // Before any folder is created on the way: a write that ends under .git creates nothing.
  const refuseGit = (names: string[]) => {
    const index = names.findIndex(isGitName);
    if (intent === 'write' && index >= 0) throw gitRefusal(names.slice(0, index + 1).join('/'));
  };
  refuseGit(pending);
  let folder = await openRootFolder(root);
  let hops = 0;
  let retries = 0;
  let walked = 0;
  try {
    for (;;) {
      const name = pending.shift();
      if (name === undefined) return { folder };
      // Each link starts the walk again from the root with its target's names: 40 links of
      // 2,000 names each made one read_file take 35 s.
      if (++walked > MAX_WALKED_NAMES) {
        throw new FileRefusal(
          `"${path}" takes more than ${MAX_WALKED_NAMES} names to reach, links included`,
        );
      }
      const last = pending.length === 0;
      const shown = showName(folder, name);
      if (intent === 'write' && isGitName(name)) throw gitRefusal(shown);
      if (isProtected(root.protectedReal, join(folder.real, name))) throw protectedRefusal(shown);
      let node: FileHandle;
      try {
        node = await open(at(folder, name), O_PATH | O_NOFOLLOW);
      } catch (error) {
        if (errorCode(error) !== 'ENOENT') throw explain(error, shown);
        if (last && intent !== 'folder') return { folder, name };
        if (intent !== 'write') throw new FileRefusal(`no such folder: "${shown}"`);
        // One name in a checked folder; mkdir never follows a link put there meanwhile.
        await mkdir(at(folder, name)).catch((mkdirError: unknown) => {
          if (errorCode(mkdirError) !== 'EEXIST') throw explain(mkdirError, shown);
        });
        if (++retries > MAX_RETRIES) throw changingRefusal(shown);
        pending.unshift(name);
        continue;
      }
      let kept = false;
      try {
        const stat = await node.stat();
        if (stat.isSymbolicLink()) {
          if (++hops > MAX_LINK_HOPS) {
            throw new FileRefusal(`"${path}" goes through more than ${MAX_LINK_HOPS} links`);
          }
          const target = await readlink(at(folder, name)).catch(() => undefined);
          if (target === undefined) {
            // No longer a link (or gone): look at the name again.
            if (++retries > MAX_RETRIES) throw changingRefusal(shown);
            pending.unshift(name);
            continue;
          }
          pending = [...linkComponents(root.roots, folder.rel, target, path), ...pending];
          refuseGit(pending);
          const top = await openRootFolder(root);
          await folder.handle.close();
          folder = top;
          continue;
        }
        if (last && intent !== 'folder') {
          kept = true;
          return { folder, name, node, stat };
        }
        if (!stat.isDirectory()) throw new FileRefusal(`"${shown}" is not a folder`);
        const child = await checkFolder(root, node, intent, shown, stat);
        kept = true;
        await folder.handle.close();
        folder = child;
      } finally {
        if (!kept) await node.close();
      }
    }
  } catch (error) {
    await folder.handle.close();
    throw error;
  }
}

async function openRootFolder(root: SafeRoot): Promise<Folder> {
  const handle = await open(root.real, O_PATH | O_DIRECTORY);
  try {
    const real = await readlink(fdPath(handle));
    if (real !== root.real) {
      throw new FileRefusal(`the workspace ${root.roots[0]} was moved while in use`);
    }
    if (isProtected(root.protectedReal, real)) throw protectedRefusal('.');
    return { handle, real, rel: [] };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** The folder the descriptor holds, if it lies in the workspace and the intent may use it. */
export async function checkFolder(
  root: SafeRoot,
  handle: FileHandle,
  intent: Intent,
  shown: string,
  stat?: Stats,
): Promise<Folder> {
  if (isProtectedFile(stat ?? (await handle.stat()))) throw protectedRefusal(shown);
  const real = await readlink(fdPath(handle));
  const rel = checkReal(root, real, intent, shown);
  return { handle, real, rel };
}

/** A regular file with one name, really inside, and (for writes) not under `.git`. */
export async function checkFile(
  root: SafeRoot,
  node: FileHandle,
  stat: Stats,
  intent: Intent,
  shown: string,
): Promise<void> {
  if (stat.isDirectory()) {
    throw new FileRefusal(`"${shown}" is a folder${intent === 'read' ? '; use list_files' : ''}`);
  }
  if (!stat.isFile()) {
    throw new FileRefusal(
      `"${shown}" is a ${kindOf(stat)}, not a regular file; the file tools only read and write regular files`,
    );
  }
  // sheri's own file under another name: its folder was renamed (protected-inodes.ts).
  if (isProtectedFile(stat)) throw protectedRefusal(shown);
  if (stat.nlink > 1) {
    throw new FileRefusal(
      `"${shown}" has ${stat.nlink} hard links; the file tools refuse hard-linked files, whose other names may lie outside the workspace`,
    );
  }
  checkReal(root, await readlink(fdPath(node)), intent, shown);
}

/** The names of `real` below the root, or a refusal: outside, sheri's own, or (writes) .git. */
function checkReal(root: SafeRoot, real: string, intent: Intent, shown: string): string[] {
  if (!isInside(root.real, real)) {
    throw new FileRefusal(`"${shown}" lies outside the workspace (it is really ${real})`);
  }
  if (isProtected(root.protectedReal, real)) throw protectedRefusal(shown);
  const rel = relative(root.real, real).split('/').filter(Boolean);
  if (intent === 'write' && rel.some(isGitName)) throw gitRefusal(shown);
  return rel;
}

/** The content of an opened regular file, reopened through its descriptor (same inode). */
export async function readOpened(
  node: FileHandle,
  stat: Stats,
  maxBytes: number,
): Promise<Buffer | undefined> {
  if (stat.size > maxBytes) return undefined;
  const reader = await open(fdPath(node), O_RDONLY | O_NONBLOCK | O_NOCTTY);
  try {
    const again = await reader.stat();
    if (again.ino !== stat.ino || again.dev !== stat.dev || !again.isFile()) {
      throw new FileRefusal('the file changed while it was opened; try again');
    }
    return await readCapped(reader, maxBytes, again.size);
  } finally {
    await reader.close();
  }
}

/**
 * Reads through the descriptor until its end or `maxBytes + 1` bytes, whatever st_size says
 * (a file that grows, /proc, a device): undefined when there are more than `maxBytes`. With
 * `regularSize` (a regular file's st_size, a hint only), the first read asks for one byte more
 * than that, and a short read ends it: on a regular file, a short read is its end.
 */
export async function readCapped(
  handle: FileHandle,
  maxBytes: number,
  regularSize?: number,
): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  let want = Math.min(maxBytes + 1, regularSize === undefined ? READ_CHUNK_BYTES : regularSize + 1);
  while (total <= maxBytes) {
    const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafe(want), 0, want, null);
    if (bytesRead === 0) break;
    chunks.push(buffer.subarray(0, bytesRead));
    total += bytesRead;
    if (regularSize !== undefined && bytesRead < want) break;
    want = Math.min(READ_CHUNK_BYTES, maxBytes + 1 - total);
  }
  return total > maxBytes ? undefined : Buffer.concat(chunks, total);
}

async function checkProcFd(): Promise<void> {
  const missing = new FileRefusal(
    'the file tools need Linux with /proc mounted (/proc/self/fd) to open files safely; they refuse to work without it',
  );
  if (process.platform !== 'linux') throw missing;
  try {
    await stat('/proc/self/fd');
  } catch {
    throw missing;
  }
}

/** realpath of the path, or of its nearest existing ancestor when it does not exist (yet). */
async function realpathOfNearest(path: string): Promise<string> {
  let current = path;
  const rest: string[] = [];
  for (;;) {
    try {
      return join(await realpath(current), ...rest);
    } catch (error) {
      const parent = dirname(current);
      if (errorCode(error) !== 'ENOENT' || parent === current) return path;
      rest.unshift(current.slice(parent === '/' ? 1 : parent.length + 1));
      current = parent;
    }
  }
}

export function fdPath(handle: FileHandle): string {
  return `/proc/self/fd/${handle.fd}`;
}

/** One name looked up in the folder the descriptor holds: openat(fd, name) in Node's terms. */
export function at(folder: Folder, name: string): string {
  return `${fdPath(folder.handle)}/${name}`;
}

export function showName(folder: Folder, name: string): string {
  return [...folder.rel, name].join('/');
}
