import { describe, expect, it } from 'vitest';
import {
  MAX_COMMAND_LENGTH,
  parseCommand,
  unwrapCommand,
  type SimpleCommand,
} from '../../../src/tools/shell/command-parser.js';

function commands(input: string): SimpleCommand[] {
  const result = parseCommand(input);
  if (!result.ok) throw new Error(`refused ${JSON.stringify(input)}: ${result.reason}`);
  return result.commands;
}

function argvs(input: string): string[][] {
  return commands(input).map((command) => command.argv);
}

function refusal(input: string): string {
  const result = parseCommand(input);
  if (result.ok) throw new Error(`parsed ${JSON.stringify(input)}`);
  return result.reason;
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

describe('parseCommand refusals', () => {
  const refused: [string, string, RegExp][] = [
    ['an unbalanced single quote', "echo 'a", /single quote/],
    ['an unbalanced double quote', 'echo "a', /double quote/],
    ['a missing )', '(ls', /missing `\)`/],
    ['an extra )', 'ls)', /unexpected `\)`/],
    ['an unclosed $(', 'echo $(ls', /missing `\)`/],
    ['an unclosed backtick', 'echo `ls', /backtick/],
    ['an unclosed brace group', '{ ls; ', /unbalanced `\{`/],
    ['a } without {', 'ls; }', /unbalanced `\}`/],
    ['an unclosed if', 'if ls; then pwd', /missing `fi`/],
    ['a trailing &&', 'ls &&', /missing the command/],
    ['a leading ;', '; ls', /syntax error/],
    ['a heredoc', 'cat <<EOF\nhi\nEOF', /heredoc/],
    ['a heredoc with <<-', 'cat <<-EOF', /heredoc/],
    ['eval', 'eval "rm -rf /"', /eval/],
    ['exec', 'exec rm', /exec/],
    ['source', 'source ./x.sh', /source/],
    ['.', '. ./x.sh', /`\.`/],
    ['xargs', 'ls | xargs rm', /xargs/],
    ['sh -c', "sh -c 'rm -rf /'", /sh -c/],
    ['bash -c', 'bash -c "rm -rf /"', /bash -c/],
    ['bash -xc', 'bash -xc ls', /bash -c/],
    ['zsh -c', 'zsh -c ls', /zsh -c/],
    ['dash -c', 'dash -c ls', /dash -c/],
    ['ksh -c', 'ksh -c ls', /ksh -c/],
    ['/bin/bash -c', '/bin/bash -c ls', /bash -c/],
    ['a wrapped bash -c', 'nohup bash -c ls', /bash -c/],
    ['a wrapped eval', 'command eval ls', /eval/],
    ['env -S', "env -S 'rm -rf /'", /env -S/],
    ['env with an expanded command', 'env $CMD', /expansion/],
    ['env without a name after a wrapper', 'nohup', /runs no command/],
    ['timeout without a duration', 'timeout rm', /duration/],
    ['a command name from $VAR', '$CMD args', /expansion/],
    ['a command name from ${VAR}', '${CMD} args', /expansion/],
    ['a command name from backticks', '`x` args', /expansion/],
    ['a command name from $( )', '$(x) args', /expansion/],
    ['a command name from a glob', '/bin/r? -rf /', /expansion/],
    ['a command name from brace expansion', '{rm,-rf,/}', /expansion/],
    ['a NUL byte', 'ls\0; rm -rf /', /NUL/],
    ['an escape character', 'ls \x1b[2K', /hidden/],
    ['a carriage return', 'ls\rrm', /hidden/],
    ['a right-to-left override', 'echo "\u202e"', /hidden/],
    ['a zero-width space', 'ls\u200b', /hidden/],
    ['a fullwidth semicolon', 'ls；rm -rf /', /U\+FF1B/],
    ['a fullwidth ampersand', 'ls ＆ rm', /U\+FF06/],
    ['a fullwidth pipe', 'ls ｜ sh', /U\+FF5C/],
    ['a cyrillic letter in a quoted name', '"rм" -rf /', /printable ASCII/],
    ['an en dash outside quotes', 'rm –rf /', /U\+2013/],
    ['a no-break space', 'ls\u00a0-la', /U\+00A0/],
    ['input over the length limit', 'a'.repeat(MAX_COMMAND_LENGTH + 1), /limit/],
    ['arithmetic $(( ))', 'echo $((1+2))', /arithmetic/],
    ['arithmetic (( ))', '((x=1))', /arithmetic/],
    ['a for loop', 'for c in rm; do $c; done', /for/],
    ['case', 'case x in x) ls;; esac', /case/],
    ['a function definition', 'ls() { rm -rf /; }', /function/],
    ['[[', '[[ -f x ]]', /\[\[/],
    ['a nested ${ } expansion', 'echo ${x:-$(rm -rf /)}', /parameter expansion/],
    ['a subscript that bash evaluates', "test -v 'a[$(rm -rf /)]'", /subscript/],
    ['an array assignment', 'a[$(id)]=1', /array assignment/],
    ['a trailing backslash', 'ls \\', /backslash/],
    ['a redirect without a target', 'ls >', /no target/],
    ['export', 'export PATH=/tmp', /export/],
    ['trap', "trap 'rm -rf /' EXIT", /trap/],
    ['a decoded control character', "echo $'\\e[2K'", /hidden/],
  ];
  for (const [name, input, reason] of refused) {
    it(`refuses ${name}`, () => {
      expect(refusal(input)).toMatch(reason);
    });
  }

  it('refuses nesting deeper than the limit', () => {
    expect(refusal('echo $('.repeat(30) + 'ls' + ')'.repeat(30))).toMatch(/nesting/);
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
