import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { describeFailure, wantsDetail } from '../../src/cli/failure.js';
import { suggestNearest } from '../../src/cli/suggest.js';
import { EXIT, SheriError } from '../../src/errors.js';

describe('describeFailure', () => {
  it('says a bug in one line, exit 70, without its stack unless --log-level debug', () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'x')\n  more");
    const plain = describeFailure(bug, false);
    expect(plain.exitCode).toBe(EXIT.internal);
    expect(plain.text).toBe(
      "sheri: unexpected error: Cannot read properties of undefined (reading 'x') more — run it again with --log-level debug for the stack trace, and please report it\n",
    );
    const detailed = describeFailure(bug, true);
    expect(detailed.text).toMatch(/^sheri: unexpected error: .*\nTypeError: .*\n\s+at /s);
  });

  it('prints a SheriError as its own line and exit code, and its cause only on demand', () => {
    const error = new SheriError('cannot use the data directory /x: full', EXIT.dataDir, {
      cause: new Error('ENOSPC'),
    });
    expect(describeFailure(error, false)).toEqual({
      text: 'sheri: cannot use the data directory /x: full\n',
      exitCode: EXIT.dataDir,
    });
    expect(describeFailure(error, true).text).toMatch(/\nError: ENOSPC\n\s+at /);
  });

  it('ends --help and --version with exit 0 and nothing more to say', () => {
    expect(
      describeFailure(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'), false),
    ).toEqual({
      text: '',
      exitCode: 0,
    });
  });

  it('knows --log-level debug and trace, in both spellings', () => {
    expect(wantsDetail(['node', 'sheri', 'up', '--log-level', 'debug'])).toBe(true);
    expect(wantsDetail(['node', 'sheri', 'up', '--log-level=trace'])).toBe(true);
    expect(wantsDetail(['node', 'sheri', 'up', '--log-level', 'info'])).toBe(false);
  });
});

describe('suggestNearest', () => {
  it('finds a transposition, a missing letter and a wrong one, and nothing for a far word', () => {
    const commands = ['agents', 'approve', 'approvals', 'tasks', 'task', 'up', 'trace'];
    expect(suggestNearest('agnets', commands)).toEqual(['agents']);
    expect(suggestNearest('aproove', commands)).toEqual(['approve']);
    expect(suggestNearest('trase', commands)).toEqual(['trace']);
    expect(suggestNearest('frobnicate', commands)).toEqual([]);
  });
});
