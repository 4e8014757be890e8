import { isAbsolute, posix, relative, resolve, sep } from 'node:path';

/**
 * Path arithmetic for the file tools, without I/O: what a path means as written. Whether the
 * thing it names really lies inside is decided on the opened descriptor (safe-fs.ts).
 */

/** Raised for a path the tools refuse; its message goes to the model as the error result. */
export class FileRefusal extends Error {
  override readonly name = 'FileRefusal';
}

/** Whether `path` is `root` or below it (both absolute, as written: no symlink is followed). */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * The names to walk from the workspace root to `path` (relative or absolute, "." and ".."
 * resolved as written), or a refusal when it lies outside. `roots` are the workspace as given
 * and its real path: an absolute path may be spelled with either.
 */
export function workspaceComponents(roots: readonly string[], path: string): string[] {
  if (path.includes('\0')) throw new FileRefusal('a path may not contain NUL');
  for (const root of roots) {
    const full = resolve(root, path);
    if (isInside(root, full)) return splitRelative(relative(root, full));
  }
  throw new FileRefusal(`"${path}" lies outside the workspace; use a path inside ${roots[0]}`);
}

/**
 * Where a symbolic link found in the folder `dirRel` (real, relative to the root) points, as
 * names from the root; a refusal when the target leaves the workspace. The prefix holds no link
 * (every name of it was opened as a real folder), so resolving ".." by text is exact here.
 */
export function linkComponents(
  roots: readonly string[],
  dirRel: readonly string[],
  target: string,
  shown: string,
): string[] {
  const outside = new FileRefusal(`"${shown}" leads outside the workspace through a symbolic link`);
  if (target.includes('\0') || target === '') throw outside;
  if (posix.isAbsolute(target)) {
    for (const root of roots) {
      if (isInside(root, target)) return splitRelative(relative(root, target));
    }
    throw outside;
  }
  const joined = posix.normalize(posix.join(dirRel.join('/') || '.', target));
  if (joined === '..' || joined.startsWith('../')) throw outside;
  return splitRelative(joined);
}

/** Whether a name is version control's: writes there configure hooks and `core.fsmonitor`. */
export function isGitName(name: string): boolean {
  return name.toLowerCase() === '.git';
}

/** Whether `real` is at or below one of `protectedReal` (sheri's config, data, ledger, keys). */
export function isProtected(protectedReal: readonly string[], real: string): boolean {
  return protectedReal.some((guarded) => isInside(guarded, real));
}

/** The path as the model should see it: relative to the workspace, "/"-separated. */
export function displayPath(workspace: string, full: string): string {
  return relative(workspace, full).split(sep).join('/') || '.';
}

function splitRelative(rel: string): string[] {
  return rel.split('/').filter((name) => name !== '' && name !== '.');
}
