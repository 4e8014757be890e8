import { z } from 'zod';
import { SKIPPED, walkFolders, type WalkLimits, type WalkReport } from './file-walk.js';
import { defineTool, errorResult, type Tool } from './registry.js';
import { PatternTooSlow, RegexWorker } from './regex-worker.js';
import { listFolder, openSafeRoot, openWorkspaceFolder, readChildFile } from './safe-fs.js';

const MAX_ENTRIES = 1_000;
const MAX_SEARCH_FILE_BYTES = 1024 * 1024;
const MAX_SEARCH_FILES = 50_000;
/** Files read at once, and matched in one message to the worker (at most 16 MiB). */
const READ_BATCH_FILES = 16;
/** Directory entries one walk looks at, and folder levels it descends, before it stops. */
const MAX_WALK_ENTRIES = 200_000;
const MAX_WALK_DEPTH = 64;
/** Time the regular expression may take over one search (the worker is terminated then). */
export const SEARCH_TIME_LIMIT_MS = 5_000;
/** Time one list_files or search_files call may walk and read, all told. */
export const WALK_TIME_LIMIT_MS = 15_000;
/** Bytes one search reads at most: 50,000 sparse files of 1 MiB were 50 GB read in one call. */
const MAX_SEARCH_BYTES = 256 * 1024 * 1024;

/** The limits of one call's walk, its deadline from now. */
function walkLimits(walkLimitMs: number, signal: AbortSignal): WalkLimits {
  return {
    maxEntries: MAX_WALK_ENTRIES,
    maxDepth: MAX_WALK_DEPTH,
    deadline: Date.now() + walkLimitMs,
    signal,
  };
}

/** What the answer says when the walk stopped at a limit. */
function walkCut(report: WalkReport, walkLimitMs: number): string {
  return report.timedOut
    ? `the walk stopped after ${walkLimitMs / 1000} s`
    : 'the walk stopped at its limit of entries or depth';
}

/** `*.ts`, `src/**\/*.ts`: `*` and `?` stay within a folder, `**\/` spans any number. */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i]!;
    if (glob.startsWith('**/', i)) {
      source += '(?:.*/)?';
      i += 2;
    } else if (glob.startsWith('**', i)) {
      source += '.*';
      i += 1;
    } else if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  // A glob without "/" matches the file name in any folder, as in .gitignore.
  return new RegExp(glob.includes('/') ? `^${source}$` : `(?:^|/)${source}$`);
}

/** list_files with its walk's time limit; tests shorten it, the agent uses the default. */
export function createListFilesTool(walkLimitMs = WALK_TIME_LIMIT_MS): Tool {
  return defineTool({
    name: 'list_files',
    description: `List a folder of the workspace (folders end in "/"). With recursive, every file below it (skipping ${[...SKIPPED].join(', ')} and symbolic links), at most ${MAX_ENTRIES}.`,
    input: z.strictObject({
      path: z.string().min(1).default('.').describe('folder relative to the workspace'),
      recursive: z.boolean().default(false),
    }),
    async run({ path, recursive }, context) {
      const root = await openSafeRoot(context.workspace, context.protectedPaths);
      const start = await openWorkspaceFolder(root, path);
      try {
        if (!recursive) {
          const { entries, truncated } = await listFolder(root, start, MAX_ENTRIES);
          const names = entries
            .map((entry) => (entry.isDirectory() ? `${entry.name}/` : entry.name))
            .sort();
          const cut = truncated
            ? `\n[more than ${MAX_ENTRIES} entries; the first listed are shown]`
            : '';
          return {
            content: (names.join('\n') || `(${start.rel.join('/') || '.'} is empty)`) + cut,
          };
        }
        const files: string[] = [];
        const report: WalkReport = { truncated: false };
        const limits = walkLimits(walkLimitMs, context.signal);
        walk: for await (const { sub, files: names } of walkFolders(root, start, limits, report)) {
          for (const name of names) {
            files.push(sub ? `${sub}/${name}` : name);
            if (files.length > MAX_ENTRIES) break walk;
          }
        }
        const cut =
          files.length > MAX_ENTRIES
            ? `\n[more than ${MAX_ENTRIES} files; list a subfolder]`
            : report.truncated
              ? `\n[${walkCut(report, walkLimitMs)}; list a subfolder]`
              : '';
        return { content: (files.slice(0, MAX_ENTRIES).join('\n') || '(no files)') + cut };
      } finally {
        await start.handle.close();
      }
    },
  });
}

export const listFilesTool = createListFilesTool();

/** search_files with its time limits; tests shorten them, the agent uses the defaults. */
export function createSearchFilesTool({
  timeLimitMs = SEARCH_TIME_LIMIT_MS,
  walkLimitMs = WALK_TIME_LIMIT_MS,
  maxBytes = MAX_SEARCH_BYTES,
}: { timeLimitMs?: number; walkLimitMs?: number; maxBytes?: number } = {}): Tool {
  return defineTool({
    name: 'search_files',
    description: `Search the text files of the workspace for a regular expression (JavaScript syntax); prints "path:line: text" for each match. Skips ${[...SKIPPED].join(', ')}, symbolic links and files over 1 MiB; a pattern that takes more than ${timeLimitMs / 1000} s is stopped.`,
    input: z.strictObject({
      pattern: z
        .string()
        .min(1)
        .max(2_000)
        .describe('regular expression, e.g. "function \\\\w+Lease"'),
      path: z.string().min(1).default('.').describe('folder to search, relative to the workspace'),
      glob: z
        .string()
        .min(1)
        .max(500)
        .optional()
        .describe('only files matching this, e.g. "*.ts" or "src/**/*.md"'),
      ignore_case: z.boolean().default(false),
      max_results: z.int().min(1).max(1_000).default(200),
    }),
    async run({ pattern, path, glob, ignore_case, max_results }, context) {
      const flags = ignore_case ? 'i' : '';
      try {
        new RegExp(pattern, flags); // compiling is cheap; matching is what may blow up
      } catch (error) {
        return errorResult(`invalid regular expression: ${(error as Error).message}`);
      }
      const root = await openSafeRoot(context.workspace, context.protectedPaths);
      const start = await openWorkspaceFolder(root, path);
      const matcher = RegexWorker.start({
        source: pattern,
        flags,
        glob: glob === undefined ? undefined : globToRegExp(glob).source,
        timeLimitMs,
        signal: context.signal,
      });
      const hits: string[] = [];
      const report: WalkReport = { truncated: false };
      const limits = walkLimits(walkLimitMs, context.signal);
      let searched = 0;
      let bytesRead = 0;
      let batch: string[] = [];
      try {
        walk: for await (const { folder, sub, files } of walkFolders(root, start, limits, report)) {
          if (files.length === 0) continue;
          const wanted = await matcher.filter(files.map((name) => (sub ? `${sub}/${name}` : name)));
          // Read a few files at once (the checked opens take several system calls each), then
          // match the batch in one message to the worker.
          for (let from = 0; from < wanted.length; from += READ_BATCH_FILES) {
            if (hits.length >= max_results || searched >= MAX_SEARCH_FILES) break walk;
            if (bytesRead >= maxBytes || Date.now() > limits.deadline) {
              report.truncated = true;
              report.timedOut = bytesRead < maxBytes;
              break walk;
            }
            const names = wanted
              .slice(from, from + READ_BATCH_FILES)
              .slice(0, MAX_SEARCH_FILES - searched)
              .map((index) => files[index]!);
            const read = await Promise.all(
              names.map((name) => readChildFile(root, folder, name, MAX_SEARCH_FILE_BYTES)),
            );
            const texts: string[] = [];
            batch = [];
            read.forEach((data, index) => {
              bytesRead += data?.length ?? 0;
              if (!data || data.includes(0)) return; // refused, too big, or binary
              texts.push(data.toString('utf8'));
              batch.push([...folder.rel, names[index]!].join('/'));
            });
            // Every file opened counts, binary or not: the bound is on the work, not the hits.
            searched += names.length;
            // Nothing to match: the worker's time is for matching, not for empty round trips.
            if (texts.length === 0) continue;
            for (const hit of await matcher.match(texts, max_results - hits.length)) {
              hits.push(`${batch[hit.file]}:${hit.line}: ${hit.text}`);
            }
          }
        }
      } catch (error) {
        if (!(error instanceof PatternTooSlow)) throw error;
        const where = error.file === undefined ? undefined : batch[error.file];
        return errorResult(
          `search_files stopped: /${pattern}/ took more than ${timeLimitMs / 1000} s${where ? ` (in ${where})` : ''}. It probably backtracks catastrophically (nested quantifiers such as (a+)+ or (a|aa)* take exponential time on long lines); use a simpler pattern, or narrow path or glob`,
        );
      } finally {
        await matcher.close();
        await start.handle.close();
      }
      const limited = report.truncated || searched >= MAX_SEARCH_FILES;
      const why = limited
        ? `${report.timedOut ? walkCut(report, walkLimitMs) : 'the walk stopped at its limit'}; narrow path or glob`
        : '';
      if (hits.length === 0)
        return {
          content: `no match for /${pattern}/ in ${searched} file(s)${why ? ` (${why})` : ''}`,
        };
      const cut =
        hits.length >= max_results
          ? `\n[stopped at ${max_results} matches]`
          : why
            ? `\n[${why}]`
            : '';
      return { content: hits.join('\n') + cut };
    },
  });
}

export const searchFilesTool = createSearchFilesTool();
