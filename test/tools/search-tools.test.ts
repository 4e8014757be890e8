import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { llmTools } from '../../src/tools/llm-tools.js';
import { MAX_TOOL_RESULT_CHARS, ToolSet, type ToolContext } from '../../src/tools/registry.js';
import { openSafeRoot, openWorkspaceFolder, readChildFile } from '../../src/tools/safe-fs.js';
import { createListFilesTool, createSearchFilesTool } from '../../src/tools/search-tools.js';
import { fileToolContext } from '../helpers/tool-context.js';
import { requireTool } from '../helpers/tools.js';

/** search_files with a 1 s limit, so the slow-pattern tests end soon; the agent's is 5 s. */
const quickSearch = new ToolSet([createSearchFilesTool({ timeLimitMs: 1_000 })]);
const tools = llmTools({ canDelegate: false, readOnly: false });
let root: string;
let workspace: string;
let context: ToolContext;
let interval: NodeJS.Timeout | undefined;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'sheri-search-'));
  workspace = join(root, 'ws');
  mkdirSync(join(workspace, 'src'), { recursive: true });
  mkdirSync(join(root, 'outside'));
  writeFileSync(join(workspace, 'src/a.ts'), 'export function renewLease() {}\n');
  writeFileSync(join(root, 'outside/leak.ts'), 'renewLease OUTSIDE-SECRET\n');
  context = fileToolContext(workspace);
});

afterEach(() => {
  clearInterval(interval);
  interval = undefined;
  rmSync(root, { recursive: true, force: true });
});

/** Counts ticks of a timer in this process while `work` runs: ticks mean a free event loop. */
async function ticksDuring<T>(work: () => Promise<T>): Promise<{ result: T; ticks: number }> {
  let ticks = 0;
  interval = setInterval(() => ticks++, 20);
  const result = await work();
  clearInterval(interval);
  return { result, ticks };
}

describe('search_files against hostile patterns and files', () => {
  it('stops (a+)+$ on a 50,000-character line with an error result, while the event loop keeps ticking', async () => {
    writeFileSync(join(workspace, 'long.txt'), `${'a'.repeat(50_000)}!\n`);
    const { result, ticks } = await ticksDuring(() =>
      quickSearch.run('search_files', { pattern: '(a+)+$' }, context),
    );
    expect(result.isError).toBe(true);
    expect(result.content).toMatch(/took more than 1 s \(in long\.txt\).*use a simpler pattern/);
    expect(ticks).toBeGreaterThan(0);
    // The process is fine afterwards: the next search answers.
    const next = await quickSearch.run('search_files', { pattern: 'renew\\w+' }, context);
    expect(next.content).toBe('src/a.ts:1: export function renewLease() {}');
  });

  it('stops a glob that backtracks catastrophically on a long file name, with an error result', async () => {
    writeFileSync(join(workspace, `${'a'.repeat(200)}.txt`), 'renewLease\n');
    const glob = `${'*a'.repeat(14)}*b`;
    const { result, ticks } = await ticksDuring(() =>
      quickSearch.run('search_files', { pattern: 'renew', glob }, context),
    );
    expect(result).toMatchObject({ isError: true });
    expect(result.content).toMatch(/took more than 1 s/);
    expect(ticks).toBeGreaterThan(0);
  });

  it(
    'skips a FIFO and a device node in the workspace instead of blocking on them',
    { timeout: 10_000 },
    async () => {
      if (!requireTool('mkfifo')) return;
      execFileSync('mkfifo', [join(workspace, 'src/pipe.ts')]);
      if (process.getuid?.() === 0)
        execFileSync('mknod', [join(workspace, 'src/zero.ts'), 'c', '1', '5']);
      const result = await tools.run('search_files', { pattern: 'renew' }, context);
      expect(result.content).toBe('src/a.ts:1: export function renewLease() {}');
    },
  );

  it(
    'reads nothing from a name that turned into a FIFO after the folder was listed',
    { timeout: 10_000 },
    async () => {
      if (!requireTool('mkfifo')) return;
      const safeRoot = await openSafeRoot(workspace, []);
      const folder = await openWorkspaceFolder(safeRoot, 'src');
      try {
        // The listing said "a regular file"; by the time it is read, it is a FIFO.
        rmSync(join(workspace, 'src/a.ts'));
        execFileSync('mkfifo', [join(workspace, 'src/a.ts')]);
        expect(await readChildFile(safeRoot, folder, 'a.ts', 1024)).toBeUndefined();
      } finally {
        await folder.handle.close();
      }
    },
  );

  it('neither follows symbolic links nor hard links out of the workspace while walking', async () => {
    symlinkSync(join(root, 'outside'), join(workspace, 'linked-dir'));
    symlinkSync(join(root, 'outside/leak.ts'), join(workspace, 'src/linked.ts'));
    linkSync(join(root, 'outside/leak.ts'), join(workspace, 'src/hard.ts'));
    const search = await tools.run('search_files', { pattern: 'renewLease' }, context);
    expect(search.content).toBe('src/a.ts:1: export function renewLease() {}');
    const listing = await tools.run('list_files', { recursive: true }, context);
    expect(listing.content).toBe('src/a.ts\nsrc/hard.ts');
    expect((await tools.run('read_file', { path: 'src/hard.ts' }, context)).content).toMatch(
      /hard links/,
    );
  });

  it("does not spend the pattern's time on folders with no files: 3,000 empty folders are no slow pattern", async () => {
    for (let i = 0; i < 3_000; i++) mkdirSync(join(workspace, `empty/d${i}`), { recursive: true });
    // A budget of 300 ms: 3,000 round trips to the worker, one a folder, used it all before.
    const tight = new ToolSet([createSearchFilesTool({ timeLimitMs: 300 })]);
    const result = await tight.run('search_files', { pattern: 'renewLease' }, context);
    expect(result.isError).toBeUndefined();
    expect(result.content).toBe('src/a.ts:1: export function renewLease() {}');
  });

  it('stops a walk at its time limit and says so, in list_files and search_files', async () => {
    mkdirSync(join(workspace, 'one/two'), { recursive: true });
    writeFileSync(join(workspace, 'one/two/deep.ts'), 'renewLease\n');
    // A limit already past: the walk stops before the first subfolder.
    const list = await new ToolSet([createListFilesTool(-1)]).run(
      'list_files',
      { recursive: true },
      context,
    );
    expect(list.content).toBe('(no files)\n[the walk stopped after -0.001 s; list a subfolder]');
    const search = await new ToolSet([
      createSearchFilesTool({ timeLimitMs: 1_000, walkLimitMs: -1 }),
    ]).run('search_files', { pattern: 'nothing-matches-this' }, context);
    expect(search.content).toBe(
      'no match for /nothing-matches-this/ in 0 file(s) (the walk stopped after -0.001 s; narrow path or glob)',
    );
  });

  it('stops reading at its byte limit and says the walk stopped, with the matches found until then', async () => {
    // 40 files of 100 KB, a match in each: a limit of 1 MB is reached after about 10 of them.
    for (let i = 0; i < 40; i++) {
      writeFileSync(
        join(workspace, `src/f${String(i).padStart(2, '0')}.txt`),
        `needle\n${'x'.repeat(100_000)}\n`,
      );
    }
    const bounded = new ToolSet([createSearchFilesTool({ maxBytes: 1_000_000 })]);
    const result = await bounded.run('search_files', { pattern: 'needle', path: 'src' }, context);
    const hits = result.content.split('\n').filter((line) => line.includes(':1: needle'));
    expect(hits.length).toBeGreaterThanOrEqual(10);
    expect(hits.length).toBeLessThan(40);
    expect(result.content).toMatch(/\n\[the walk stopped at its limit; narrow path or glob\]$/);
  });

  it('cuts an answer of 1,000 long hits at MAX_TOOL_RESULT_CHARS, saying so', async () => {
    const line = `needle ${'x'.repeat(600)}`;
    writeFileSync(join(workspace, 'src/long.txt'), `${line}\n`.repeat(1_000));
    const result = await tools.run('search_files', { pattern: 'needle' }, context);
    expect(result.content.length).toBeLessThan(MAX_TOOL_RESULT_CHARS + 200);
    expect(result.content).toMatch(
      /… \[cut at 100000 characters of \d+: narrow the path or the pattern\]$/,
    );
  });

  it('skips files over 1 MiB instead of reading them whole', async () => {
    writeFileSync(join(workspace, 'big.txt'), `renewLease\n${'x'.repeat(1024 * 1024)}`);
    const result = await tools.run('search_files', { pattern: 'renewLease' }, context);
    expect(result.content).toBe('src/a.ts:1: export function renewLease() {}');
  });

  it('refuses to search from a folder outside the workspace, or through a link out of it', async () => {
    symlinkSync(join(root, 'outside'), join(workspace, 'linked-dir'));
    for (const path of ['..', join(root, 'outside'), 'linked-dir']) {
      const result = await tools.run('search_files', { pattern: 'renew', path }, context);
      expect(result).toMatchObject({ isError: true });
      expect(result.content).toMatch(/outside the workspace/);
      expect(result.content).not.toContain('OUTSIDE-SECRET');
    }
  });
});
