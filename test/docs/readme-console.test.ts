import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHERI_BIN, startSheri, type SheriProcess } from '../helpers/sheri-process.js';
import { freePort, requireTool, withoutLlmSettings } from '../helpers/tools.js';

/**
 * The README's ```console blocks, re-run: every `$ npx sheri …` line runs through bash against a
 * swarm started as the README starts it (`sheri up --agents testing=2,deployment`, on a free
 * port, in a folder of its own), and what it prints must have the shape the README shows — ids,
 * times, durations, ports and column widths aside. A block whose command does not end by itself
 * (trace) needs a scenario below; a command added later needs nothing.
 */

const README = fileURLToPath(new URL('../../README.md', import.meta.url));

interface ConsoleBlock {
  /** Line of the README where the block starts, for the failure message. */
  line: number;
  steps: { command: string; expected: string[] }[];
}

/** The console blocks of a Markdown text, each split into its commands and what they print. */
function consoleBlocks(markdown: string): ConsoleBlock[] {
  const blocks: ConsoleBlock[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```console') continue;
    const block: ConsoleBlock = { line: i + 1, steps: [] };
    for (i++; i < lines.length && lines[i]!.trim() !== '```'; i++) {
      const text = lines[i]!;
      if (text.startsWith('$ npx sheri '))
        block.steps.push({ command: text.slice(2), expected: [] });
      else block.steps.at(-1)?.expected.push(text);
    }
    blocks.push(block);
  }
  return blocks;
}

/**
 * What may differ between two runs: ids, times, durations, sizes, ports, pids, and the width of
 * columns (which follows the ids). Everything else — words, order, layout of a line — must match.
 */
function shapeOf(line: string): string {
  return line
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g, '<uuid>')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>')
    .replace(/\b\d\d:\d\d:\d\d(\.\d{3})?\b/g, '<clock>')
    .replace(/(mqtts?|ws):\/\/[^\s"'`)]+/g, '<url>')
    .replace(/([-.])[0-9a-f]{6,12}\b/g, '$1<id>')
    .replace(/\d+(\.\d+)?/g, 'N')
    .replace(/\s+/g, ' ')
    .trim();
}

/** A line of the README as a pattern: `…` stands for whatever the README cut. */
function patternOf(line: string): RegExp {
  const parts = shapeOf(line)
    .split('…')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.*')}$`);
}

/** Task ids, agent ids and approval ids: what differs from the README's run to this one. */
const ID = /[A-Za-z][\w.]*-[0-9a-f]{6,12}(\.\d+\.[0-9a-f]{8})?\b/g;

/**
 * Each line the README shows must be printed, in the same order; the README may leave lines out
 * (a lone `…` line says so, and so does a block that ends early). The ids of each matched pair of
 * lines are learnt, so that a later command of the README (`task show <id>`) names this run's.
 */
function compare(
  expected: string[],
  actual: string,
  ids: Map<string, string>,
  /** A live stream (trace): the broker may deliver messages of different senders in any order. */
  anyOrder = false,
): { missing: string[] } {
  const raw = actual.split('\n');
  const printed = raw.map(shapeOf);
  const used = new Set<number>();
  const missing: string[] = [];
  let at = 0;
  for (const line of expected) {
    if (line.trim() === '' || line.trim() === '…') continue;
    const pattern = patternOf(line);
    const found = printed.findIndex(
      (candidate, i) => (anyOrder ? !used.has(i) : i >= at) && pattern.test(candidate),
    );
    if (found < 0) {
      missing.push(line);
      continue;
    }
    used.add(found);
    at = found + 1;
    const theirs = raw[found]!.match(ID) ?? [];
    (line.match(ID) ?? []).forEach((id, i) => {
      if (theirs[i] && !ids.has(id)) ids.set(id, theirs[i]);
    });
  }
  return { missing };
}

const dirs: string[] = [];
const processes: SheriProcess[] = [];
let dir: string;
let env: NodeJS.ProcessEnv;

/** `npx sheri` in a README line is this build of sheri; everything else is bash's. */
const NPX_SHERI = `npx() { if [ "$1" = sheri ]; then shift; "${process.execPath}" "${SHERI_BIN}" "$@"; else command npx "$@"; fi; }`;

async function shell(
  command: string,
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<{ code: number | null; output: string }> {
  const child = spawn('bash', ['-c', `${NPX_SHERI}\n{ ${command}\n} 2>&1`], {
    cwd: options.cwd,
    env: { ...withoutLlmSettings(process.env), ...options.env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, output };
}

/** A command of a README block, as it runs in the README's swarm. */
const run = (command: string) => shell(command, { cwd: dir, env });

/**
 * Commands that run until stopped, with what to do while they run: the scenario the README's
 * block shows. Keyed by the command's first words.
 */
const SCENARIOS: Record<
  string,
  (command: string) => Promise<{ code: number | null; output: string }>
> = {
  // A task's life, then a command that asks for approval, approved from the command line.
  'npx sheri trace': async (command) => {
    // exec, so that SIGINT reaches sheri itself (a shell function cannot be exec'ed).
    const direct = command.replace(/^npx sheri /, `"${process.execPath}" "${SHERI_BIN}" `);
    const trace = spawn('bash', ['-c', `exec ${direct} 2>&1`], {
      cwd: dir,
      env: { ...withoutLlmSettings(process.env), ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    const waiters: (() => void)[] = [];
    trace.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      for (const waiter of [...waiters]) waiter();
    });
    const seen = (text: string) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (!output.includes(text)) return;
          waiters.splice(waiters.indexOf(check), 1);
          resolve();
        };
        waiters.push(check);
        check();
      });
    await seen('tracing ');
    const lint = await run(
      `npx sheri task submit --type testing.run --task-id lint-check --command 'echo "12 tests passed"' --wait`,
    );
    expect(lint.code).toBe(0);
    const asking = shell(
      `npx sheri task submit --type deployment.rollback --task-id cleanup-prod-2 --command 'kubectl -n prod delete pod web-7f9d' --max-attempts 1 --wait`,
      { cwd: dir, env },
    );
    await seen('asks approval for');
    const listed = await run('npx sheri approvals --json');
    const id = (JSON.parse(listed.output) as { approvals: { approval_id: string }[] }).approvals[0]!
      .approval_id;
    expect((await run(`npx sheri approve ${id} --reason "ok, release window"`)).code).toBe(0);
    await seen(' approved: approved by ');
    // kubectl is not there: the approved command fails, which the README's block does not show.
    await asking;
    trace.kill('SIGINT');
    const [code] = (await once(trace, 'close')) as [number | null];
    return { code, output };
  },
};

const HAS_TMUX = requireTool('tmux');
// The README's swarm runs its commands in bubblewrap, and says so (sheri agents).
const HAS_BWRAP = requireTool('bwrap');

/** Blocks that need a setting of their own rather than the README's swarm. */
function apart(block: ConsoleBlock): 'tmux' | undefined {
  return block.steps[0]?.command.startsWith('npx sheri swarm tmux') ? 'tmux' : undefined;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sheri-readme-'));
  dirs.push(dir);
  // The README's step 1, on a free port.
  const swarm = startSheri(
    ['up', '--port', '0', '--agents', 'testing=2,deployment', '--log-format', 'json'],
    {
      cwd: dir,
    },
  );
  processes.push(swarm);
  await swarm.waitForOutput(/is up on mqtt:\/\//, 30_000);
  env = { SHERI_BROKER: /is up on (mqtt:\/\/[0-9.:]+)/.exec(swarm.output())![1] };
});

afterAll(async () => {
  for (const process of processes.splice(0)) await process.kill('SIGKILL');
  for (const made of dirs.splice(0)) rmSync(made, { recursive: true, force: true });
});

const blocks = consoleBlocks(readFileSync(README, 'utf8'));

describe.skipIf(!HAS_BWRAP)('the README console blocks', () => {
  it('has console blocks to check', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
  });

  for (const block of blocks) {
    const title = `README.md:${block.line}: ${block.steps.map((step) => step.command.replace('npx ', '')).join(' · ')}`;
    const skip = apart(block) === 'tmux' && !HAS_TMUX;
    it.skipIf(skip)(`prints what ${title} shows`, async () => {
      const tmux = apart(block) === 'tmux';
      const here = tmux ? mkdtempSync(join(tmpdir(), 'sheri-readme-tmux-')) : dir;
      if (tmux) dirs.push(here);
      // The tmux block starts its own swarm: nothing answers on a fresh port. Its tmux server is
      // the default one of a folder of its own (TMUX_TMPDIR), so it prints what the README shows.
      const where = tmux
        ? { SHERI_BROKER: `mqtt://127.0.0.1:${await freePort()}`, TMUX_TMPDIR: here }
        : env;
      const ids = new Map<string, string>();
      try {
        for (const step of block.steps) {
          const command = step.command.replace(ID, (id) => ids.get(id) ?? id);
          const scenario = Object.entries(SCENARIOS).find(([prefix]) =>
            command.startsWith(prefix),
          )?.[1];
          const result = scenario
            ? await scenario(command)
            : await shell(command, { cwd: here, env: where, timeoutMs: 90_000 });
          const { missing } = compare(step.expected, result.output, ids, Boolean(scenario));
          expect(
            { command, code: result.code, missing },
            `what it printed:\n${result.output}`,
          ).toEqual({ command, code: scenario ? result.code : 0, missing: [] });
        }
      } finally {
        if (tmux)
          spawnSync('tmux', ['kill-server'], { env: { ...process.env, TMUX_TMPDIR: here } });
      }
    });
  }
});
