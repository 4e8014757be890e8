import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { delimiter, dirname, isAbsolute, join } from 'node:path';

/**
 * What of the host a sandboxed command sees, computed once per process (SPEC §5): the system
 * folders read-only, as they are (a merged-/usr `/bin` stays a symlink), minus the files of /etc
 * that are not readable by everyone (shadow, private keys, service passwords): a root agent's
 * sandbox runs as uid 0 outside its user namespace, so the owner bits of root's files would
 * still let it read them.
 */
export interface HostView {
  /** bwrap arguments for the system folders and the masks, in order. */
  systemArgs: string[];
  /** Folders bound read-only, so callers know what is already visible. */
  boundRoots: string[];
}

const SYSTEM_ROOTS = [
  '/usr',
  '/etc',
  '/opt',
  '/bin',
  '/sbin',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
];
/** /etc holds about a thousand entries; a bound on the walk keeps a strange host from stalling. */
const MAX_WALK_ENTRIES = 50_000;

export function buildHostView(extraRoots: readonly string[] = []): HostView {
  const systemArgs: string[] = [];
  const boundRoots: string[] = [];
  for (const root of SYSTEM_ROOTS) {
    const info = lstatOrUndefined(root);
    if (!info) continue;
    if (info.isSymbolicLink()) {
      systemArgs.push('--symlink', readlinkSync(root), root);
    } else if (info.isDirectory()) {
      systemArgs.push('--ro-bind', root, root);
      boundRoots.push(root);
    }
  }
  for (const root of extraRoots) {
    if (boundRoots.some((bound) => isWithin(bound, root))) continue;
    if (!lstatOrUndefined(root)?.isDirectory()) continue;
    systemArgs.push('--ro-bind', root, root);
    boundRoots.push(root);
  }
  systemArgs.push(...maskUnreadable('/etc'));
  return { systemArgs, boundRoots };
}

/** Folders of programs a command may need that lie outside the system folders: node's prefix. */
export function toolRoots(pathVariable: string | undefined, home: string | undefined): string[] {
  const roots = new Set<string>([dirname(dirname(process.execPath))]);
  for (const entry of (pathVariable ?? '').split(delimiter)) {
    // A folder on PATH under $HOME is not bound: $HOME is hidden, and ~/bin may hold anything.
    if (!isAbsolute(entry) || (home && isWithin(home, entry))) continue;
    roots.add(entry);
  }
  return [...roots].filter((root) => root !== '/');
}

/** `--ro-bind /dev/null FILE` / `--tmpfs DIR` for each entry of `root` others may not read. */
function maskUnreadable(root: string): string[] {
  const args: string[] = [];
  const queue = [root];
  let seen = 0;
  while (queue.length > 0 && seen < MAX_WALK_ENTRIES) {
    const dir = queue.shift()!;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      seen++;
      const path = join(dir, name);
      const info = lstatOrUndefined(path);
      if (!info || info.isSymbolicLink()) continue;
      // Others need r-x to enter a folder, r to read a file.
      if (info.isDirectory()) {
        if ((info.mode & 0o005) !== 0o005) args.push('--tmpfs', path, '--remount-ro', path);
        else queue.push(path);
      } else if (info.isFile() && (info.mode & 0o004) === 0) {
        args.push('--ro-bind', '/dev/null', path);
      }
    }
  }
  return args;
}

export function isWithin(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith('/') ? root : `${root}/`);
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}
