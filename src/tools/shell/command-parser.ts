/**
 * The grammar of the commands sheri runs: splits a command line, as `bash --noprofile --norc -c`
 * reads it, into every simple command that would run (SPEC §5), so the policy can judge each
 * one: commands joined by `&&` `||` `;` `|` `|&` `&` and newlines, inside subshells, brace groups,
 * `if`/`while`/`until` bodies and after `!` / `time [-p]`, and inside `$( … )`, backticks and
 * `<( … )` / `>( … )`, whose contents run too.
 *
 * Pure: no I/O, and no opinion on what may run (that is command-rules.ts and policy.ts). It
 * over-approximates (every command written is reported, whether or not it would be reached) and
 * refuses what it cannot model rather than guessing: heredocs, `case`/`for`/`select`/function
 * definitions, `[[ … ]]`, arithmetic, `${…}` forms that evaluate or assign, `$"…"`, named
 * descriptors (`{fd}>`), and characters that are hidden or only look like ASCII.
 * test/tools/shell/parser-shell-agreement.test.ts holds it to what bash really executes.
 */
import { readAnsiC } from './ansi-c-string.js';
import { checkParameterExpansion } from './parameter-expansion.js';

export interface Redirect {
  /** Operator with its descriptor prefix as written: `>`, `>>`, `2>`, `&>`, `>|`, `2>&`, `<<<`. */
  op: string;
  /** Target after quote removal; for `>&` / `<&` usually a descriptor (`1`) or `-`. */
  target: string;
  /** The target holds an expansion, glob or tilde: the file it names is unknown until run time. */
  targetExpands: boolean;
}

export interface SimpleCommand {
  /** Words after quote removal; `$VAR`, `${VAR}`, `$( … )` and `<( … )` are kept as written. */
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

/** Longer input is refused unread. */
export const MAX_COMMAND_LENGTH = 10_000; // characters
const MAX_NESTING = 16; // levels of ( … ), $( … ) and backticks

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
/** Reserved words after which a command follows; `time` only where a pipeline starts. */
const MIDDLES = new Set(['then', 'elif', 'else', 'do', '!']);

const WORD_END = ' \t\n;&|()<>';
/** Builtins whose arguments bash lexes as assignments (`declare a[i]=x`, `export …`). */
const ASSIGNING_BUILTINS = new Set(['declare', 'typeset', 'local', 'export', 'readonly']);
/** A name and an unquoted `[`: where bash may read an array subscript. */
const SUBSCRIPT_START = /^[A-Za-z_][A-Za-z0-9_]*\[/;
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
  /** As written, line continuations removed. */
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

export function codePoint(code: number): string {
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
      // Bash reads `time` as a reserved word where a pipeline starts, not after `|`.
      const timeAllowed = afterOperator !== '|' && afterOperator !== '|&';
      const keyword = this.readSimpleCommand(timeAllowed);
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

  /** A comment ends at the newline, even after a backslash (bash discards it unread). */
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
  private readSimpleCommand(timeAllowed: boolean): string | undefined {
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
      this.checkWordBeforeRedirect(word);
      if (command.argv.length === 0 || ASSIGNING_BUILTINS.has(command.argv[0]!))
        checkSubscriptWord(word.raw);
      const first =
        command.argv.length === 0 &&
        command.assignments.length === 0 &&
        command.redirects.length === 0;
      if (first && !word.quoted) {
        const refused = REFUSED_KEYWORDS[word.text];
        if (refused) throw new Refusal(refused);
        if (word.text in OPENERS || CLOSERS.has(word.text) || MIDDLES.has(word.text))
          return word.text;
        if (word.text === 'time' && timeAllowed) {
          this.skipTimeOptions();
          return 'time';
        }
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
    this.out.push(command);
    return undefined;
  }

  /** `time -p -- cmd`: bash takes `-p` and then `--` as part of the reserved word. */
  private skipTimeOptions(): void {
    for (const option of ['-p', '--']) {
      this.skipBlanks();
      const end = this.pos + option.length;
      const after = this.src[end];
      if (
        this.src.startsWith(option, this.pos) &&
        (after === undefined || WORD_END.includes(after))
      )
        this.pos = end;
    }
  }

  /**
   * A word glued to a `<` or `>` that bash would read as part of the redirect: a descriptor
   * number split by a line continuation (`2\⏎>x` is `2>x`), or a named descriptor `{fd}>x`,
   * which assigns a variable.
   */
  private checkWordBeforeRedirect(word: Word): void {
    const next = this.src[this.pos];
    if (next !== '<' && next !== '>') return;
    if (/^\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(word.raw))
      throw new Refusal(`named descriptor redirect \`${word.raw}${next}\` is refused`);
    if (/^[0-9]+$/.test(word.raw) && !word.quoted)
      throw new Refusal(`descriptor \`${word.raw}\` split from its redirect is refused`);
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
    const match = REDIRECT.exec(rest);
    if (!match) return undefined;
    const op = match[0];
    // `<(…)` and `>(…)` are process substitutions, and `2>(…)` is the word `2/dev/fd/63`.
    if ((match[2] === '<' || match[2] === '>') && rest[op.length] === '(') return undefined;
    if (match[2] === '<<' || match[2] === '<<-') throw new Refusal('heredocs (`<<`) are refused');
    this.pos += op.length;
    this.skipBlanks();
    const c = this.src[this.pos];
    if (
      c === undefined ||
      '\n;&|()'.includes(c) ||
      ('<>'.includes(c) && this.src[this.pos + 1] !== '(')
    ) {
      throw new Refusal(`redirect \`${op}\` has no target`);
    }
    const word = this.readWord();
    if (word.raw === '') throw new Refusal(`redirect \`${op}\` has no target`);
    this.checkWordBeforeRedirect(word);
    return { op, target: word.text, targetExpands: word.expands };
  }

  private readWord(): Word {
    const start = this.pos;
    const acc: WordAccumulator = { text: '', pattern: '', expands: false, quoted: false };
    for (;;) {
      const c = this.src[this.pos];
      if (c === undefined) break;
      if ((c === '<' || c === '>') && this.src[this.pos + 1] === '(') {
        const from = this.pos;
        this.pos += 2;
        this.parseList(true);
        this.addExpansion(acc, this.src.slice(from, this.pos));
        continue;
      }
      if (WORD_END.includes(c)) break;
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
    const raw = this.src.slice(start, this.pos).replaceAll('\\\n', '');
    if (expandsAtRunTime(acc.pattern, acc.text, raw)) acc.expands = true;
    return { text: acc.text, raw, expands: acc.expands, quoted: acc.quoted };
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
      const refused = checkParameterExpansion(inner);
      if (refused) throw new Refusal(refused);
      this.pos = end + 1;
      this.addExpansion(acc, this.src.slice(start, this.pos));
    } else if (next === "'" && !inDouble) {
      const read = readAnsiC(this.src, this.pos);
      if (!read.ok) throw new Refusal(read.reason);
      this.pos = read.end;
      acc.text += read.text;
      acc.pattern += '_'.repeat(read.text.length);
      acc.quoted = true;
    } else if (next === '"' && !inDouble) {
      throw new Refusal('`$"…"` is refused: bash translates it through the locale');
    } else if (next === '\\' && this.src[this.pos + 2] === '\n') {
      // Bash joins the lines first, so `$\⏎HOME` is `$HOME`.
      throw new Refusal('a line continuation right after `$` is refused');
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
        // Bash reads the text between backticks without its quotes, so a line continuation
        // goes even where the inner command has it inside single quotes.
        if (next !== '\n')
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

/**
 * Where an assignment may stand — before the command's name, and in the arguments of
 * `declare`-like builtins — bash reads `name[` as the start of an array subscript and takes
 * everything to its matching `]` into the one word, blanks, newlines and operators included:
 * `a[b"]"a ]` is one word there, a glob that ran `ab` (found by the parser–bash differential
 * test). The parser splits words at blanks, so such a word is refused unless its subscript
 * closes inside it, where both read it alike; so is one with an expansion in its subscript.
 */
function checkSubscriptWord(raw: string): void {
  // A whole `name[…]=value` is an array assignment, refused as one (readSimpleCommand).
  if (!SUBSCRIPT_START.test(raw) || ASSIGNMENT.test(raw)) return;
  const refuse = (why: string): never => {
    throw new Refusal(
      `\`${raw}\`: bash reads a \`[\` after a name, before a command, as an array subscript ${why}; quote the word`,
    );
  };
  let depth = 0;
  let quote: "'" | '"' | undefined;
  for (let i = raw.indexOf('['); i < raw.length; i++) {
    const c = raw[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      continue;
    }
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '$' || c === '`') refuse('with an expansion in it');
    if (quote === '"') {
      if (c === '"') quote = undefined;
      continue;
    }
    if (c === "'" || c === '"') quote = c;
    else if (c === '[') depth++;
    else if (c === ']' && --depth === 0) return;
  }
  refuse('that runs on past the end of the word (to the next unquoted `]`)');
}

/**
 * Globs, braces and tildes, seen in the unquoted characters: `*`, `?`, an unquoted `[` with a `]`
 * after it (quoted or not), `{…}`, a leading `~`, and in a word shaped like an assignment
 * (`a=~/x`, which bash expands even as an argument) a `~` after `=` or `:`.
 */
function expandsAtRunTime(pattern: string, text: string, raw: string): boolean {
  if (/[*?]/.test(pattern) || /\{.*\}/.test(pattern)) return true;
  if (pattern.includes('[') && text.slice(text.indexOf('[')).includes(']')) return true;
  if (pattern.startsWith('~')) return true;
  return ASSIGNMENT.test(raw) && /[=:]~/.test(pattern);
}
