import { randomBytes } from 'node:crypto';
import { constants, type Dirent, type Stats } from 'node:fs';
import { open, opendir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { explain } from './file-refusals.js';
import {
  at,
  checkFile,
  checkFolder,
  fdPath,
  locate,
  O_PATH,
  readOpened,
  showName,
  type Folder,
  type SafeRoot,
} from './safe-open.js';
import { FileRefusal, isProtected } from './workspace-path.js';

/*
 * What the file tools do with the workspace, each through safe-open's checked descriptors.
 */

export { openSafeRoot, readCapped, type Folder, type SafeRoot } from './safe-open.js';

const { O_CREAT, O_EXCL, O_NOFOLLOW, O_DIRECTORY, O_WRONLY } = constants;

/** The bytes of a regular file of the workspace, at most `maxBytes` of them. */
export async function readWorkspaceFile(
  root: SafeRoot,
  path: string,
  maxBytes: number,
): Promise<{ data: Buffer; shown: string }> {
  const { folder, name, node, stat } = await locate(root, path, 'read');
  try {
    if (name === undefined) throw new FileRefusal(`"${path}" is a folder; use list_files`);
    const shown = showName(folder, name);
    if (!node || !stat) throw new FileRefusal(`no such file: "${shown}"`);
    await checkFile(root, node, stat, 'read', shown);
    const data = await readOpened(node, stat, maxBytes);
    if (!data) {
      throw new FileRefusal(
        `"${shown}" is more than ${maxBytes} bytes; search it with search_files`,
      );
    }
    return { data, shown };
  } catch (error) {
    throw explain(error, path);
  } finally {
    await node?.close();
    await folder.handle.close();
  }
}

/**
 * Replaces (or creates) a regular file of the workspace with `content`, creating its folders
 * one checked name at a time. Written to a fresh file in the checked folder and renamed over the
 * name, so a failed write leaves no half file and a name swapped meanwhile is replaced, never
 * followed.
 */
export async function writeWorkspaceFile(
  root: SafeRoot,
  path: string,
  content: string,
): Promise<string> {
  const { folder, name, node, stat } = await locate(root, path, 'write');
  try {
    if (name === undefined) throw new FileRefusal(`"${path}" is a folder`);
    const shown = showName(folder, name);
    if (node && stat) await checkFile(root, node, stat, 'write', shown);
    await replaceIn(folder, name, content, stat);
    return shown;
  } catch (error) {
    throw explain(error, path);
  } finally {
    await node?.close();
    await folder.handle.close();
  }
}

/** A folder of the workspace, opened and checked; the caller closes `handle`. */
export async function openWorkspaceFolder(root: SafeRoot, path: string): Promise<Folder> {
  const { folder } = await locate(root, path, 'folder');
  return folder;
}

/**
 * The entries of an open folder, sorted, without sheri's own files: at most `max` of them (in
 * the order the file system lists them), so a folder of millions of names stays bounded.
 */
export async function listFolder(
  root: SafeRoot,
  folder: Folder,
  max: number,
): Promise<{ entries: Dirent[]; truncated: boolean }> {
  const entries: Dirent[] = [];
  let truncated = false;
  const shown = folder.rel.join('/') || '.';
  const dir = await opendir(fdPath(folder.handle)).catch((error: unknown) => {
    throw explain(error, shown);
  });
  try {
    for await (const entry of dir) {
      if (isProtected(root.protectedReal, join(folder.real, entry.name))) continue;
      if (entries.length >= max) {
        truncated = true;
        break;
      }
      entries.push(entry);
    }
  } catch (error) {
    throw explain(error, shown);
  } finally {
    // Leaving a for-await closes the Dir; closing it again would throw.
    await dir.close().catch(() => undefined);
  }
  entries.sort((a, b) => a.name.localeCompare(b.name));
  return { entries, truncated };
}

/** A subfolder to walk into, or undefined when it is anything else now (a link, gone, outside). */
export async function openChildFolder(
  root: SafeRoot,
  folder: Folder,
  name: string,
): Promise<Folder | undefined> {
  const node = await open(at(folder, name), O_PATH | O_NOFOLLOW | O_DIRECTORY).catch(
    () => undefined,
  );
  if (!node) return undefined;
  try {
    if (!(await node.stat()).isDirectory()) throw new FileRefusal('not a folder');
    return await checkFolder(root, node, 'folder', showName(folder, name));
  } catch {
    await node.close();
    return undefined;
  }
}

/** A regular file of an open folder, for a search: undefined for anything the tools refuse. */
export async function readChildFile(
  root: SafeRoot,
  folder: Folder,
  name: string,
  maxBytes: number,
): Promise<Buffer | undefined> {
  const node = await open(at(folder, name), O_PATH | O_NOFOLLOW).catch(() => undefined);
  if (!node) return undefined;
  try {
    const stat = await node.stat();
    await checkFile(root, node, stat, 'read', showName(folder, name));
    return await readOpened(node, stat, maxBytes);
  } catch {
    return undefined;
  } finally {
    await node.close();
  }
}

async function replaceIn(
  folder: Folder,
  name: string,
  content: string,
  previous: Stats | undefined,
): Promise<void> {
  const temp = `.sheri-write-${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(
    at(folder, temp),
    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
    0o666,
  ).catch((error: unknown) => {
    throw explain(error, showName(folder, name)); // e.g. the folder was removed meanwhile
  });
  let renamed = false;
  try {
    await handle.writeFile(content);
    if (previous) {
      await handle.chmod(previous.mode & 0o777); // never carries setuid/setgid over
      if (process.getuid?.() === 0) await handle.chown(previous.uid, previous.gid);
    }
    await handle.close();
    // rename() replaces the name itself: a link swapped in meanwhile is replaced, not followed.
    await rename(at(folder, temp), at(folder, name));
    renamed = true;
  } catch (error) {
    throw explain(error, showName(folder, name));
  } finally {
    await handle.close().catch(() => undefined);
    if (!renamed) await unlink(at(folder, temp)).catch(() => undefined);
  }
}
