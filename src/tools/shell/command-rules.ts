/**
 * Refusals that hold whatever a role allows (SPEC §5): commands whose effect cannot be judged by
 * their words. A builtin that runs a string (`eval`, `trap`, `sh -c`) or changes what later
 * names and lines mean (`alias`, `enable`, `shopt`), a command name that comes from an expansion,
 * and builtins whose variable-name arguments bash evaluates (`test -v 'a[$(id)]'`). Wrappers
 * (`command`, `nohup`, `timeout N`, `env A=1`, …) are unwrapped so the command they run is judged.
 * Pure; policy.ts applies it to every simple command the parser reports.
 */
import { codePoint, type SimpleCommand } from './command-parser.js';

/** Builtins and tools that run a string, or change what later names mean, which no policy can see. */
const REFUSED_COMMANDS: Record<string, string> = {
  eval: 'runs a string as a script',
  exec: 'replaces the shell and can open descriptors',
  source: 'runs a script file',
  '.': 'runs a script file',
  xargs: 'runs commands built from its input',
  trap: 'runs a string as a script on a signal',
  alias: 'changes what later command names mean',
  hash: 'changes which file a command name runs',
  enable: 'loads or changes builtins',
  shopt: 'changes how later lines are parsed and expanded (extglob, expand_aliases, …)',
  bind: 'binds keys to commands',
  fc: 'runs commands from history',
  compgen: 'can run commands (-C)',
  complete: 'can run commands (-C)',
  let: 'evaluates arithmetic that can run commands',
  declare: 'can assign any variable and evaluate subscripts',
  typeset: 'can assign any variable and evaluate subscripts',
  local: 'can assign any variable and evaluate subscripts',
  readonly: 'can assign any variable',
  export: 'can assign any variable, PATH included',
  mapfile: 'can run a callback (-C)',
  readarray: 'can run a callback (-C)',
};

/** Shells: given a script string (`-c`), what they would run cannot be analysed here. */
export const SHELLS: ReadonlySet<string> = new Set([
  'sh',
  'bash',
  'rbash',
  'zsh',
  'dash',
  'ksh',
  'mksh',
  'pdksh',
  'ash',
  'fish',
  'csh',
  'tcsh',
]);

/** Builtins that evaluate `name[subscript]` arguments, where bash runs `$( … )` in the subscript. */
const SUBSCRIPT_BUILTINS = new Set(['test', '[', 'printf', 'read', 'unset', 'wait', 'getopts']);
/** Of those, the ones whose arguments are variable names, so an expanded argument may hold one. */
const NAME_BUILTINS = new Set(['read', 'unset', 'getopts']);
/** `set` options that change neither parsing nor what a word expands to. */
const SET_LETTERS = /^[-+][euxvC]+$/;
const SET_NAMES = new Set(['errexit', 'nounset', 'xtrace', 'verbose', 'pipefail', 'noclobber']);

export interface ResolvedCommand {
  /** The words of the command the wrappers run, its name first. */
  words: string[];
  /** Per word: it expands at run time. */
  expands: boolean[];
  /** The command's own leading assignments and those an `env` wrapper makes. */
  assignments: string[];
  /** The wrappers unwrapped, outermost first. */
  wrappers: string[];
}

export type ResolveResult = { ok: true; command: ResolvedCommand } | { ok: false; reason: string };

export type UnwrapResult =
  | { ok: true; start: number; assignments: string[]; wrappers: string[] }
  | { ok: false; reason: string };

/**
 * The command a simple command really runs, behind its wrappers, or why it cannot be judged by
 * its words. A command of only assignments and redirects resolves to no words.
 */
export function resolveCommand(command: SimpleCommand): ResolveResult {
  const { argv, argExpands } = command;
  if (argv.length === 0) {
    return {
      ok: true,
      command: { words: [], expands: [], assignments: [...command.assignments], wrappers: [] },
    };
  }
  const refuse = (reason: string): ResolveResult => ({ ok: false, reason });
  const nameProblem = checkName(argv[0] ?? '', argExpands[0] ?? false);
  if (nameProblem) return refuse(nameProblem);
  const unwrapped = unwrapCommand(argv);
  if (!unwrapped.ok) return refuse(unwrapped.reason);
  const { start } = unwrapped;
  const name = argv[start] ?? '';
  const problem = checkName(name, argExpands[start] ?? false);
  if (problem) return refuse(problem);
  if (argExpands.slice(0, start).some(Boolean)) {
    return refuse(`\`${argv[0]}\` is given an expansion, so the command it runs is unknown`);
  }
  const words = argv.slice(start);
  const expands = argExpands.slice(start);
  const refused = checkBuiltin(words, expands);
  if (refused) return refuse(refused);
  return {
    ok: true,
    command: {
      words,
      expands,
      assignments: [...command.assignments, ...unwrapped.assignments],
      wrappers: unwrapped.wrappers,
    },
  };
}

function checkBuiltin(words: readonly string[], expands: readonly boolean[]): string | undefined {
  const name = words[0] ?? '';
  const base = name.slice(name.lastIndexOf('/') + 1);
  const args = words.slice(1);
  const refused = REFUSED_COMMANDS[base];
  if (refused) return `\`${base}\` is refused: it ${refused}`;
  if (
    SHELLS.has(base) &&
    args.some((arg) => /^[-+][A-Za-z]*c/.test(arg) && !arg.startsWith('--'))
  ) {
    return `\`${base} -c\` is refused: the script string cannot be analysed`;
  }
  if (SUBSCRIPT_BUILTINS.has(base) && args.some((arg) => /\[.*[$`]/.test(arg))) {
    return `\`${base}\` with a \`[ … $ … ]\` subscript is refused: bash runs it`;
  }
  const expanded = expands.slice(1).some(Boolean);
  if (NAME_BUILTINS.has(base) && expanded) {
    return `\`${base}\` with an expanded argument is refused: a variable name from a value may hold a subscript bash evaluates`;
  }
  const namesVariable =
    base === 'wait'
      ? args.some((arg) => /^-[nf]*p/.test(arg))
      : (base === 'test' || base === '[') && args.some((arg) => arg === '-v' || arg === '-R');
  if (namesVariable && expanded) {
    return `\`${base}\` naming a variable through an expansion is refused: bash evaluates the subscript of the name it gets`;
  }
  if (base === 'set') return checkSet(args);
  return undefined;
}

/** `set -euo pipefail` may run; options that change parsing or expansion (`-k`, `-B`, `-o posix`) may not. */
function checkSet(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (/^[-+][euxvC]*o$/.test(arg)) {
      const option = args[i + 1];
      if (option === undefined || !SET_NAMES.has(option))
        return `\`set ${arg} ${option ?? ''}\` is refused: only ${[...SET_NAMES].join(', ')} may be set`;
      i++;
    } else if (!SET_LETTERS.test(arg)) {
      return `\`set ${arg}\` is refused: it changes how later words are parsed or expanded, or the positional parameters`;
    }
  }
  return undefined;
}

function checkName(name: string, expands: boolean): string | undefined {
  if (expands) return `command name \`${name}\` comes from an expansion`;
  if (name === '') return 'empty command name';
  if (!/^[\x21-\x7e]+$/.test(name)) {
    const bad = [...name].find((c) => !/[\x21-\x7e]/.test(c)) ?? '';
    return `command name \`${name}\` contains ${codePoint(bad.codePointAt(0) ?? 0)}: names must be printable ASCII`;
  }
  return undefined;
}

/**
 * Finds the command that wrappers run: `command`, `builtin`, `nohup`, `time`, `timeout [opts] N`,
 * `nice [-n N]` and `env [-i] [-u NAME] [NAME=value…]`. `start` indexes that command in argv;
 * `assignments` are those `env` makes. Only bare names are wrappers: `./env` is a script.
 * (`time` here is the program; bash's reserved word `time` the parser already took off.)
 */
export function unwrapCommand(argv: readonly string[]): UnwrapResult {
  const assignments: string[] = [];
  const wrappers: string[] = [];
  let i = 0;
  const skip = (pattern: RegExp): void => {
    while (i < argv.length && pattern.test(argv[i] ?? '')) i++;
  };
  for (;;) {
    const name = argv[i];
    if (name === undefined)
      return { ok: false, reason: `\`${wrappers.join(' ')}\` runs no command` };
    const at = i;
    i++;
    if (name === 'command') skip(/^(-[pvV]+|--)$/);
    else if (name === 'builtin' || name === 'nohup') skip(/^--$/);
    else if (name === 'time') skip(/^(-p|--)$/);
    else if (name === 'nice') {
      for (;;) {
        const arg = argv[i] ?? '';
        if (arg === '-n' || arg === '--adjustment') i += 2;
        else if (/^(-n-?\d+|--adjustment=-?\d+|-\d+|--)$/.test(arg)) i++;
        else break;
      }
    } else if (name === 'timeout') {
      for (;;) {
        const arg = argv[i] ?? '';
        if (/^(-s|-k|--signal|--kill-after)$/.test(arg)) i += 2;
        else if (
          /^(-s.+|-k.+|--signal=.+|--kill-after=.+|--preserve-status|--foreground|-v|--verbose|--)$/.test(
            arg,
          )
        )
          i++;
        else break;
      }
      if (!/^\d+(\.\d+)?[smhd]?$/.test(argv[i] ?? '')) {
        return { ok: false, reason: '`timeout` needs a plain duration before its command' };
      }
      i++;
    } else if (name === 'env') {
      for (;;) {
        const arg = argv[i] ?? '';
        if (arg === '-u' || arg === '--unset') i += 2;
        else if (/^(-i|-|--ignore-environment|-u.+|--unset=.+|--)$/.test(arg)) i++;
        else if (arg.startsWith('-')) {
          return {
            ok: false,
            reason: `\`env ${arg}\` is refused: the command it runs cannot be determined`,
          };
        } else if (/^[^=]+=/.test(arg)) {
          assignments.push(arg);
          i++;
        } else break;
      }
      if (i >= argv.length) return { ok: true, start: at, assignments, wrappers }; // prints the environment
    } else return { ok: true, start: at, assignments, wrappers };
    wrappers.push(name);
  }
}
