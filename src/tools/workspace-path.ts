import { realpath } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';

/**
 * `path` resolved inside `workspace`, or an Error saying why not. Checked twice: as written
 * (`../x`, `/etc/passwd`) and after following symlinks, so a link inside the workspace that
 * points out of it cannot be used to read or write outside.
 */
export async function resolveInWorkspace(workspace: string, path: string): Promise<string> {
  if (path.includes('\0')) throw new Error('a path may not contain NUL');
  const root = await realpath(workspace);
  const full = resolve(workspace, path);
  if (!isInside(resolve(workspace), full)) {
    throw new Error(`"${path}" lies outside the workspace; use a path inside ${workspace}`);
  }
  const real = await realpathOfNearest(full);
  if (!isInside(root, real)) {
    throw new Error(`"${path}" leads outside the workspace through a symbolic link`);
  }
  return full;
}

/** Whether `path` is `root` or below it (both absolute, as written: no symlink is followed). */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/** realpath of the path, or of its nearest existing ancestor when it does not exist (yet). */
async function realpathOfNearest(path: string): Promise<string> {
  let current = path;
  let rest = '';
  for (;;) {
    try {
      return resolve(await realpath(current), rest);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      const parent = dirname(current);
      if (parent === current) return path;
      rest = rest
        ? `${current.slice(parent.length + 1)}${sep}${rest}`
        : current.slice(parent.length + 1);
      current = parent;
    }
  }
}

/** The path as the model should see it: relative to the workspace, "/"-separated. */
export function displayPath(workspace: string, full: string): string {
  return relative(workspace, full).split(sep).join('/') || '.';
}
