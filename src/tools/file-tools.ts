import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { defineTool, errorResult } from './registry.js';
import { displayPath, resolveInWorkspace } from './workspace-path.js';

/** Bigger files are read in slices (offset/limit), so one read cannot flood the context. */
const MAX_READ_BYTES = 10 * 1024 * 1024;
const DEFAULT_READ_LINES = 2_000;
const MAX_LINE_CHARS = 2_000;

const Path = z.string().min(1).describe('path relative to the workspace');

export const readFileTool = defineTool({
  name: 'read_file',
  description:
    'Read a text file of the workspace. Lines come numbered ("   12\\tcode"); the numbers are not part of the file. Use offset/limit for long files.',
  input: z.strictObject({
    path: Path,
    offset: z.int().min(1).optional().describe('first line to read, 1-based (default 1)'),
    limit: z
      .int()
      .min(1)
      .max(10_000)
      .optional()
      .describe(`lines to read (default ${DEFAULT_READ_LINES})`),
  }),
  async run({ path, offset = 1, limit = DEFAULT_READ_LINES }, context) {
    const full = await resolveInWorkspace(context.workspace, path);
    const info = await stat(full);
    if (info.isDirectory()) return errorResult(`${path} is a directory; use list_files`);
    if (info.size > MAX_READ_BYTES) {
      return errorResult(
        `${path} is ${info.size} bytes, more than ${MAX_READ_BYTES}; search it with search_files`,
      );
    }
    const buffer = await readFile(full);
    if (buffer.includes(0)) return errorResult(`${path} is a binary file`);
    const lines = buffer.toString('utf8').split('\n');
    const slice = lines.slice(offset - 1, offset - 1 + limit);
    const numbered = slice.map((line, i) => {
      const text =
        line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}… [line cut]` : line;
      return `${String(offset + i).padStart(6)}\t${text}`;
    });
    const more = offset - 1 + limit < lines.length;
    const tail = more
      ? `\n[${lines.length - (offset - 1 + limit)} more lines; read on with offset ${offset + limit}]`
      : '';
    return { content: numbered.join('\n') + tail || '(empty file)' };
  },
});

export const writeFileTool = defineTool({
  name: 'write_file',
  description:
    'Create or overwrite a file of the workspace with the given content (folders are created).',
  input: z.strictObject({ path: Path, content: z.string() }),
  async run({ path, content }, context) {
    const full = await resolveInWorkspace(context.workspace, path);
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, content);
    return {
      content: `wrote ${Buffer.byteLength(content)} bytes to ${displayPath(context.workspace, full)}`,
    };
  },
});

export const editFileTool = defineTool({
  name: 'edit_file',
  description:
    'Replace an exact string in a file of the workspace. old_string must occur exactly once (include surrounding lines to make it unique), unless replace_all is true.',
  input: z.strictObject({
    path: Path,
    old_string: z.string().min(1),
    new_string: z.string(),
    replace_all: z.boolean().optional(),
  }),
  async run({ path, old_string, new_string, replace_all }, context) {
    const full = await resolveInWorkspace(context.workspace, path);
    const text = await readFile(full, 'utf8');
    const count = text.split(old_string).length - 1;
    if (count === 0)
      return errorResult(
        `old_string was not found in ${path}; read the file and copy the text exactly`,
      );
    if (count > 1 && !replace_all) {
      return errorResult(
        `old_string occurs ${count} times in ${path}; add surrounding lines to make it unique, or set replace_all`,
      );
    }
    // A function replacement, so "$&" and friends in new_string stay literal.
    const updated = replace_all
      ? text.split(old_string).join(new_string)
      : text.replace(old_string, () => new_string);
    await writeFile(full, updated);
    return {
      content: `replaced ${replace_all ? count : 1} occurrence(s) in ${displayPath(context.workspace, full)}`,
    };
  },
});
