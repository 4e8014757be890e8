import { spawn, type ChildProcess } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { llmTools } from '../../src/tools/llm-tools.js';
import type { ToolContext, ToolResult } from '../../src/tools/registry.js';
import { readCapped } from '../../src/tools/safe-fs.js';
import { fileToolContext } from '../helpers/tool-context.js';

const FLIPPER = fileURLToPath(new URL('../fixtures/flip-path.mjs', import.meta.url));
const TRIES = 10_000;
/** Tool calls in flight at once, so the 10,000 tries overlap the flips from many angles. */
const IN_FLIGHT = 8;
const CANARY = 'CANARY-SECRET X\n';

const tools = llmTools({ canDelegate: false, readOnly: false });
let root: string;
let workspace: string;
let outside: string;
let context: ToolContext;
let flipper: ChildProcess | undefined;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'sheri-race-'));
  workspace = join(root, 'ws');
  outside = join(root, 'outside');
  mkdirSync(workspace);
  mkdirSync(outside);
  writeFileSync(join(outside, 'canary.txt'), CANARY);
  writeFileSync(join(outside, 'secret.txt'), CANARY);
  context = fileToolContext(workspace);
});

afterEach(async () => {
  if (flipper && flipper.exitCode === null && flipper.signalCode === null) {
    const exited = new Promise((resolve) => flipper!.once('exit', resolve));
    flipper.kill('SIGKILL');
    await exited;
  }
  flipper = undefined;
  rmSync(root, { recursive: true, force: true });
});

/** Starts the flipper on `name` in the workspace; resolves once it has flipped both ways. */
async function startFlipper(mode: 'file' | 'dir', name: string, target: string): Promise<void> {
  const child = spawn(process.execPath, [FLIPPER, mode, name, target], {
    cwd: workspace,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  flipper = child;
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the flipper exited (${code})`)));
  });
}

/** Runs `call` TRIES times, IN_FLIGHT at once; counts successes and refusals. */
async function hammer(
  call: () => Promise<ToolResult>,
  check: (result: ToolResult) => void,
): Promise<{ ok: number; refused: number }> {
  const counts = { ok: 0, refused: 0 };
  let started = 0;
  const lane = async () => {
    while (started < TRIES) {
      started++;
      const result = await call();
      check(result);
      // Refusals name the model's path, never the descriptor path the tools opened it by.
      expect(result.content).not.toContain('/proc/self/fd');
      if (result.isError) counts.refused++;
      else counts.ok++;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  return counts;
}

function snapshot(path: string): { content: string; mtimeMs: number } {
  return { content: readFileSync(path, 'utf8'), mtimeMs: statSync(path).mtimeMs };
}

describe('the file tools against a name swapped between check and use', () => {
  it('never returns the content of an outside file while ws/link flips between a file and a link to it (10,000 reads)', async () => {
    await startFlipper('file', 'link', join(outside, 'canary.txt'));
    const counts = await hammer(
      () => tools.run('read_file', { path: 'link' }, context),
      (result) => expect(result.content).not.toContain('CANARY'),
    );
    expect(counts.ok + counts.refused).toBe(TRIES);
    // Both states were met, so the race was live: reads of the file, refusals of the link.
    expect(counts.ok).toBeGreaterThan(0);
    expect(counts.refused).toBeGreaterThan(0);
  });

  it('never writes an outside file while ws/link flips between a file and a link to it (10,000 writes)', async () => {
    const before = snapshot(join(outside, 'canary.txt'));
    await startFlipper('file', 'link', join(outside, 'canary.txt'));
    const counts = await hammer(
      () => tools.run('write_file', { path: 'link', content: 'written by the tool\n' }, context),
      () => undefined,
    );
    expect(counts.ok).toBeGreaterThan(0);
    expect(counts.refused).toBeGreaterThan(0);
    expect(snapshot(join(outside, 'canary.txt'))).toEqual(before);
    expect(readdirSync(outside).sort()).toEqual(['canary.txt', 'secret.txt']);
  });

  it('never edits an outside file while ws/link flips between a file and a link to it (10,000 edits)', async () => {
    const before = snapshot(join(outside, 'canary.txt'));
    await startFlipper('file', 'link', join(outside, 'canary.txt'));
    const counts = await hammer(
      () => tools.run('edit_file', { path: 'link', old_string: 'X', new_string: 'Y' }, context),
      (result) => expect(result.content).not.toContain('CANARY'),
    );
    expect(counts.ok).toBeGreaterThan(0);
    expect(counts.refused).toBeGreaterThan(0);
    expect(snapshot(join(outside, 'canary.txt'))).toEqual(before);
    expect(readdirSync(outside).sort()).toEqual(['canary.txt', 'secret.txt']);
  });

  it('never creates a file outside while ws/dir flips between a folder and a link to an outside folder (10,000 writes of dir/new.txt)', async () => {
    const before = snapshot(join(outside, 'secret.txt'));
    await startFlipper('dir', 'dir', outside);
    const counts = await hammer(
      () => tools.run('write_file', { path: 'dir/new.txt', content: 'x' }, context),
      () => undefined,
    );
    expect(counts.ok).toBeGreaterThan(0);
    expect(counts.refused).toBeGreaterThan(0);
    expect(readdirSync(outside).sort()).toEqual(['canary.txt', 'secret.txt']);
    expect(snapshot(join(outside, 'secret.txt'))).toEqual(before);
  });

  it('never reads through ws/dir while it flips between a folder and a link to an outside folder (10,000 reads of dir/secret.txt)', async () => {
    await startFlipper('dir', 'dir', outside);
    const counts = await hammer(
      () => tools.run('read_file', { path: 'dir/secret.txt' }, context),
      (result) => expect(result.content).not.toContain('CANARY'),
    );
    expect(counts.ok).toBeGreaterThan(0);
    expect(counts.refused).toBeGreaterThan(0);
  });
});

describe("the file tools when a command swaps the task's folder itself for a link", () => {
  /** A task that runs in ws/sub; its first command replaced sub with a link (to outside). */
  function swappedTaskFolder(target: string): ToolContext {
    const sub = join(workspace, 'sub');
    mkdirSync(sub);
    writeFileSync(join(sub, 'notes.txt'), 'the task folder\n');
    const taskContext = fileToolContext(sub);
    renameSync(sub, join(workspace, 'sub.old'));
    symlinkSync(target, sub);
    return taskContext;
  }

  it("reads nothing through it: not an outside file, not the agent's /proc/self/environ", async () => {
    const taskContext = swappedTaskFolder(outside);
    for (const path of ['secret.txt', join(workspace, 'sub', 'secret.txt')]) {
      const result = await tools.run('read_file', { path }, taskContext);
      expect(result.isError, result.content).toBe(true);
      expect(result.content).toContain('was moved while in use');
      expect(result.content).not.toContain('CANARY');
    }
    rmSync(join(workspace, 'sub'));
    symlinkSync('/', join(workspace, 'sub'));
    const environ = await tools.run('read_file', { path: 'proc/self/environ' }, taskContext);
    expect(environ.isError).toBe(true);
    expect(environ.content).not.toMatch(/PATH=/);
  });

  it('writes and edits nothing through it, and lists and searches nothing behind it', async () => {
    const taskContext = swappedTaskFolder(outside);
    const before = snapshot(join(outside, 'secret.txt'));
    const written = await tools.run('write_file', { path: 'new.txt', content: 'x' }, taskContext);
    const edited = await tools.run(
      'edit_file',
      { path: 'secret.txt', old_string: 'X', new_string: 'Y' },
      taskContext,
    );
    const listed = await tools.run('list_files', { path: '.', recursive: true }, taskContext);
    const searched = await tools.run('search_files', { pattern: 'CANARY' }, taskContext);
    for (const result of [written, edited, listed, searched]) {
      expect(result.isError, result.content).toBe(true);
      expect(result.content).not.toContain('CANARY');
      expect(result.content).not.toContain('secret.txt');
    }
    expect(snapshot(join(outside, 'secret.txt'))).toEqual(before);
    expect(readdirSync(outside).sort()).toEqual(['canary.txt', 'secret.txt']);
  });
});

describe('readCapped', () => {
  it('stops reading /dev/zero after the cap, although its size says 0', async () => {
    const zero = await open('/dev/zero', 'r');
    try {
      expect((await zero.stat()).size).toBe(0);
      expect(await readCapped(zero, 1024 * 1024)).toBeUndefined();
    } finally {
      await zero.close();
    }
  });

  it('returns a file of exactly the cap whole, and refuses it under a smaller cap', async () => {
    writeFileSync(join(workspace, 'exact.bin'), Buffer.alloc(1000, 1));
    for (const [cap, length] of [
      [1000, 1000],
      [999, undefined],
    ] as const) {
      const handle = await open(join(workspace, 'exact.bin'), 'r');
      try {
        expect((await readCapped(handle, cap))?.length).toBe(length);
      } finally {
        await handle.close();
      }
    }
  });
});
