import { listFolder, openChildFolder, type Folder, type SafeRoot } from './safe-fs.js';

/** Folders nobody means to search: dependencies and version control. */
export const SKIPPED = new Set(['.git', 'node_modules', '.sheri', 'dist', '.venv', '__pycache__']);

export interface WalkLimits {
  /** Directory entries looked at, files and folders alike, before the walk stops. */
  maxEntries: number;
  /** Folder levels below the start. */
  maxDepth: number;
  /** When the walk stops, whatever is left (Date.now() time): 200,000 empty folders took 110 s. */
  deadline: number;
  signal: AbortSignal;
}

/** One folder of the walk, open while the consumer handles it. */
export interface WalkedFolder {
  folder: Folder;
  /** The folder relative to the start ('' for the start), "/"-separated. */
  sub: string;
  /** Names of its regular files (as the directory lists them; open them checked). */
  files: string[];
}

/** Set when a limit (entries, depth, time) cut the walk short, so the answer can say so. */
export interface WalkReport {
  truncated: boolean;
  /** The deadline was the limit. */
  timedOut?: boolean;
}

/**
 * The folders below `start`, depth first, files before subfolders, each name sorted. Skips
 * SKIPPED folders, sheri's own files, symbolic links and everything not a regular file or a
 * folder; each subfolder is opened by one name in its checked parent (safe-fs), so a link
 * swapped in for a folder is not entered. The consumer may stop early: descriptors close.
 */
export async function* walkFolders(
  root: SafeRoot,
  start: Folder,
  limits: WalkLimits,
  report: WalkReport,
): AsyncGenerator<WalkedFolder> {
  const budget = { entries: limits.maxEntries };
  yield* visit(root, start, '', 0, limits, budget, report);
}

async function* visit(
  root: SafeRoot,
  folder: Folder,
  sub: string,
  depth: number,
  limits: WalkLimits,
  budget: { entries: number },
  report: WalkReport,
): AsyncGenerator<WalkedFolder> {
  const { entries, truncated } = await listFolder(root, folder, budget.entries);
  if (truncated) report.truncated = true;
  budget.entries -= entries.length;
  const files = entries.filter((entry) => entry.isFile()).map((entry) => entry.name);
  yield { folder, sub, files };
  for (const entry of entries) {
    if (!entry.isDirectory() || SKIPPED.has(entry.name)) continue;
    if (limits.signal.aborted) return;
    if (Date.now() > limits.deadline) {
      report.truncated = report.timedOut = true;
      return;
    }
    if (budget.entries <= 0) {
      report.truncated = true;
      return;
    }
    if (depth + 1 > limits.maxDepth) {
      report.truncated = true;
      continue;
    }
    const child = await openChildFolder(root, folder, entry.name);
    if (!child) continue;
    try {
      const path = sub ? `${sub}/${entry.name}` : entry.name;
      yield* visit(root, child, path, depth + 1, limits, budget, report);
    } finally {
      await child.handle.close();
    }
  }
}
