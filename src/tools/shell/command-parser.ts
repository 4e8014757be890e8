/**
 * Splits a POSIX sh command line into every simple command that would run (SPEC §5), so the
 * policy can judge each one: commands joined by `&&` `||` `;` `|` `&` and newlines, inside
 * subshells, brace groups and `if`/`while`/`until` bodies, and inside `$( … )`, backticks and
 * `<( … )` / `>( … )`, whose contents run too.
 *
 * Pure: no I/O. It over-approximates (every command written is reported, whether or not it would
 * be reached) and refuses what it cannot analyse rather than guessing: heredocs, `case`/`for`/
 * function definitions, arithmetic, `eval` and friends, shells given a script string, command
 * names that come from an expansion, and characters that only look like ASCII.
 */

export interface Redirect {
  /** Operator with its descriptor prefix as written: `>`, `>>`, `2>`, `&>`, `>|`, `2>&`, `<<<`. */
  op: string;
  /** Target after quote removal; for `>&` / `<&` usually a descriptor (`1`) or `-`. */
  target: string;
  /** The target holds an expansion, glob or tilde: the file it names is unknown until run time. */
  targetExpands: boolean;
}

export interface SimpleCommand {
  /** Words after quote removal; `$VAR`, `${VAR}` and `$( … )` are kept as written. */
  argv: string[];
  /** Per argv word: it holds an expansion, substitution, glob, brace or tilde. */
  argExpands: boolean[];
  /** Leading `NAME=value` words, after quote removal. */
  assignments: string[];
  /** Own redirects plus those of every group (`( … ) > f`, `{ …; } > f`) that encloses it. */
  redirects: Redirect[];
  /** Some argv word expands at run time (see `argExpands`). */
  hasExpansion: boolean;
  /** The source text of the command, for messages. */
  text: string;
}

export type ParseResult = { ok: true; commands: SimpleCommand[] } | { ok: false; reason: string };

export type UnwrapResult =
  | { ok: true; start: number; assignments: string[]; wrappers: string[] }
  | { ok: false; reason: string };

/** Longer input is refused unread. */
export const MAX_COMMAND_LENGTH = 10_000; // characters
const MAX_NESTING = 16; // levels of ( … ), $( … ) and backticks

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

const REFUSED_KEYWORDS: Record<string, string> = {
  case: '`case` is not supported',
  esac: '`case` is not supported',
  for: '`for` loops are not supported',
  select: '`select` is not supported',
  function: 'function definitions are not supported',
  coproc: '`coproc` is not supported',
  '[[': '`[[ … ]]` is not supported; use `test` or `[`',
  ']]': '`[[ … ]]` is not supported; use `test` or `[`',
};

const OPENERS: Record<string, string> = { '{': '}', if: 'fi', while: 'done', until: 'done' };
const CLOSERS = new Set(['}', 'fi', 'done']);
const MIDDLES = new Set(['then', 'elif', 'else', 'do', '!']);

const WORD_END = ' \t\n;&|()<>';
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/;
const REDIRECT = /^(\d*)(<<<|<<-|<<|<>|<&|>>|>&|>\||<|>)|^(&>>|&>)/;
/** Controls other than tab and newline, and invisible or direction-changing characters. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const HIDDEN = /[\0-\x08\x0b-\x1f\x7f\u0085\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

class Refusal extends Error {}

interface WordAccumulator {
  text: string;
  /** Unquoted characters as written, quoted ones as `_`: what globbing and bracing see. */
  pattern: string;
  expands: boolean;
  quoted: boolean;
}

interface Word {
  text: string;
  raw: string;
  expands: boolean;
  quoted: boolean;
}

export function parseCommand(input: string): ParseResult {
  if (input.length > MAX_COMMAND_LENGTH) {
    return {
      ok: false,
      reason: `command is ${input.length} characters; the limit is ${MAX_COMMAND_LENGTH}`,
    };
  }
  const commands: SimpleCommand[] = [];
  try {
    checkHidden(input);
    new Parser(input, 0, commands).parseList(false);
    return { ok: true, commands };
  } catch (error) {
    if (error instanceof Refusal) return { ok: false, reason: error.message };
    throw error;
  }
}

function checkHidden(text: string): void {
  const match = HIDDEN.exec(text);
  if (!match) return;
  const code = match[0].codePointAt(0) ?? 0;
  const name = code === 0 ? 'NUL byte' : `hidden character ${codePoint(code)}`;
  throw new Refusal(
    `${name} at offset ${match.index}: control and invisible characters are refused`,
  );
}

function codePoint(code: number): string {
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

class Parser {
  private pos = 0;

  constructor(
    private readonly src: string,
    private depth: number,
    private readonly out: SimpleCommand[],
  ) {
    this.checkDepth();
  }

  private checkDepth(): void {
    if (this.depth > MAX_NESTING) throw new Refusal(`nesting deeper than ${MAX_NESTING} levels`);
  }

  /** Commands up to end of input, or up to and including the `)` that closes a group. */
  parseList(inParens: boolean): void {
    if (inParens) {
      this.depth++;
      this.checkDepth();
    }
    const blocks: { keyword: string; start: number }[] = [];
    let afterOperator: string | undefined = 'start'; // the last token wants a command after it
    let needSeparator = false;
    for (;;) {
      this.skipBlanks();
      const c = this.src[this.pos];
      if (c === undefined || c === ')') {
        if (c === undefined && inParens) throw new Refusal('unbalanced parentheses: missing `)`');
        if (c === ')' && !inParens) throw new Refusal('unbalanced parentheses: unexpected `)`');
        if (c === ')') this.pos++;
        break;
      }
      if (c === '#') {
        this.skipComment();
        continue;
      }
      if (c === '\n') {
        this.pos++;
        needSeparator = false;
        continue;
      }
      const op = this.readOperator();
      if (op !== undefined) {
        if (op === ';;') throw new Refusal('`;;` outside `case` is refused');
        if (afterOperator !== undefined) throw new Refusal(`syntax error near \`${op}\``);
        afterOperator = op === ';' || op === '&' ? 'separator' : op;
        needSeparator = false;
        continue;
      }
      if (needSeparator)
        throw new Refusal(`syntax error near \`${this.src.slice(this.pos, this.pos + 10)}\``);
      if (c === '(') {
        if (this.src[this.pos + 1] === '(') throw new Refusal('arithmetic `(( … ))` is refused');
        this.pos++;
        const start = this.out.length;
        this.parseList(true);
        this.readTrailingRedirects(start);
        afterOperator = undefined;
        needSeparator = true;
        continue;
      }
      const keyword = this.readSimpleCommand();
      if (keyword === undefined) {
        afterOperator = undefined;
        needSeparator = true;
      } else if (keyword in OPENERS) {
        blocks.push({ keyword, start: this.out.length });
        afterOperator = keyword;
      } else if (CLOSERS.has(keyword)) {
        const open = blocks.pop();
        if (open === undefined || OPENERS[open.keyword] !== keyword) {
          throw new Refusal(`unbalanced \`${keyword}\``);
        }
        this.readTrailingRedirects(open.start);
        afterOperator = undefined;
        needSeparator = true;
      } else {
        afterOperator = keyword;
      }
    }
    const open = blocks.at(-1);
    if (open)
      throw new Refusal(`unbalanced \`${open.keyword}\`: missing \`${OPENERS[open.keyword]}\``);
    if (afterOperator !== undefined && afterOperator !== 'start' && afterOperator !== 'separator') {
      throw new Refusal(`\`${afterOperator}\` is missing the command after it`);
    }
    if (inParens) this.depth--;
  }

  private skipBlanks(): void {
    for (;;) {
      const c = this.src[this.pos];
      if (c === ' ' || c === '\t') this.pos++;
      else if (c === '\\' && this.src[this.pos + 1] === '\n') this.pos += 2;
      else return;
    }
  }

  private skipComment(): void {
    const end = this.src.indexOf('\n', this.pos);
    this.pos = end === -1 ? this.src.length : end;
  }

  private readOperator(): string | undefined {
    const rest = this.src.slice(this.pos, this.pos + 2);
    for (const op of ['&&', '||', ';;', '|&']) {
      if (rest === op) {
        this.pos += 2;
        return op;
      }
    }
    const c = rest[0];
    if (c === '&' && rest[1] === '>') return undefined; // `&>` redirect
    if (c === ';' || c === '|' || c === '&') {
      this.pos++;
      return c;
    }
    return undefined;
  }

  /** Reads one simple command; returns a reserved word instead when one stands in its place. */
  private readSimpleCommand(): string | undefined {
    const start = this.pos;
    const command: SimpleCommand = {
      argv: [],
      argExpands: [],
      assignments: [],
      redirects: [],
      hasExpansion: false,
      text: '',
    };
    for (;;) {
      this.skipBlanks();
      const c = this.src[this.pos];
      if (c === undefined || c === '\n' || c === ')') break;
      if (c === '#') {
        this.skipComment();
        break;
      }
      if (c === '(')
        throw new Refusal('unexpected `(`: function definitions and extglob are refused');
      const redirect = this.readRedirect();
      if (redirect) {
        command.redirects.push(redirect);
        continue;
      }
      if (';&|'.includes(c)) break;
      const word = this.readWord();
      const first =
        command.argv.length === 0 &&
        command.assignments.length === 0 &&
        command.redirects.length === 0;
      if (first && !word.quoted) {
        const refused = REFUSED_KEYWORDS[word.text];
        if (refused) throw new Refusal(refused);
        if (word.text in OPENERS || CLOSERS.has(word.text) || MIDDLES.has(word.text))
          return word.text;
      }
      if (command.argv.length === 0 && ASSIGNMENT.test(word.raw)) {
        if (/^[^=]*\[/.test(word.raw))
          throw new Refusal(`array assignment \`${word.raw}\` is refused`);
        command.assignments.push(word.text);
      } else {
        command.argv.push(word.text);
        command.argExpands.push(word.expands);
      }
    }
    command.text = this.src.slice(start, this.pos).trim();
    command.hasExpansion = command.argExpands.some(Boolean);
    checkCommand(command);
    this.out.push(command);
    return undefined;
  }

  /** Redirects after `)`, `}`, `fi` or `done` apply to every command of the group. */
  private readTrailingRedirects(start: number): void {
    for (;;) {
      this.skipBlanks();
      const redirect = this.readRedirect();
      if (!redirect) return;
      for (const command of this.out.slice(start)) command.redirects.push(redirect);
    }
  }

  private readRedirect(): Redirect | undefined {
    const rest = this.src.slice(this.pos, this.pos + 24);
    if (rest.startsWith('<(') || rest.startsWith('>(')) return undefined; // process substitution
    const match = REDIRECT.exec(rest);
    if (!match) return undefined;
    const op = match[0];
    if (match[2] === '<<' || match[2] === '<<-') throw new Refusal('heredocs (`<<`) are refused');
    this.pos += op.length;
    this.skipBlanks();
    const c = this.src[this.pos];
    if (
      c === undefined ||
      '\n;&|)'.includes(c) ||
      ('<>'.includes(c) && this.src[this.pos + 1] !== '(')
    ) {
      throw new Refusal(`redirect \`${op}\` has no target`);
    }
    const word = this.readWord();
    return { op, target: word.text, targetExpands: word.expands };
  }

  private readWord(): Word {
    const start = this.pos;
    const rest = this.src.slice(this.pos, this.pos + 2);
    if (rest === '<(' || rest === '>(') {
      this.pos += 2;
      this.parseList(true);
      const text = this.src.slice(start, this.pos);
      return { text, raw: text, expands: true, quoted: false };
    }
    const acc: WordAccumulator = { text: '', pattern: '', expands: false, quoted: false };
    for (;;) {
      const c = this.src[this.pos];
      if (c === undefined || WORD_END.includes(c)) break;
      if (c === '\\') {
        const next = this.src[this.pos + 1];
        if (next === undefined) throw new Refusal('trailing backslash');
        this.pos += 2;
        if (next === '\n') continue;
        this.checkAscii(next);
        acc.text += next;
        acc.pattern += '_';
        acc.quoted = true;
      } else if (c === "'") {
        const end = this.src.indexOf("'", this.pos + 1);
        if (end === -1) throw new Refusal('unbalanced single quote');
        const inner = this.src.slice(this.pos + 1, end);
        acc.text += inner;
        acc.pattern += '_'.repeat(inner.length);
        acc.quoted = true;
        this.pos = end + 1;
      } else if (c === '"') {
        this.readDoubleQuoted(acc);
      } else if (c === '$') {
        this.readDollar(acc, false);
      } else if (c === '`') {
        this.readBackticks(acc, false);
      } else {
        this.checkAscii(c);
        acc.text += c;
        acc.pattern += c;
        this.pos++;
      }
    }
    const pattern = acc.pattern;
    if (/[*?]/.test(pattern) || /\[.*\]/.test(pattern) || /\{.*\}/.test(pattern))
      acc.expands = true;
    if (pattern.startsWith('~')) acc.expands = true;
    return {
      text: acc.text,
      raw: this.src.slice(start, this.pos),
      expands: acc.expands,
      quoted: acc.quoted,
    };
  }

  /** Outside quotes only ASCII: `；` `＆` `｜` look like operators but are word characters. */
  private checkAscii(c: string): void {
    const code = c.codePointAt(0) ?? 0;
    if (code > 0x7e) {
      throw new Refusal(
        `non-ASCII character ${codePoint(code)} (${c}) outside quotes: look-alike characters are refused`,
      );
    }
  }

  private readDoubleQuoted(acc: WordAccumulator): void {
    acc.quoted = true;
    this.pos++;
    for (;;) {
      const c = this.src[this.pos];
      if (c === undefined) throw new Refusal('unbalanced double quote');
      if (c === '"') {
        this.pos++;
        return;
      }
      if (c === '\\') {
        const next = this.src[this.pos + 1];
        if (next !== undefined && '$`"\\\n'.includes(next)) {
          if (next !== '\n') acc.text += next;
          this.pos += 2;
        } else {
          acc.text += '\\';
          this.pos++;
        }
        acc.pattern += '_';
      } else if (c === '$') {
        this.readDollar(acc, true);
      } else if (c === '`') {
        this.readBackticks(acc, true);
      } else {
        acc.text += c;
        acc.pattern += '_';
        this.pos++;
      }
    }
  }

  private readDollar(acc: WordAccumulator, inDouble: boolean): void {
    const start = this.pos;
    const next = this.src[this.pos + 1] ?? '';
    if (next === '(') {
      if (this.src[this.pos + 2] === '(') throw new Refusal('arithmetic `$(( … ))` is refused');
      this.pos += 2;
      this.parseList(true);
      this.addExpansion(acc, this.src.slice(start, this.pos));
    } else if (next === '[') {
      throw new Refusal('arithmetic `$[ … ]` is refused');
    } else if (next === '{') {
      const end = this.src.indexOf('}', this.pos + 2);
      if (end === -1) throw new Refusal('unbalanced `${`');
      const inner = this.src.slice(this.pos + 2, end);
      if (/[$`()'"\\\n]|[^\x20-\x7e]/.test(inner)) {
        throw new Refusal(
          `parameter expansion \`\${${inner}}\` with nested expansion or quotes is refused`,
        );
      }
      this.pos = end + 1;
      this.addExpansion(acc, this.src.slice(start, this.pos));
    } else if (next === "'" && !inDouble) {
      this.readAnsiC(acc);
    } else if (next === '"' && !inDouble) {
      this.pos++;
      this.readDoubleQuoted(acc);
    } else if (/[A-Za-z_]/.test(next)) {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.src.slice(this.pos + 1))?.[0] ?? next;
      this.pos += 1 + name.length;
      this.addExpansion(acc, `$${name}`);
    } else if (/[0-9@*#?$!-]/.test(next)) {
      this.pos += 2;
      this.addExpansion(acc, `$${next}`);
    } else {
      acc.text += '$';
      acc.pattern += '_';
      this.pos++;
    }
  }

  private addExpansion(acc: WordAccumulator, text: string): void {
    acc.text += text;
    acc.pattern += '$';
    acc.expands = true;
  }

  /** `$'…'`: decoded, so `$'\x72m'` is seen as `rm`. */
  private readAnsiC(acc: WordAccumulator): void {
    this.pos += 2;
    let text = '';
    for (;;) {
      const c = this.src[this.pos];
      if (c === undefined) throw new Refusal("unbalanced `$'`");
      this.pos++;
      if (c === "'") break;
      if (c !== '\\') {
        text += c;
        continue;
      }
      const esc = this.src[this.pos] ?? '';
      this.pos++;
      const simple: Record<string, string> = {
        n: '\n',
        t: '\t',
        r: '\r',
        a: '\x07',
        b: '\b',
        e: '\x1b',
        E: '\x1b',
        f: '\f',
        v: '\v',
        '\\': '\\',
        "'": "'",
        '"': '"',
        '?': '?',
      };
      const digits = (pattern: RegExp, radix: number): void => {
        const found = pattern.exec(this.src.slice(this.pos))?.[0] ?? '';
        this.pos += found.length;
        text += found === '' ? `\\${esc}` : String.fromCodePoint(parseInt(found, radix));
      };
      if (esc in simple) text += simple[esc];
      else if (esc === 'x') digits(/^[0-9a-fA-F]{1,2}/, 16);
      else if (esc === 'u') digits(/^[0-9a-fA-F]{1,4}/, 16);
      else if (esc === 'U') digits(/^[0-9a-fA-F]{1,8}/, 16);
      else if (/[0-7]/.test(esc)) {
        this.pos--;
        digits(/^[0-7]{1,3}/, 8);
      } else if (esc === 'c') {
        const ch = this.src[this.pos] ?? '';
        this.pos++;
        text += String.fromCharCode((ch.charCodeAt(0) || 0) & 0x1f);
      } else text += `\\${esc}`;
    }
    checkHidden(text);
    acc.text += text;
    acc.pattern += '_'.repeat(text.length);
    acc.quoted = true;
  }

  private readBackticks(acc: WordAccumulator, inDouble: boolean): void {
    const start = this.pos;
    let i = this.pos + 1;
    let inner = '';
    for (;;) {
      const c = this.src[i];
      if (c === undefined) throw new Refusal('unbalanced backtick');
      if (c === '`') break;
      if (c === '\\') {
        const next = this.src[i + 1];
        if (next === undefined) throw new Refusal('unbalanced backtick');
        inner += '$`\\'.includes(next) || (inDouble && next === '"') ? next : `\\${next}`;
        i += 2;
      } else {
        inner += c;
        i++;
      }
    }
    new Parser(inner, this.depth + 1, this.out).parseList(false);
    this.pos = i + 1;
    this.addExpansion(acc, this.src.slice(start, this.pos));
  }
}

/** Refuses a command whose name, or the name a wrapper runs, cannot be judged by its words. */
function checkCommand(command: SimpleCommand): void {
  const { argv, argExpands } = command;
  if (argv.length === 0) return;
  checkName(argv[0] ?? '', argExpands[0] ?? false);
  const unwrapped = unwrapCommand(argv);
  if (!unwrapped.ok) throw new Refusal(unwrapped.reason);
  const { start } = unwrapped;
  const name = argv[start] ?? '';
  checkName(name, argExpands[start] ?? false);
  if (argExpands.slice(0, start).some(Boolean)) {
    throw new Refusal(`\`${argv[0]}\` is given an expansion, so the command it runs is unknown`);
  }
  const base = name.slice(name.lastIndexOf('/') + 1);
  const args = argv.slice(start + 1);
  const refused = REFUSED_COMMANDS[base];
  if (refused) throw new Refusal(`\`${base}\` is refused: it ${refused}`);
  if (
    SHELLS.has(base) &&
    args.some((arg) => /^[-+][A-Za-z]*c/.test(arg) && !arg.startsWith('--'))
  ) {
    throw new Refusal(`\`${base} -c\` is refused: the script string cannot be analysed`);
  }
  if (SUBSCRIPT_BUILTINS.has(base) && args.some((arg) => /\[.*[$`]/.test(arg))) {
    throw new Refusal(`\`${base}\` with a \`[ … $ … ]\` subscript is refused: bash runs it`);
  }
}

function checkName(name: string, expands: boolean): void {
  if (expands) throw new Refusal(`command name \`${name}\` comes from an expansion`);
  if (name === '') throw new Refusal('empty command name');
  if (!/^[\x21-\x7e]+$/.test(name)) {
    const bad = [...name].find((c) => !/[\x21-\x7e]/.test(c)) ?? '';
    throw new Refusal(
      `command name \`${name}\` contains ${codePoint(bad.codePointAt(0) ?? 0)}: names must be printable ASCII`,
    );
  }
}

/**
 * Finds the command that wrappers run: `command`, `builtin`, `nohup`, `time`, `timeout [opts] N`,
 * `nice [-n N]` and `env [-i] [-u NAME] [NAME=value…]`. `start` indexes that command in argv;
 * `assignments` are those `env` makes. Only bare names are wrappers: `./env` is a script.
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
