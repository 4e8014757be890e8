import { describe, expect, it } from 'vitest';
import { parseCommand, type SimpleCommand } from '../../../src/tools/shell/command-parser.js';
import { resolveCommand, unwrapCommand } from '../../../src/tools/shell/command-rules.js';
import { POLICY_CASES } from './policy-cases.js';

function parsed(input: string): SimpleCommand[] {
  const result = parseCommand(input);
  if (!result.ok) throw new Error(`refused ${JSON.stringify(input)}: ${result.reason}`);
  return result.commands;
}

describe('resolveCommand refusals', () => {
  for (const { name, input, expected } of POLICY_CASES.filter(
    (c) => c.refusedBy === 'command-rules',
  )) {
    it(name, () => {
      const reasons = parsed(input).flatMap((command) => {
        const result = resolveCommand(command);
        return result.ok ? [] : [result.reason];
      });
      expect(reasons.length).toBeGreaterThan(0);
      if (expected.reason !== undefined) expect(reasons.join('; ')).toMatch(expected.reason);
    });
  }
});

describe('resolveCommand', () => {
  it('gives the words of the command behind its wrappers, with env assignments', () => {
    const [command] = parsed('A=1 nohup env B=2 timeout 5 ls "$X"');
    expect(resolveCommand(command!)).toEqual({
      ok: true,
      command: {
        words: ['ls', '$X'],
        expands: [false, true],
        assignments: ['A=1', 'B=2'],
        wrappers: ['nohup', 'env', 'timeout'],
      },
    });
  });

  it('resolves a command of assignments and redirects to no words', () => {
    const [command] = parsed('A=1 > out.txt');
    expect(resolveCommand(command!)).toMatchObject({
      ok: true,
      command: { words: [], assignments: ['A=1'] },
    });
  });

  it('lets set change only errexit, nounset, xtrace, verbose, pipefail and noclobber', () => {
    const ok = (input: string): boolean => resolveCommand(parsed(input)[0]!).ok;
    expect(ok('set -euo pipefail')).toBe(true);
    expect(ok('set +x -o errexit')).toBe(true);
    expect(ok('set')).toBe(true);
    expect(ok('set -B')).toBe(false);
    expect(ok('set -o posix')).toBe(false);
    expect(ok('set -- a b')).toBe(false);
  });

  it('refuses wait -p naming a variable through an expansion, not wait on a pid', () => {
    expect(resolveCommand(parsed('wait $!')[0]!).ok).toBe(true);
    expect(resolveCommand(parsed('wait -n -p $v')[0]!).ok).toBe(false);
  });
});

describe('unwrapCommand', () => {
  it('finds the command behind wrappers', () => {
    expect(unwrapCommand(['nohup', 'timeout', '-s', 'KILL', '5', 'nice', '-n', '5', 'ls'])).toEqual(
      {
        ok: true,
        start: 8,
        assignments: [],
        wrappers: ['nohup', 'timeout', 'nice'],
      },
    );
  });

  it('collects the assignments env makes', () => {
    expect(unwrapCommand(['env', '-i', '-u', 'X', 'A=1', 'B=2', 'ls'])).toEqual({
      ok: true,
      start: 6,
      assignments: ['A=1', 'B=2'],
      wrappers: ['env'],
    });
  });

  it('leaves env alone when it runs nothing', () => {
    expect(unwrapCommand(['env'])).toMatchObject({ ok: true, start: 0 });
  });

  it('does not unwrap a script named like a wrapper', () => {
    expect(unwrapCommand(['./env', 'rm'])).toMatchObject({ ok: true, start: 0 });
  });

  it('unwraps command -p, builtin and time -p', () => {
    expect(unwrapCommand(['command', '-p', 'builtin', 'time', '-p', 'ls'])).toMatchObject({
      ok: true,
      start: 5,
    });
  });
});
