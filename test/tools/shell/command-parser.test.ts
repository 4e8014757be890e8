import { describe, expect, it } from 'vitest';
import { parseCommand, type SimpleCommand } from '../../../src/tools/shell/command-parser.js';
import { POLICY_CASES } from './policy-cases.js';

function commands(input: string): SimpleCommand[] {
  const result = parseCommand(input);
  if (!result.ok) throw new Error(`refused ${JSON.stringify(input)}: ${result.reason}`);
  return result.commands;
}

function argvs(input: string): string[][] {
  return commands(input).map((command) => command.argv);
}

describe('parseCommand', () => {
  it('returns one command with its words', () => {
    expect(commands('ls -la src')).toEqual([
      {
        argv: ['ls', '-la', 'src'],
        argExpands: [false, false, false],
        assignments: [],
        redirects: [],
        hasExpansion: false,
        text: 'ls -la src',
      },
    ]);
  });

  it('returns nothing for blank input and comments', () => {
    expect(commands('  \n # just a comment')).toEqual([]);
  });

  it('splits on && || ; | |& & and newlines', () => {
    expect(argvs('a && b || c ; d | e |& f & g\nh')).toEqual([
      ['a'],
      ['b'],
      ['c'],
      ['d'],
      ['e'],
      ['f'],
      ['g'],
      ['h'],
    ]);
  });

  it('accepts a trailing ; or & and a newline after &&', () => {
    expect(argvs('a;')).toEqual([['a']]);
    expect(argvs('a &')).toEqual([['a']]);
    expect(argvs('a &&\n b')).toEqual([['a'], ['b']]);
  });

  it('stops a command at a comment', () => {
    expect(argvs('echo hi # ; rm -rf /')).toEqual([['echo', 'hi']]);
    expect(argvs('echo a#b')).toEqual([['echo', 'a#b']]);
  });

  it('reports commands inside subshells and brace groups', () => {
    expect(argvs('(a; b) && { c; d; }')).toEqual([['a'], ['b'], ['c'], ['d']]);
  });

  it('reports commands inside if and while bodies', () => {
    expect(argvs('if a; then b; elif c; then d; else e; fi')).toEqual([
      ['a'],
      ['b'],
      ['c'],
      ['d'],
      ['e'],
    ]);
    expect(argvs('while a; do b; done; until c; do d; done')).toEqual([['a'], ['b'], ['c'], ['d']]);
    expect(argvs('! a')).toEqual([['a']]);
  });

  it('treats reserved words after the command name as plain words', () => {
    expect(argvs('echo if then { }')).toEqual([['echo', 'if', 'then', '{', '}']]);
  });

  it('reports commands inside $( ), backticks and nested substitutions', () => {
    expect(argvs('echo $(a $(b)) `c`')).toEqual([
      ['b'],
      ['a', '$(b)'],
      ['c'],
      ['echo', '$(a $(b))', '`c`'],
    ]);
  });

  it('reports commands inside substitutions within double quotes', () => {
    expect(argvs('echo "x $(a) `b`"')).toEqual([['a'], ['b'], ['echo', 'x $(a) `b`']]);
  });

  it('unescapes nested backticks', () => {
    expect(argvs('echo `a \\`b\\``')).toEqual([['b'], ['a', '`b`'], ['echo', '`a \\`b\\``']]);
  });

  it('reports commands inside process substitution', () => {
    const parsed = commands('diff <(a) >(b)');
    expect(parsed.map((c) => c.argv)).toEqual([['a'], ['b'], ['diff', '<(a)', '>(b)']]);
    expect(parsed[2]?.argExpands).toEqual([false, true, true]);
  });

  it('splits operators written without spaces', () => {
    const parsed = commands('a&&b||c;d|e&>x&f');
    expect(parsed.map((c) => c.argv)).toEqual([['a'], ['b'], ['c'], ['d'], ['e'], ['f']]);
    expect(parsed[4]?.redirects).toEqual([{ op: '&>', target: 'x', targetExpands: false }]);
  });

  it('removes quotes: single literal, double with escapes, backslash', () => {
    expect(argvs(`'r''m' "r"m \\rm r\\m 'a b' "a\\"b" "\\x" 'a\\b'`)).toEqual([
      ['rm', 'rm', 'rm', 'rm', 'a b', 'a"b', '\\x', 'a\\b'],
    ]);
  });

  it("decodes $'…' quoting so escapes cannot hide a name", () => {
    expect(argvs("$'\\x72m' $'a\\tb' $'\\162'")).toEqual([['rm', 'a\tb', 'r']]);
  });

  it('keeps $VAR and ${VAR} literally and flags them', () => {
    const [command] = commands('echo $HOME ${USER} "$X" plain');
    expect(command?.argv).toEqual(['echo', '$HOME', '${USER}', '$X', 'plain']);
    expect(command?.argExpands).toEqual([false, true, true, true, false]);
    expect(command?.hasExpansion).toBe(true);
  });

  it('flags globs, braces and tildes but not quoted ones', () => {
    const [command] = commands(`ls *.ts a?b [ab] {a,b} ~/x '*' "~" ]`);
    expect(command?.argExpands).toEqual([false, true, true, true, true, true, false, false, false]);
  });

  it('collects leading assignments and keeps later ones as arguments', () => {
    const [command] = commands('A=1 B="two words" cmd C=3');
    expect(command?.assignments).toEqual(['A=1', 'B=two words']);
    expect(command?.argv).toEqual(['cmd', 'C=3']);
  });

  it('accepts a command of assignments only', () => {
    expect(commands('A=1')[0]).toMatchObject({ argv: [], assignments: ['A=1'] });
  });

  it('records redirects with their targets', () => {
    const [command] = commands(
      'cmd > a >> b < c 2> d &> e &>> f 2>&1 >| g <<< "h i" >&- 3<>j > "$X"',
    );
    expect(command?.argv).toEqual(['cmd']);
    expect(command?.redirects).toEqual([
      { op: '>', target: 'a', targetExpands: false },
      { op: '>>', target: 'b', targetExpands: false },
      { op: '<', target: 'c', targetExpands: false },
      { op: '2>', target: 'd', targetExpands: false },
      { op: '&>', target: 'e', targetExpands: false },
      { op: '&>>', target: 'f', targetExpands: false },
      { op: '2>&', target: '1', targetExpands: false },
      { op: '>|', target: 'g', targetExpands: false },
      { op: '<<<', target: 'h i', targetExpands: false },
      { op: '>&', target: '-', targetExpands: false },
      { op: '3<>', target: 'j', targetExpands: false },
      { op: '>', target: '$X', targetExpands: true },
    ]);
  });

  it('accepts a redirect before the command name', () => {
    expect(commands('> out echo hi')[0]).toMatchObject({
      argv: ['echo', 'hi'],
      redirects: [{ op: '>', target: 'out' }],
    });
  });

  it('does not take digits inside a word as a descriptor', () => {
    expect(commands('echo a2>x')[0]).toMatchObject({
      argv: ['echo', 'a2'],
      redirects: [{ op: '>', target: 'x' }],
    });
  });

  it('applies a group redirect to every command in the group', () => {
    const parsed = commands('(a; b) > out; { c; } 2>> err; d');
    expect(parsed.map((c) => c.redirects.map((r) => r.target))).toEqual([
      ['out'],
      ['out'],
      ['err'],
      [],
    ]);
  });

  it('joins line continuations', () => {
    expect(argvs('echo a \\\n b')).toEqual([['echo', 'a', 'b']]);
  });

  it('accepts non-ASCII text inside quotes', () => {
    expect(argvs('echo "héllo；" \'Zoë\'')).toEqual([['echo', 'héllo；', 'Zoë']]);
  });
});

describe('parseCommand: bash grammar', () => {
  it('takes the time keyword and its -p and -- off the pipeline it times', () => {
    expect(argvs('time -p -- ls -l | wc')).toEqual([['ls', '-l'], ['wc']]);
    expect(argvs('! time ls')).toEqual([['ls']]);
  });

  it('keeps time as a command name after a pipe, quoted, or after an assignment', () => {
    expect(argvs('a | time b')).toEqual([['a'], ['time', 'b']]);
    expect(argvs("'time' b; A=1 time c")).toEqual([
      ['time', 'b'],
      ['time', 'c'],
    ]);
  });

  it('reads process substitution inside a word as part of it', () => {
    const parsed = commands('echo a<(b)c 2>(d)');
    expect(parsed.map((c) => c.argv)).toEqual([['b'], ['d'], ['echo', 'a<(b)c', '2>(d)']]);
    expect(parsed[2]).toMatchObject({ argExpands: [false, true, true], redirects: [] });
  });

  it("finds the end of $'…' as bash does, a backslash hiding the next character", () => {
    expect(argvs("echo $'\\c' x; y")).toEqual([['echo', '\\c', 'x'], ['y']]);
    expect(argvs("echo $'a\\'b' ; id")).toEqual([['echo', "a'b"], ['id']]);
    expect(argvs("echo $'\\u0041\\x4a\\q'")).toEqual([['echo', 'AJ\\q']]);
  });

  it('marks a tilde after = or : in an assignment-shaped argument as expanding', () => {
    expect(commands('echo a=~/x b=c:~ --c=~/x')[0]?.argExpands).toEqual([false, true, true, false]);
  });

  it('takes a line continuation inside an assignment as joined', () => {
    expect(commands('A\\\n=1 ls')[0]).toMatchObject({ assignments: ['A=1'], argv: ['ls'] });
  });

  it('accepts the ${…} forms that only read a variable', () => {
    const [command] = commands('echo ${x} ${#x} ${x:-a b} ${x#*/} ${x/a/b} ${x:1:2} ${a[0]} ${@}');
    expect(command?.argExpands.slice(1).every(Boolean)).toBe(true);
  });

  it('reads a comment only at the start of a word', () => {
    expect(argvs('echo a#b; echo c #d\\\nid')).toEqual([['echo', 'a#b'], ['echo', 'c'], ['id']]);
  });
});

describe('parseCommand refusals', () => {
  for (const { name, input, expected } of POLICY_CASES.filter((c) => c.refusedBy === 'grammar')) {
    it(name, () => {
      const result = parseCommand(input);
      expect(result.ok).toBe(false);
      if (!result.ok && expected.reason !== undefined)
        expect(result.reason).toMatch(expected.reason);
    });
  }

  it('leaves the refusals of what is parsed to the command rules', () => {
    for (const { input } of POLICY_CASES.filter((c) => c.refusedBy === 'command-rules')) {
      expect(parseCommand(input).ok, input).toBe(true);
    }
  });
});
