import { writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { prepareCommands } from '../../src/cli/command-line.js';
import { EXIT, SheriError } from '../../src/errors.js';
import { runSheri } from '../helpers/sheri-process.js';
import { tempDirs } from '../helpers/temp-dir.js';

/** A folder of its own, so that nothing a command leaves behind goes unseen. */
const tempDir = tempDirs('sheri-errors-');

/** One line on stderr, from sheri, with no stack trace and nothing on stdout. */
function expectOneLine(result: { stdout: string; stderr: string }): string {
  expect(result.stdout).toBe('');
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^sheri: /);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  return lines[0]!;
}

describe('trip-up 2: a mistake on the command line exits 2 (usage), never 1 (task dead)', () => {
  it.each([
    [
      'up --agnets',
      ['up', '--agnets', 'testing'],
      /unknown option --agnets for sheri up — did you mean --agents\?/,
    ],
    [
      'tasks --jsno',
      ['tasks', '--jsno'],
      /unknown option --jsno for sheri tasks — did you mean --json\?/,
    ],
    [
      'task sumbit',
      ['task', 'sumbit'],
      /unknown command "sumbit" for sheri task — did you mean submit\?/,
    ],
    [
      'task submit without --type',
      ['task', 'submit', '--command', 'true'],
      /sheri task submit needs --type <type>/,
    ],
    ['deny without an id', ['deny'], /sheri deny needs its <approval-id> argument/],
    ['agents with an extra word', ['agents', 'all'], /sheri agents takes no arguments, got "all"/],
    ['task alone', ['task'], /sheri task needs a command: submit, show/],
  ])('%s: one line saying what is wrong and where the help is', async (_what, args, said) => {
    const result = await runSheri(args, { cwd: tempDir() });
    expect(result.code).toBe(EXIT.usage);
    const line = expectOneLine(result);
    expect(line).toMatch(said);
    expect(line).toMatch(/\(sheri [a-z ]+--help/);
  });

  it('does not let a script using --wait read a misspelt flag as a dead task', async () => {
    const result = await runSheri(
      ['task', 'submit', '--type', 'testing.run', '--command', 'true', '--wiat'],
      { cwd: tempDir() },
    );
    expect(result.code).toBe(EXIT.usage);
    expect(expectOneLine(result)).toContain('did you mean --wait?');
  });
});

describe('trip-up 3: an unknown command says so and suggests the nearest', () => {
  it('says "unknown command" for a word that is no command, and where the list is', async () => {
    const result = await runSheri(['frobnicate'], { cwd: tempDir() });
    expect(result.code).toBe(EXIT.usage);
    expect(expectOneLine(result)).toBe(
      'sheri: unknown command "frobnicate" (sheri --help lists the commands)',
    );
  });

  it('suggests agents for agnets', async () => {
    const result = await runSheri(['agnets'], { cwd: tempDir() });
    expect(result.code).toBe(EXIT.usage);
    expect(expectOneLine(result)).toContain('unknown command "agnets" — did you mean agents?');
  });

  it('answers sheri help and sheri help up with the help, exit 0', async () => {
    const all = await runSheri(['help'], { cwd: tempDir() });
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/^Usage: sheri \[options\] \[command\]/);
    const up = await runSheri(['help', 'up'], { cwd: tempDir() });
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(/^Usage: sheri up \[options\]/);
    const nested = await runSheri(['help', 'task', 'submit'], { cwd: tempDir() });
    expect(nested.stdout).toMatch(/^Usage: sheri task submit \[options\]/);
  });

  it('says sheri help of an unknown command is unknown, with a suggestion', async () => {
    const result = await runSheri(['help', 'agnets'], { cwd: tempDir() });
    expect(result.code).toBe(EXIT.usage);
    expect(expectOneLine(result)).toContain('unknown command "agnets" — did you mean agents?');
  });

  it('suggests a command added to the program later, since the list is the program’s own', async () => {
    const program = new Command('sheri').exitOverride();
    program
      .command('flow')
      .description('a command of tomorrow')
      .action(() => undefined);
    program.command('flow-status').action(() => undefined);
    prepareCommands(program);
    const error = await program.parseAsync(['node', 'sheri', 'flwo']).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(SheriError);
    expect((error as SheriError).exitCode).toBe(EXIT.usage);
    expect((error as SheriError).message).toContain('unknown command "flwo" — did you mean flow?');
  });
});

describe('trip-up 8 (arguments): checked before anything starts, with the documented code', () => {
  it.each([['99999'], ['-1'], ['http']])(
    'refuses --port %s with exit 2 and creates nothing',
    async (port) => {
      const dir = tempDir();
      const result = await runSheri(['up', '--port', port], { cwd: dir, timeoutMs: 20_000 });
      expect(result.timedOut).toBe(false);
      expect(result.code).toBe(EXIT.usage);
      expect(expectOneLine(result)).toContain(
        `--port must be a TCP port from 0 to 65535 (0: any free port), got "${port}"`,
      );
      expect(existsSync(join(dir, '.sheri'))).toBe(false);
    },
  );

  it('refuses sheri --role testing without --mqtt (exit 2) rather than printing help and exit 0', async () => {
    const result = await runSheri(['--role', 'testing'], { cwd: tempDir() });
    expect(result.code).toBe(EXIT.usage);
    expect(expectOneLine(result)).toBe(
      'sheri: "sheri --role testing" starts nothing without --mqtt: run an agent with sheri --mqtt --role testing (the original form) or sheri agent --role testing',
    );
  });

  it('does not crash with EPIPE when the reader of its output has gone (sheri types | head -0)', async () => {
    const result = await runSheri(['types'], { cwd: tempDir(), closeStdout: true });
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
  });

  it('says an unusable --data-dir in one line, exit 5, and gives the stack only with --log-level debug', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a-file'), 'not a folder');
    const args = ['up', '--port', '0', '--data-dir', join(dir, 'a-file', 'state')];
    const plain = await runSheri(args, { cwd: dir, timeoutMs: 20_000 });
    expect(plain.code).toBe(EXIT.dataDir);
    expect(expectOneLine(plain)).toMatch(
      /^sheri: cannot use the data directory .*a-file\/state: .* choose another with --data-dir <dir>$/,
    );
    const debug = await runSheri([...args, '--log-level', 'debug'], {
      cwd: dir,
      timeoutMs: 20_000,
    });
    expect(debug.code).toBe(EXIT.dataDir);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });
});
