import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { defineTool, errorResult } from './registry.js';
import { displayPath, resolveInWorkspace } from './workspace-path.js';

/** Folders nobody means to search: dependencies and version control. */
const SKIPPED = new Set(['.git', 'node_modules', '.sheri', 'dist', '.venv', '__pycache__']);
const MAX_ENTRIES = 1_000;
const MAX_SEARCH_FILE_BYTES = 1024 * 1024;

/** Files under `dir` (relative paths, "/"-separated), skipping SKIPPED folders, at most `max`. */
async function walk(dir: string, max: number, signal: AbortSignal): Promise<string[]> {
  const found: string[] = [];
  const queue = [''];
  while (queue.length > 0 && found.length < max && !signal.aborted) {
    const rel = queue.shift()!;
    const entries = await readdir(join(dir, rel), { withFileTypes: true });
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!SKIPPED.has(entry.name)) queue.push(path);
      } else if (entry.isFile()) {
        found.push(path);
        if (found.length >= max) break;
      }
    }
  }
  return found;
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

export const listFilesTool = defineTool({
  name: 'list_files',
  description: `List a folder of the workspace (folders end in "/"). With recursive, every file below it (skipping ${[...SKIPPED].join(', ')}), at most ${MAX_ENTRIES}.`,
  input: z.strictObject({
    path: z.string().min(1).default('.').describe('folder relative to the workspace'),
    recursive: z.boolean().default(false),
  }),
  async run({ path, recursive }, context) {
    const full = await resolveInWorkspace(context.workspace, path);
    if (!(await stat(full)).isDirectory()) return errorResult(`${path} is not a folder`);
    if (recursive) {
      const files = await walk(full, MAX_ENTRIES + 1, context.signal);
      const cut =
        files.length > MAX_ENTRIES ? `\n[more than ${MAX_ENTRIES} files; list a subfolder]` : '';
      return { content: (files.slice(0, MAX_ENTRIES).join('\n') || '(no files)') + cut };
    }
    const entries = await readdir(full, { withFileTypes: true });
    const names = entries
      .map((entry) => (entry.isDirectory() ? `${entry.name}/` : entry.name))
      .sort()
      .slice(0, MAX_ENTRIES);
    return { content: names.join('\n') || `(${displayPath(context.workspace, full)} is empty)` };
  },
});

export const searchFilesTool = defineTool({
  name: 'search_files',
  description:
    'Search the text files of the workspace for a regular expression (JavaScript syntax); prints "path:line: text" for each match.',
  input: z.strictObject({
    pattern: z.string().min(1).describe('regular expression, e.g. "function \\\\w+Lease"'),
    path: z.string().min(1).default('.').describe('folder to search, relative to the workspace'),
    glob: z
      .string()
      .min(1)
      .optional()
      .describe('only files matching this, e.g. "*.ts" or "src/**/*.md"'),
    ignore_case: z.boolean().default(false),
    max_results: z.int().min(1).max(1_000).default(200),
  }),
  async run({ pattern, path, glob, ignore_case, max_results }, context) {
    let regex: RegExp;
    try {
      regex = new RegExp(pattern, ignore_case ? 'i' : '');
    } catch (error) {
      return errorResult(`invalid regular expression: ${(error as Error).message}`);
    }
    const full = await resolveInWorkspace(context.workspace, path);
    const only = glob ? globToRegExp(glob) : undefined;
    const files = (await walk(full, 50_000, context.signal)).filter(
      (file) => !only || only.test(file),
    );
    const hits: string[] = [];
    for (const file of files) {
      if (hits.length >= max_results || context.signal.aborted) break;
      const absolute = join(full, file);
      if ((await stat(absolute)).size > MAX_SEARCH_FILE_BYTES) continue;
      const buffer = await readFile(absolute);
      if (buffer.includes(0)) continue; // binary
      const lines = buffer.toString('utf8').split('\n');
      for (const [index, line] of lines.entries()) {
        if (!regex.test(line)) continue;
        hits.push(
          `${displayPath(context.workspace, absolute)}:${index + 1}: ${line.slice(0, 500)}`,
        );
        if (hits.length >= max_results) break;
      }
    }
    if (hits.length === 0)
      return { content: `no match for /${pattern}/ in ${files.length} file(s)` };
    const cut = hits.length >= max_results ? `\n[stopped at ${max_results} matches]` : '';
    return { content: hits.join('\n') + cut };
  },
});
