import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCommand, type SimpleCommand } from '../../../src/tools/shell/command-parser.js';
import {
  BashRecorder,
  unaccounted,
  unaccountedFiles,
  type Observed,
  type Recorded,
} from '../../helpers/bash-recorder.js';
import { requireTool } from '../../helpers/tools.js';
import { POLICY_CASES, WORKSPACE } from './policy-cases.js';

const HAS_TOOLS = requireTool('bwrap') && requireTool('bash');
/** More with SHERI_PROPERTY_RUNS=5000 when hunting; SHERI_PROPERTY_SEED replays a printed seed. */
const PROPERTY_RUNS = Number(process.env.SHERI_PROPERTY_RUNS ?? 500);

interface Disagreement {
  input: string;
  parsed: string[][];
  /** Argv bash executed that no parsed command accounts for. */
  unaccounted: Recorded;
  /** Files bash created that no parsed redirect accounts for. */
  files: string[];
}

function disagreements(
  inputs: readonly string[],
  parsed: readonly SimpleCommand[][],
  observed: readonly Observed[],
): Disagreement[] {
  return inputs.flatMap((input, i) => {
    const commands = parsed[i] ?? [];
    const seen = observed[i] ?? { argvs: [], files: [] };
    const argvs = unaccounted(seen.argvs, commands);
    const files = unaccountedFiles(seen.files, commands, WORKSPACE);
    return argvs.length === 0 && files.length === 0
      ? []
      : [{ input, parsed: commands.map((command) => command.argv), unaccounted: argvs, files }];
  });
}

function describeAll(found: readonly Disagreement[]): string {
  return found
    .map(
      (d) =>
        `${JSON.stringify(d.input)}\n  parser: ${JSON.stringify(d.parsed)}\n  bash ran: ${JSON.stringify(d.unaccounted)}\n  bash created: ${JSON.stringify(d.files)}`,
    )
    .join('\n');
}

// A small grammar of the shell: words glued from plain, quoted and expanding pieces, commands
// with assignments and redirects, joined by operators, nested in groups and substitutions.
const plain = fc.constantFrom(
  'a',
  'b',
  'ab',
  'x1',
  '-p',
  '--',
  '=',
  'a=b',
  '%',
  '@',
  ':',
  ',',
  '2',
  '10',
  '!',
  'a#',
  '$',
  '^',
  ']',
  '+',
);
const quoted = fc.constantFrom(
  "'a b'",
  "'$x'",
  '"a b"',
  '"$x"',
  '"${x}"',
  '"a\\"b"',
  '"\\$x"',
  '"\\\\"',
  "$'\\x61'",
  "$'\\''",
  "$'\\c'",
  "$'\\101\\u0062'",
  "$'a\\nb'",
  '\\ ',
  '\\a',
  '\\$x',
  '\\#',
  '\\;',
  "''",
  '""',
  "'\\'",
  '"`a`"',
  '"a\\`b"',
  "'`'",
  '\\`',
  '\\"',
  "\\'",
  '"\\\n"',
  "$'\\u41'",
  "$'\\x41g'",
  "$'\\1012'",
  "$'\\u00411'",
  "$'\\\\'",
  "$'\\\"'",
  "$'\\?'",
  "$'#'",
  '"#"',
  '"$"',
  '"a$"',
);
const expanding = fc.constantFrom(
  '$x',
  '${x}',
  '${x:-a b}',
  '${#x}',
  '$1',
  '$@',
  '"$@"',
  '$*',
  '$?',
  '~',
  '~/a',
  'a=~/b',
  '*',
  '?',
  '[ab]',
  '{a,b}',
  '{1..2}',
  '$HOME',
  '${x#a}',
  '${x/a/b}',
  '${x%%*}',
  '${@:1}',
  '$$',
  '$#',
  '$-',
  '$_',
  '$10',
  '~+',
  'b:~',
  '[!a]',
  '{a}',
  '{,a}',
  '*.ts',
  'src/*',
  '.*',
  'a"*"',
  '"a"*',
  'a[b"]"',
  '\\*',
  '[a',
  '{a,"b"}',
  '{a\\,b}',
  '~"x"',
  '\\~',
  'x="~"',
  '`a \\`b\\``',
  '"`a \\"b\\"`"',
  '$(a #c\n)',
  '`a #c`',
  '"\\`a\\`"',
  "`a $'\\\\''`",
  '$(a\\\n)',
);
const reserved = fc.constantFrom('if', 'then', 'else', 'fi', 'do', 'done', '{', '}', '!', 'time');
const glue = fc.constantFrom('', '\\\n');
const redirect = fc.constantFrom(
  ' >\\\nf',
  ' >&\\\n2',
  ' >f',
  ' 2>&1',
  ' &>f',
  ' <<<w',
  ' >|f',
  ' <f',
  '2>f',
  ' >>f',
  ' <>f',
  ' >&2',
  '>f',
);
const assignment = fc.constantFrom('A=1 ', 'B=$x ', 'C="a b" ', 'D=~/x ', 'E= ');
const operator = fc.constantFrom(
  '\\\n;',
  ';\\\n',
  ' ; ',
  ';',
  ' && ',
  '||',
  ' | ',
  '|&',
  ' & ',
  '\n',
  ' \\\n| ',
);

function wordOf(pieces: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.array(pieces, { minLength: 1, maxLength: 3 }).map((parts) => parts.join(''));
}

function commandOf(words: fc.Arbitrary<string>, stray: boolean): fc.Arbitrary<string> {
  return fc
    .tuple(
      fc.option(assignment, { freq: 4 }),
      stray
        ? fc.option(
            reserved.map((r) => `${r} `),
            { freq: 10 },
          )
        : fc.constant(null),
      fc.array(words, { minLength: 1, maxLength: 4 }),
      fc.option(redirect, { freq: 3 }),
    )
    .map(
      ([assign, kw, list, redir]) => `${assign ?? ''}${kw ?? ''}${list.join(' ')}${redir ?? ''}`,
    );
}

function lineOf(commands: fc.Arbitrary<string>, maxLength: number): fc.Arbitrary<string> {
  return fc
    .array(fc.tuple(commands, operator), { minLength: 1, maxLength })
    .map((parts) =>
      parts.map(([command, op], i) => (i < parts.length - 1 ? command + op : command)).join(''),
    );
}

const simplePiece = fc.oneof(
  { weight: 4, arbitrary: plain },
  { weight: 3, arbitrary: quoted },
  { weight: 3, arbitrary: expanding },
  { weight: 1, arbitrary: glue },
);
const innerCommand = commandOf(wordOf(simplePiece), false);
const innerLine = lineOf(innerCommand, 2);
const piece = fc.oneof(
  { weight: 8, arbitrary: simplePiece },
  { weight: 1, arbitrary: innerLine.map((line) => `$(${line})`) },
  { weight: 1, arbitrary: innerCommand.map((command) => `"$(${command})"`) },
  { weight: 1, arbitrary: innerCommand.map((command) => `\`${command}\``) },
  { weight: 1, arbitrary: innerCommand.map((command) => `"\`${command}\`"`) },
  { weight: 1, arbitrary: innerCommand.map((command) => `<(${command})`) },
);
const command = commandOf(wordOf(piece), true);
const compound = fc.oneof(
  { weight: 6, arbitrary: command },
  { weight: 1, arbitrary: command.map((c) => `( ${c} )`) },
  { weight: 1, arbitrary: command.map((c) => `{ ${c}; }`) },
  { weight: 1, arbitrary: command.map((c) => `! ${c}`) },
  { weight: 1, arbitrary: command.map((c) => `time -p ${c}`) },
  { weight: 1, arbitrary: fc.tuple(command, command).map(([a, b]) => `if ${a}; then ${b}; fi`) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(command, command, command)
      .map(([a, b, c]) => `if ${a}; then ${b}; else ${c}; fi`),
  },
  { weight: 1, arbitrary: fc.tuple(command, command).map(([a, b]) => `while ${a}; do ${b}; done`) },
);
/** A command line of the grammar, with now and then a comment at its end. */
const commandLine: fc.Arbitrary<string> = fc
  .tuple(
    lineOf(compound, 3),
    fc.option(fc.constantFrom(' #c', '#c', ' # ; z', ' #c\nz'), { freq: 5 }),
  )
  .map(([line, comment]) => line + (comment ?? ''));

describe.skipIf(!HAS_TOOLS)('the parser and bash agree on what runs', () => {
  let recorder: BashRecorder;

  beforeAll(() => {
    recorder = BashRecorder.create();
  });

  afterAll(() => {
    recorder.close();
  });

  it('notices an argv bash runs that the parser did not report', async () => {
    const [observed] = await recorder.run(["echo $'\\x72m' x > f"], WORKSPACE);
    const wrong: SimpleCommand = {
      argv: ['echo', "$'\\x72m'", 'x'],
      argExpands: [false, false, false],
      assignments: [],
      redirects: [],
      hasExpansion: false,
      text: '',
    };
    expect(observed).toEqual({ argvs: [['echo', 'rm', 'x']], files: [`${WORKSPACE}/f`] });
    expect(unaccounted(observed?.argvs ?? [], [wrong])).toEqual([['echo', 'rm', 'x']]);
    expect(unaccountedFiles(observed?.files ?? [], [wrong], WORKSPACE)).toEqual([`${WORKSPACE}/f`]);
  });

  it('runs builtins, both sides of && and ||, and substitutions through the recorder', async () => {
    const [observed] = await recorder.run(['cd x && a $(b) || c'], WORKSPACE);
    const seen = new Set((observed?.argvs ?? []).map((argv) => argv.join(' ')));
    expect([...seen].sort()).toEqual(['a', 'b', 'c', 'cd x']);
  });

  it('accounts for every argv bash executes in the command cases the parser accepts', async () => {
    const accepted = POLICY_CASES.flatMap((policyCase) => {
      const result = parseCommand(policyCase.input);
      return result.ok ? [{ input: policyCase.input, commands: result.commands }] : [];
    });
    const observed = await recorder.run(
      accepted.map((a) => a.input),
      WORKSPACE,
    );
    const found = disagreements(
      accepted.map((a) => a.input),
      accepted.map((a) => a.commands),
      observed,
    );
    const records = observed.reduce((sum, seen) => sum + seen.argvs.length, 0);
    const files = observed.reduce((sum, seen) => sum + seen.files.length, 0);
    console.info(
      `parser/shell agreement: ${POLICY_CASES.length} cases, ${accepted.length} accepted and run, ${records} argv recorded, ${files} files created, ${found.length} disagreements`,
    );
    expect(accepted.length).toBeGreaterThanOrEqual(150);
    expect(records).toBeGreaterThan(accepted.length);
    expect(found, describeAll(found)).toEqual([]);
  });

  it('agrees on random command lines from a small shell grammar', async () => {
    // The lines fast-check will try first are run in one sandbox up front; lines it makes while
    // shrinking a counterexample run one by one.
    const seed = process.env.SHERI_PROPERTY_SEED
      ? Number(process.env.SHERI_PROPERTY_SEED)
      : Date.now() | 0;
    const cache = new Map<string, Observed>();
    const first = fc
      .sample(commandLine, { seed, numRuns: PROPERTY_RUNS })
      .filter((line) => parseCommand(line).ok);
    (await recorder.run(first, WORKSPACE)).forEach((observed, i) =>
      cache.set(first[i] ?? '', observed),
    );
    let accepted = 0;
    let misses = 0;
    await fc.assert(
      fc.asyncProperty(commandLine, async (line) => {
        const result = parseCommand(line);
        if (!result.ok) return;
        accepted++;
        if (!cache.has(line)) misses++;
        const observed = cache.get(line) ?? (await recorder.run([line], WORKSPACE))[0];
        const found = disagreements([line], [result.commands], observed ? [observed] : []);
        expect(found, describeAll(found)).toEqual([]);
      }),
      { seed, numRuns: PROPERTY_RUNS },
    );
    console.info(
      `parser/shell property: ${PROPERTY_RUNS} lines (seed ${seed}), ${first.length} accepted and run, misses ${misses}`,
    );
    expect(accepted).toBeGreaterThan(PROPERTY_RUNS / 3);
  });
});
