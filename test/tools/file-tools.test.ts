import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { llmTools } from '../../src/tools/llm-tools.js';
import type { ToolContext, ToolResult } from '../../src/tools/registry.js';
import { StateGuard } from '../../src/tools/protected-files.js';
import { globToRegExp } from '../../src/tools/search-tools.js';
import { requireTool } from '../helpers/tools.js';
import { fileToolContext } from '../helpers/tool-context.js';

let root: string;
let workspace: string;
let context: ToolContext;
const tools = llmTools({ canDelegate: false, readOnly: false });
const run = (name: string, input: unknown) => tools.run(name, input, context);

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'sheri-tools-'));
  workspace = join(root, 'ws');
  mkdirSync(join(workspace, 'src/deep'), { recursive: true });
  mkdirSync(join(workspace, 'node_modules/pkg'), { recursive: true });
  writeFileSync(join(workspace, 'src/a.ts'), 'const lease = 1;\nexport function renewLease() {}\n');
  writeFileSync(join(workspace, 'src/deep/b.md'), '# Leases\nrenewLease is documented here\n');
  writeFileSync(join(workspace, 'node_modules/pkg/index.js'), 'renewLease()');
  writeFileSync(join(root, 'secret.txt'), 'OUTSIDE-SECRET');
  context = fileToolContext(workspace);
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
    for (const definition of llmTools({ canDelegate: true, readOnly: false }).definitions()) {
      expect(definition.input_schema).toMatchObject({ type: 'object' });
      expect(definition.input_schema).not.toHaveProperty('$schema');
      expect(definition.description.length).toBeGreaterThan(20);
    }
  });
});

/** A refusal: an error result naming the reason; `content` must never appear in it. */
function expectRefused(result: ToolResult, reason: RegExp, content = 'OUTSIDE-SECRET'): void {
  expect(result.isError).toBe(true);
  expect(result.content).toMatch(reason);
  expect(result.content).not.toContain(content);
}

describe('the file tools under attack', () => {
  it('follows a link that stays inside the workspace, to read and to write its target', async () => {
    symlinkSync('src/a.ts', join(workspace, 'alias.ts'));
    symlinkSync(join(workspace, 'src'), join(workspace, 'src-abs'));
    expect((await run('read_file', { path: 'alias.ts' })).content).toContain('renewLease');
    expect((await run('read_file', { path: 'src-abs/deep/b.md' })).content).toContain('# Leases');
    expect(await run('write_file', { path: 'alias.ts', content: 'new\n' })).toEqual({
      content: 'wrote 4 bytes to src/a.ts',
    });
    expect(readFileSync(join(workspace, 'src/a.ts'), 'utf8')).toBe('new\n');
    expect(readlinkSync(join(workspace, 'alias.ts'))).toBe('src/a.ts');
  });

  it('writes by renaming a complete new file over the name: a reader of the old one sees it whole, the mode stays, no temp file remains', async () => {
    const path = join(workspace, 'run.sh');
    writeFileSync(path, 'old content\n');
    chmodSync(path, 0o755);
    const reader = openSync(path, 'r');
    try {
      expect(await run('write_file', { path: 'run.sh', content: 'new\n' })).toMatchObject({
        content: 'wrote 4 bytes to run.sh',
      });
      expect(readFileSync(reader, 'utf8')).toBe('old content\n');
    } finally {
      closeSync(reader);
    }
    expect(readFileSync(path, 'utf8')).toBe('new\n');
    expect(statSync(path).mode & 0o777).toBe(0o755);
    expect(readdirSync(workspace).filter((name) => name.includes('sheri-write'))).toEqual([]);
  });

  it('ends a loop of links inside the workspace with a refusal', async () => {
    symlinkSync('loop-b', join(workspace, 'loop-a'));
    symlinkSync('loop-a', join(workspace, 'loop-b'));
    expectRefused(await run('read_file', { path: 'loop-a' }), /goes through more than 40 links/);
    expectRefused(
      await run('write_file', { path: 'loop-a', content: 'x' }),
      /goes through more than 40 links/,
    );
  });

  it('refuses to read or write through a hard link to a file outside, which stays unchanged', async () => {
    linkSync(join(root, 'secret.txt'), join(workspace, 'hard.txt'));
    const before = statSync(join(root, 'secret.txt')).mtimeMs;
    expectRefused(await run('read_file', { path: 'hard.txt' }), /has 2 hard links/);
    expectRefused(
      await run('write_file', { path: 'hard.txt', content: 'pwned' }),
      /has 2 hard links/,
    );
    expectRefused(
      await run('edit_file', { path: 'hard.txt', old_string: 'OUTSIDE', new_string: 'pwned' }),
      /has 2 hard links/,
    );
    expect(readFileSync(join(root, 'secret.txt'), 'utf8')).toBe('OUTSIDE-SECRET');
    expect(statSync(join(root, 'secret.txt')).mtimeMs).toBe(before);
  });

  it(
    'refuses a FIFO to read, edit and write without blocking on it',
    { timeout: 10_000 },
    async () => {
      if (!requireTool('mkfifo')) return;
      execFileSync('mkfifo', [join(workspace, 'pipe')]);
      const fifo = /is a FIFO \(named pipe\), not a regular file/;
      expectRefused(await run('read_file', { path: 'pipe' }), fifo);
      expectRefused(
        await run('edit_file', { path: 'pipe', old_string: 'a', new_string: 'b' }),
        fifo,
      );
      expectRefused(await run('write_file', { path: 'pipe', content: 'x' }), fifo);
      expect(lstatSync(join(workspace, 'pipe')).isFIFO()).toBe(true);
    },
  );

  it('refuses a Unix socket in the workspace to read and to write', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(workspace, 'sock'), resolve));
    try {
      const socket = /is a socket, not a regular file/;
      expectRefused(await run('read_file', { path: 'sock' }), socket);
      expectRefused(await run('write_file', { path: 'sock', content: 'x' }), socket);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('refuses /dev/zero through a link in the workspace, and a device node made in it', async () => {
    symlinkSync('/dev/zero', join(workspace, 'zero-link'));
    expectRefused(
      await run('read_file', { path: 'zero-link' }),
      /leads outside the workspace through a symbolic link/,
    );
    expectRefused(
      await run('write_file', { path: 'zero-link', content: 'x' }),
      /leads outside the workspace/,
    );
    if (process.getuid?.() !== 0) {
      if (process.env.CI) throw new Error('CI runs as root, so mknod must work there');
      return;
    }
    execFileSync('mknod', [join(workspace, 'zero'), 'c', '1', '5']);
    const device = /is a character device, not a regular file/;
    expectRefused(await run('read_file', { path: 'zero' }), device);
    expectRefused(await run('write_file', { path: 'zero', content: 'x' }), device);
    expect(lstatSync(join(workspace, 'zero')).isCharacterDevice()).toBe(true);
  });

  it('refuses a huge regular file at the cap instead of reading it whole', async () => {
    writeFileSync(join(workspace, 'huge.bin'), '');
    truncateSync(join(workspace, 'huge.bin'), 20 * 1024 ** 3); // sparse: 20 GiB, no disk used
    expectRefused(
      await run('read_file', { path: 'huge.bin' }),
      /is more than 10485760 bytes; search it with search_files/,
    );
  });

  it('refuses writes and edits to .git/config, .git/hooks/pre-commit and sub/.git/config, and creates nothing', async () => {
    mkdirSync(join(workspace, '.git/hooks'), { recursive: true });
    writeFileSync(join(workspace, '.git/config'), '[core]\n\tbare = false\n');
    symlinkSync('.git', join(workspace, 'git-alias'));
    const git = /inside a \.git folder; the file tools never write there/;
    const hook = '[core]\n\tfsmonitor = "touch /tmp/pwned"\n';
    for (const path of [
      '.git/config',
      '.git/hooks/pre-commit',
      'sub/.git/config',
      'sub/.git',
      '.GIT/config',
      'git-alias/config',
    ]) {
      expectRefused(await run('write_file', { path, content: hook }), git, 'touch /tmp/pwned');
    }
    expectRefused(
      await run('edit_file', { path: '.git/config', old_string: 'bare', new_string: 'fsmonitor' }),
      git,
      'touch /tmp/pwned',
    );
    expect(readFileSync(join(workspace, '.git/config'), 'utf8')).toBe('[core]\n\tbare = false\n');
    expect(existsSync(join(workspace, '.git/hooks/pre-commit'))).toBe(false);
    expect(existsSync(join(workspace, 'sub'))).toBe(false);
    expect(existsSync(join(workspace, '.GIT'))).toBe(false);
    // Reading version control is fine.
    expect((await run('read_file', { path: '.git/config' })).content).toContain('bare = false');
  });

  it("refuses a protected file by what it is after a command renamed the folder above it: 'mv secrets s' and read s/api.key", async () => {
    mkdirSync(join(workspace, 'secrets'));
    writeFileSync(join(workspace, 'secrets/api.key'), 'API-KEY-CANARY-1234');
    const key = join(workspace, 'secrets/api.key');
    context = fileToolContext(workspace, [key]);
    const dataDir = join(root, 'data');
    // The command the guard watches renames the folder (the sandbox's mask moves with it).
    await new StateGuard([key], dataDir, 'agent-1').around(async () =>
      renameSync(join(workspace, 'secrets'), join(workspace, 's')),
    );
    expectRefused(
      await run('read_file', { path: 's/api.key' }),
      /one of sheri's own files/,
      'CANARY',
    );
    expect((await run('search_files', { pattern: 'CANARY' })).content).not.toContain('CANARY-1234');
    expectRefused(await run('write_file', { path: 's/api.key', content: 'x' }), /sheri's own/);
    expect(readFileSync(join(workspace, 's/api.key'), 'utf8')).toBe('API-KEY-CANARY-1234');
  });

  it('refuses a protected folder renamed after a tool call saw it, and what lies in it', async () => {
    mkdirSync(join(workspace, 'vault'));
    writeFileSync(join(workspace, 'vault/key.txt'), 'VAULT-CANARY');
    context = fileToolContext(workspace, [join(workspace, 'vault')]);
    await run('list_files', {});
    renameSync(join(workspace, 'vault'), join(workspace, 'v2'));
    expectRefused(await run('read_file', { path: 'v2/key.txt' }), /sheri's own/, 'VAULT-CANARY');
    expectRefused(await run('list_files', { path: 'v2' }), /sheri's own/, 'key.txt');
    expect((await run('search_files', { pattern: 'CANARY' })).content).not.toContain('VAULT');
  });

  it('refuses a path that takes more than 4,096 names to reach through links, instead of walking for half a minute', async () => {
    // 1,000 nested folders and, at the bottom, a link to itself by its absolute path: each hop
    // walks the 1,000 names again from the root.
    const deep = `${'a/'.repeat(1_000)}`;
    mkdirSync(join(workspace, deep), { recursive: true });
    symlinkSync(join(workspace, deep, 'x'), join(workspace, deep, 'x'));
    symlinkSync(join(workspace, deep, 'x'), join(workspace, 'start'));
    expectRefused(
      await run('read_file', { path: 'start' }),
      /"start" takes more than 4096 names to reach, links included/,
    );
  });

  it("neither reads, writes, lists nor searches sheri's protected files", async () => {
    mkdirSync(join(workspace, '.sheri'));
    mkdirSync(join(workspace, 'vault'));
    writeFileSync(join(workspace, '.sheri/hub.sqlite'), 'LEDGER-SECRET');
    writeFileSync(join(workspace, 'sheri.config.json'), '{"llm":{"baseUrl":"CONFIG-SECRET"}}');
    writeFileSync(join(workspace, 'vault/key.txt'), 'VAULT-SECRET');
    writeFileSync(join(workspace, 'notes.txt'), 'SECRET is a word\n');
    symlinkSync('sheri.config.json', join(workspace, 'config-alias'));
    context = fileToolContext(workspace, [
      join(workspace, '.sheri'),
      join(workspace, 'sheri.config.json'),
      join(workspace, 'vault'),
    ]);
    const guarded = /one of sheri's own files/;
    for (const path of [
      '.sheri/hub.sqlite',
      'sheri.config.json',
      'config-alias',
      join(workspace, 'vault/key.txt'),
      'src/../vault/key.txt',
    ]) {
      expectRefused(await run('read_file', { path }), guarded, 'SECRET');
    }
    for (const path of [
      'sheri.config.json',
      '.sheri/hub.sqlite',
      'vault/new.txt',
      'config-alias',
    ]) {
      expectRefused(await run('write_file', { path, content: 'x' }), guarded);
    }
    expectRefused(
      await run('edit_file', { path: 'sheri.config.json', old_string: 'CONFIG', new_string: 'x' }),
      guarded,
    );
    expectRefused(await run('list_files', { path: 'vault' }), guarded, 'key.txt');
    expect(readFileSync(join(workspace, 'sheri.config.json'), 'utf8')).toContain('CONFIG-SECRET');
    expect(existsSync(join(workspace, 'vault/new.txt'))).toBe(false);

    const listing = (await run('list_files', {})).content;
    expect(listing).not.toMatch(/sheri\.config\.json|\.sheri|vault/);
    expect(listing).toContain('notes.txt');
    const recursive = (await run('list_files', { recursive: true })).content;
    expect(recursive).not.toMatch(/sheri\.config\.json|hub\.sqlite|key\.txt/);
    const search = await run('search_files', { pattern: 'SECRET' });
    expect(search.content).toBe('notes.txt:1: SECRET is a word');
  });

  it('offers a read-only role no write_file or edit_file, and refuses them by name', async () => {
    const readOnly = llmTools({ canDelegate: true, readOnly: true });
    const names = readOnly.definitions().map((definition) => definition.name);
    expect(names).not.toContain('write_file');
    expect(names).not.toContain('edit_file');
    expect(names).toEqual(expect.arrayContaining(['read_file', 'list_files', 'search_files']));
    const write = await readOnly.run('write_file', { path: 'x.txt', content: 'x' }, context);
    expect(write.content).toMatch(/^Error: no tool "write_file"/);
    expect(existsSync(join(workspace, 'x.txt'))).toBe(false);
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
