import { lstatSync, type Stats } from 'node:fs';

/**
 * Which files sheri's own are, by device and inode, as seen at any time in this process. A
 * protected file below a subfolder of the workspace is masked in the sandbox by its path, and a
 * command may rename the folder above it (`mv secrets s`): the mount moves along, but the file
 * tools, which judge by path, then read the real file at its new path and hand it to the model.
 * By inode it is still the same file. Kept for the life of the process: a file once sheri's
 * stays refused under any name. Its birth time is part of what it is, so a new file given the
 * inode of a deleted one is not taken for it (on a file system without birth times, it would be:
 * a refusal, never a leak).
 */
const known = new Set<string>();

/** Record the file or folder at each path that exists (the link itself for a link). */
export function noteProtected(paths: readonly string[]): void {
  for (const path of paths) {
    try {
      known.add(idOf(lstatSync(path)));
    } catch {
      // Not there (yet): nothing to record.
    }
  }
}

/** Whether the file or folder `stat` describes was one of sheri's own when last looked at. */
export function isProtectedFile(stat: Stats): boolean {
  return known.size > 0 && known.has(idOf(stat));
}

function idOf(stat: Stats): string {
  return `${stat.dev}:${stat.ino}:${stat.birthtimeMs}`;
}
