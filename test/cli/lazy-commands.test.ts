import { cpSync, readFileSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { SHERI_BIN } from '../helpers/sheri-process.js';
import { withoutLlmSettings } from '../helpers/tools.js';
import { tempDirs } from '../helpers/temp-dir.js';

const RECORDER = fileURLToPath(new URL('../fixtures/record-modules.mjs', import.meta.url));
const DIST = join(SHERI_BIN, '..', '..');
/**
 * tsc's build of the CLI, module by module (scripts/bundle.mjs keeps it beside the bundle): where
 * what a command loads can be told file by file. The bundle splits at the same lazy imports.
 */
const MODULES_BIN = join(DIST, 'bin', 'sheri-modules.js');

/**
 * What building the program may load (issue 10): commander, the command definitions and the few
 * light modules their help text is made of. A command's implementation, zod, mqtt, pino or SQLite
 * here means --help pays for what it does not run.
 */
const LIGHT = [
  /^bin\/sheri-modules\.js$/,
  /^src\/errors\.js$/,
  /^src\/cli\/(program|command-line|failure|suggest)\.js$/,
  /^src\/cli\/commands\/[a-z-]+\.js$/,
  /^src\/config\/defaults\.js$/,
  /^src\/protocol\/(task-types|kinds|limits)\.js$/,
  /^src\/llm\/llm-defaults\.js$/,
  /^src\/tmux\/layout\.js$/,
  /^src\/util\/text\.js$/, // visible(): what bin/sheri.ts prints a failure through
];

const tempDir = tempDirs('sheri-lazy-');

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a build of the CLI (`bin`) to completion. */
function runBin(bin: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...withoutLlmSettings(process.env), ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

interface Loaded {
  result: RunResult;
  /** sheri's own modules, relative to dist/ */
  own: string[];
  /** the packages of node_modules that were loaded */
  packages: string[];
}

/** Run the CLI with the loader recording every module it loads. */
async function runRecorded(args: string[], bin = MODULES_BIN): Promise<Loaded> {
  const log = join(tempDir(), 'modules.log');
  const result = await runBin(bin, args, {
    NODE_OPTIONS: `--import ${RECORDER}`,
    SHERI_RECORD_MODULES: log,
  });
  const urls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  const root = new URL(`file://${join(bin, '..', '..')}/`).href;
  const own = urls
    .filter((url) => url.startsWith(root) && !url.includes('/node_modules/'))
    .map((url) => url.slice(root.length));
  const packages = [
    ...new Set(
      urls
        .map((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1])
        .filter((name): name is string => name !== undefined),
    ),
  ].sort();
  return { result, own, packages };
}

function heavy(own: string[]): string[] {
  return own.filter((path) => !LIGHT.some((pattern) => pattern.test(path)));
}

describe('building the program imports no command implementation', () => {
  it.each([
    ['sheri --help', ['--help'], 0],
    ['sheri agent --help', ['agent', '--help'], 0],
    ['sheri task submit --help', ['task', 'submit', '--help'], 0],
    ['sheri help up', ['help', 'up'], 0],
    ['sheri --version', ['--version'], 0],
    ['a mistyped command (sheri agnet)', ['agnet'], 2],
    ['an unknown option (sheri hub --lejer x)', ['hub', '--lejer', 'x'], 2],
  ])('%s loads only commander and the definitions', async (_what, args, code) => {
    const { result, own, packages } = await runRecorded(args);
    expect(result.code, result.stderr).toBe(code);
    expect(own).toContain('src/cli/program.js');
    expect(heavy(own)).toEqual([]);
    expect(packages).toEqual(['commander']);
  });

  // The control: the recorder sees what a command that runs loads, so the checks above can fail.
  it('records the implementation, zod and the rest once a command runs (sheri types)', async () => {
    const { result, own, packages } = await runRecorded(['types', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(heavy(own)).toContain('src/cli/task-types.js');
    expect(heavy(own)).toContain('src/config/load.js');
    expect(packages).toContain('zod');
  });
});

describe('the bundle (dist/bin/sheri.js)', () => {
  /** The bundle's files a run loaded, their bytes together, and whether one holds zod. */
  async function bundleLoad(args: string[]) {
    const { result, own, packages } = await runRecorded(args, SHERI_BIN);
    const files = own.filter((path) => path.startsWith('src/bundle/'));
    const bytes = files.reduce((sum, path) => sum + statSync(join(DIST, path)).size, 0);
    const zod = files.some((path) => readFileSync(join(DIST, path), 'utf8').includes('ZodError'));
    return { result, own, packages, files, bytes, zod };
  }

  it('loads for --help a few chunks, no zod and no package from node_modules', async () => {
    const help = await bundleLoad(['--help']);
    expect(help.result.code, help.result.stderr).toBe(0);
    expect(help.own.filter((path) => !path.startsWith('src/bundle/'))).toEqual(['bin/sheri.js']);
    expect(help.zod).toBe(false);
    expect(help.packages).toEqual([]);
    expect(help.bytes).toBeLessThan(200_000);
  });

  // The control: a command that runs loads its chunks, zod's among them.
  it('loads the chunks of a command once it runs (sheri types), zod among them', async () => {
    const types = await bundleLoad(['types', '--json']);
    expect(types.result.code, types.result.stderr).toBe(0);
    expect(types.zod).toBe(true);
    expect(types.files.length).toBeGreaterThan(3);
  });
});

describe('a command module that is missing', () => {
  /** A copy of dist/ (with the package's package.json and node_modules) without one file. */
  function distWithout(file: string): string {
    const root = tempDir();
    cpSync(DIST, join(root, 'dist'), { recursive: true });
    cpSync(join(DIST, '..', 'package.json'), join(root, 'package.json'));
    symlinkSync(join(DIST, '..', 'node_modules'), join(root, 'node_modules'));
    unlinkSync(join(root, 'dist', file));
    return join(root, 'dist', 'bin', 'sheri-modules.js');
  }

  it('breaks only its command, with one line and exit 70, while --help and other commands work', async () => {
    const bin = distWithout('src/cli/trace.js');
    const help = await runBin(bin, ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('trace');
    const types = await runRecorded(['types', '--json'], bin);
    expect(types.result.code, types.result.stderr).toBe(0);
    const trace = await runRecorded(['trace'], bin);
    expect(trace.result.code).toBe(70);
    expect(trace.result.stderr).toMatch(/^sheri: unexpected error: Cannot find module .*trace\.js/);
    expect(trace.result.stderr.trim().split('\n')).toHaveLength(1);
  });
});
