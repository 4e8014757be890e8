import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { llmTools } from '../../src/tools/llm-tools.js';
import type { ToolContext } from '../../src/tools/registry.js';
import { globToRegExp } from '../../src/tools/search-tools.js';

let root: string;
let workspace: string;
let context: ToolContext;
const tools = llmTools({ canDelegate: false });
const run = (name: string, input: unknown) => tools.run(name, input, context);

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'sheri-tools-'));
  workspace = join(root, 'ws');
  mkdirSync(join(workspace, 'src/deep'), { recursive: true });
  mkdirSync(join(workspace, 'node_modules/pkg'), { recursive: true });
  writeFileSync(join(workspace, 'src/a.ts'), 'const lease = 1;\nexport function renewLease() {}\n');
  writeFileSync(join(workspace, 'src/deep/b.md'), '# Leases\nrenewLease is documented here\n');
  writeFileSync(join(workspace, 'node_modules/pkg/index.js'), 'renewLease()');
  writeFileSync(join(root, 'secret.txt'), 'outside');
  context = {
    workspace,
    signal: new AbortController().signal,
    runShell: async () => ({ content: 'unused' }),
    publishEvent: async () => ({ content: 'unused' }),
    progress: () => undefined,
    delegate: async () => ({ content: 'unused' }),
  };
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('the file tools', () => {
  it('reads a file with numbered lines, and a slice of it with offset and limit', async () => {
    expect(await run('read_file', { path: 'src/a.ts' })).toEqual({
      content: '     1\tconst lease = 1;\n     2\texport function renewLease() {}\n     3\t',
    });
    const slice = await run('read_file', { path: 'src/a.ts', offset: 2, limit: 1 });
    expect(slice.content).toBe(
      '     2\texport function renewLease() {}\n[1 more lines; read on with offset 3]',
    );
  });

  it('keeps one read under 100,000 characters and says where to read on', async () => {
    const line = 'x'.repeat(99);
    writeFileSync(join(workspace, 'big.txt'), `${line}\n`.repeat(3_000));
    const first = await run('read_file', { path: 'big.txt' });
    expect(first.content.length).toBeLessThanOrEqual(100_100);
    const next = Number(/read on with offset (\d+)]$/.exec(first.content)?.[1]);
    expect(next).toBeGreaterThan(500);
    const second = await run('read_file', { path: 'big.txt', offset: next, limit: 1 });
    expect(second.content.startsWith(`${String(next).padStart(6)}\t${line}`)).toBe(true);
  });

  it('refuses "../" and absolute paths that lead out of the workspace', async () => {
    for (const path of ['../secret.txt', join(root, 'secret.txt'), 'src/../../secret.txt']) {
      const result = await run('read_file', { path });
      expect(result.isError).toBe(true);
      expect(result.content).toContain('lies outside the workspace');
    }
    const write = await run('write_file', { path: '../evil.txt', content: 'x' });
    expect(write.isError).toBe(true);
  });

  it('refuses a symbolic link inside the workspace that points out of it, to read or to write', async () => {
    symlinkSync(root, join(workspace, 'escape'));
    const read = await run('read_file', { path: 'escape/secret.txt' });
    expect(read).toMatchObject({ isError: true });
    expect(read.content).toContain('through a symbolic link');
    const write = await run('write_file', { path: 'escape/new.txt', content: 'x' });
    expect(write).toMatchObject({ isError: true });
    expect(() => readFileSync(join(root, 'new.txt'))).toThrow();
  });

  it('writes a file, creating its folders', async () => {
    const result = await run('write_file', { path: 'docs/new/guide.md', content: 'hello\n' });
    expect(result).toEqual({ content: 'wrote 6 bytes to docs/new/guide.md' });
    expect(readFileSync(join(workspace, 'docs/new/guide.md'), 'utf8')).toBe('hello\n');
  });

  it('edits an exact string once, refuses an ambiguous or missing one, and replaces all on request', async () => {
    writeFileSync(join(workspace, 'x.txt'), 'a $& b\na $& b\n');
    const ambiguous = await run('edit_file', { path: 'x.txt', old_string: 'a', new_string: 'z' });
    expect(ambiguous.content).toBe(
      'Error: old_string occurs 2 times in x.txt; add surrounding lines to make it unique, or set replace_all',
    );
    const missing = await run('edit_file', { path: 'x.txt', old_string: 'q', new_string: 'z' });
    expect(missing).toMatchObject({ isError: true });
    const once = await run('edit_file', {
      path: 'x.txt',
      old_string: 'a $& b\na',
      new_string: 'first $1',
    });
    expect(once.content).toBe('replaced 1 occurrence(s) in x.txt');
    expect(readFileSync(join(workspace, 'x.txt'), 'utf8')).toBe('first $1 $& b\n');
    await run('edit_file', { path: 'x.txt', old_string: '$', new_string: 'S', replace_all: true });
    expect(readFileSync(join(workspace, 'x.txt'), 'utf8')).toBe('first S1 S& b\n');
  });

  it('lists a folder, and every file below it skipping node_modules', async () => {
    expect((await run('list_files', {})).content).toBe('node_modules/\nsrc/');
    expect((await run('list_files', { path: '.', recursive: true })).content).toBe(
      'src/a.ts\nsrc/deep/b.md',
    );
  });

  it('searches file contents by regular expression, filtered by glob', async () => {
    expect((await run('search_files', { pattern: 'renew\\w+' })).content).toBe(
      'src/a.ts:2: export function renewLease() {}\nsrc/deep/b.md:2: renewLease is documented here',
    );
    expect(
      (await run('search_files', { pattern: 'LEASE', glob: '*.md', ignore_case: true })).content,
    ).toBe('src/deep/b.md:1: # Leases\nsrc/deep/b.md:2: renewLease is documented here');
    expect((await run('search_files', { pattern: '(' })).content).toMatch(
      /^Error: invalid regular expression/,
    );
  });

  it('answers an unknown tool and bad input with an error result, never a throw', async () => {
    expect(await run('rm_rf', {})).toMatchObject({ isError: true });
    expect((await run('read_file', { path: 42 })).content).toMatch(
      /^Error: invalid input for read_file: path:/,
    );
  });

  it('gives every tool a JSON object schema for the model', () => {
    for (const definition of llmTools({ canDelegate: true }).definitions()) {
      expect(definition.input_schema).toMatchObject({ type: 'object' });
      expect(definition.input_schema).not.toHaveProperty('$schema');
      expect(definition.description.length).toBeGreaterThan(20);
    }
  });
});

describe('globToRegExp', () => {
  it.each([
    ['*.ts', 'src/a.ts', true],
    ['*.ts', 'src/a.tsx', false],
    ['src/**/*.md', 'src/deep/b.md', true],
    ['src/**/*.md', 'src/b.md', true],
    ['src/*.md', 'src/deep/b.md', false],
    ['a?.js', 'x/ab.js', true],
  ])('%s matches %s: %s', (glob, path, expected) => {
    expect(globToRegExp(glob).test(path)).toBe(expected);
  });
});
