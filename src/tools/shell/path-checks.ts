/**
 * Where the paths a command names may point (SPEC §5): redirect and `cd` targets and path-like
 * arguments stay inside the workspace, and none reaches sheri's own files (protected paths:
 * config, data directory, ledger, credentials). Pure: paths are strings, nothing is read from
 * disk, so symlinks are not seen — the OS sandbox is the boundary, this is an early, clear
 * refusal and a second line.
 */
import { posix } from 'node:path';

export interface PathContext {
  /** Absolute and normalised. */
  workspace: string;
  /** Absolute and normalised. */
  protectedPaths: readonly string[];
}

export interface PathProblem {
  rule: 'workspace' | 'protected';
  problem: string;
}

/** Device files a command may name although they are outside the workspace. */
const ALLOWED_DEVICES = new Set(['/dev/null', '/dev/stdout', '/dev/stderr', '/dev/stdin']);

/**
 * A redirect or `cd` target: it must not expand (where it points would be unknown), must stay
 * inside the workspace without climbing above where it starts (`a/../../x`), so it stays inside
 * from any directory `cd` reached, and (for redirects) must not write into `.git`.
 */
export function checkTarget(
  target: string,
  expands: boolean,
  context: PathContext,
  options: { gitDir: boolean },
): PathProblem | undefined {
  const reached = protectedPathReached(target, expands, context);
  if (reached) return protectedProblem(target, reached);
  if (expands) {
    return {
      rule: 'workspace',
      problem: `target \`${target}\` expands at run time, so where it points is unknown`,
    };
  }
  if (ALLOWED_DEVICES.has(target)) return undefined;
  const { workspace } = context;
  if (!isInside(posix.resolve(workspace, target), workspace) || climbs(target)) {
    return {
      rule: 'workspace',
      problem: `target \`${target}\` is outside the workspace ${workspace}`,
    };
  }
  const relative = posix.relative(workspace, posix.resolve(workspace, target));
  if (options.gitDir && relative.split('/').includes('.git')) {
    return {
      rule: 'workspace',
      problem: `target \`${target}\` is inside .git, where hooks and config run commands`,
    };
  }
  return undefined;
}

/**
 * An argument word, and the path inside it (`--prefix=/x`, `-C/x`, `of=/x`, `@/x`, `file:///x`):
 * denied when it reaches a protected path, or when it is path-like — absolute, `~…`, `$HOME…`,
 * or climbing with `..` — and points outside the workspace.
 */
export function checkArgument(
  word: string,
  expands: boolean,
  context: PathContext,
): PathProblem | undefined {
  for (const candidate of pathsIn(word)) {
    const reached = protectedPathReached(candidate, expands, context);
    if (reached) return protectedProblem(word, reached);
    const problem = outsideProblem(candidate, expands, context.workspace);
    if (problem) return { rule: 'workspace', problem: `argument \`${word}\` ${problem}` };
  }
  return undefined;
}

function protectedProblem(word: string, reached: string): PathProblem {
  return {
    rule: 'protected',
    problem: `\`${word}\` reaches ${reached}, one of sheri's own files (config, data, ledger, credentials), which no command may touch`,
  };
}

/** The word itself, and the value of `--opt=value`, `NAME=value`, `-Xvalue`, `@file`, `file:`. */
function pathsIn(word: string): string[] {
  const paths = [word];
  const option = /^(?:--?[A-Za-z0-9][\w.-]*|[A-Za-z_][A-Za-z0-9_]*)=(.+)$/s.exec(word);
  if (option?.[1]) paths.push(option[1]);
  const short = /^-[A-Za-z]([/~].*)$/s.exec(word);
  if (short?.[1]) paths.push(short[1]);
  for (const path of [...paths]) {
    if (path.startsWith('@') && path.length > 1) paths.push(path.slice(1));
    const url = /^file:(?:\/\/[^/]*)?(\/.*)$/is.exec(path);
    if (url?.[1]) paths.push(url[1]);
  }
  return paths;
}

function outsideProblem(path: string, expands: boolean, workspace: string): string | undefined {
  const fromHome =
    path.startsWith('~') || (expands && /^(\$HOME(?![A-Za-z0-9_])|\$\{HOME\})/.test(path));
  if (fromHome) return 'is in the home directory, outside the workspace';
  if (!path.startsWith('/') && !hasParentComponent(path)) return undefined;
  if (!expands) {
    if (ALLOWED_DEVICES.has(path)) return undefined;
    if (climbs(path) || !isInside(posix.resolve(workspace, path), workspace))
      return `is outside the workspace ${workspace}`;
    return undefined;
  }
  const { literal, rest } = splitLiteral(path);
  if (hasParentComponent(rest))
    return 'climbs with `..` after an expansion, so where it points is unknown';
  const dir = literal.slice(0, literal.lastIndexOf('/') + 1) || '.';
  if (climbs(literal) || !isInside(posix.resolve(workspace, dir), workspace))
    return `is outside the workspace ${workspace}`;
  if (path.startsWith('/') && /[$`]|[<>]\(/.test(rest))
    return 'expands at run time, so where it points is unknown';
  return undefined;
}

/**
 * The protected path a word may reach, if any. A relative word is judged from any directory of
 * the workspace, as `cd` may have moved there: `ledger.sqlite` reaches `<ws>/.sheri/ledger.sqlite`.
 * Of a word that expands, the literal start is resolved and the rest read as a pattern (`*`, `?`,
 * `[…]` stay within a name; `$x`, `{…}` may hold anything). A word starting with an expansion
 * (`$X`) is unknown and left to the sandbox.
 */
function protectedPathReached(
  word: string,
  expands: boolean,
  context: PathContext,
): string | undefined {
  const { workspace, protectedPaths } = context;
  if (protectedPaths.length === 0 || word === '') return undefined;
  // `$PWD/x` and `~+/x` name x in the current folder, which is inside the workspace.
  const here = /^(\$PWD(?![A-Za-z0-9_])|\$\{PWD\}|~\+)(\/|$)/.exec(word);
  if (expands && here) word = `.${word.slice(here[1]?.length ?? 0)}`;
  if (word.startsWith('~')) return undefined;
  const { literal, rest } = expands ? splitLiteral(word) : { literal: word, rest: '' };
  if (literal === '' && /^([$`{]|[<>]\()/.test(rest)) return undefined;
  if (climbs(literal)) return undefined;
  const absolute = literal.startsWith('/');
  let start = posix.normalize(literal);
  if (start === '.' || start === './') start = '';
  if (!absolute && literal.endsWith('/') && start !== '' && !start.endsWith('/')) start += '/';
  const pattern = expands ? tokenize(start + rest) : [...start].map(literalChar);
  for (const path of protectedPaths) {
    if (absolute) {
      if (matchesAtOrBelow(pattern, path)) return path;
      continue;
    }
    if (isInside(workspace, path)) return path; // the workspace itself is protected
    if (!isInside(path, workspace)) continue;
    const parts = posix.relative(workspace, path).split('/');
    for (let from = 0; from < parts.length; from++) {
      if (matchesAtOrBelow(pattern, parts.slice(from).join('/'))) return path;
    }
  }
  return undefined;
}

type Token = { kind: 'char'; char: string } | { kind: 'star' } | { kind: 'one' } | { kind: 'any' };

function literalChar(char: string): Token {
  return { kind: 'char', char };
}

/** The pattern a word stands for: `*` and `?` and `[…]` within a name, expansions anything. */
function tokenize(word: string): Token[] {
  const tokens: Token[] = [];
  for (let i = 0; i < word.length; i++) {
    const c = word[i] ?? '';
    const next = word[i + 1] ?? '';
    if (c === '$' || c === '`' || c === '{' || ((c === '<' || c === '>') && next === '(')) {
      tokens.push({ kind: 'any' });
      i = word.length; // whatever follows an expansion may be anything as well
    } else if (c === '*') tokens.push({ kind: 'star' });
    else if (c === '?') tokens.push({ kind: 'one' });
    else if (c === '[' && word.indexOf(']', i + 1) !== -1) {
      tokens.push({ kind: 'one' });
      i = word.indexOf(']', i + 1);
    } else tokens.push(literalChar(c));
  }
  return tokens;
}

/** Some word the pattern stands for is `path` or a path below it. */
function matchesAtOrBelow(tokens: readonly Token[], path: string): boolean {
  const match = (t: number, s: number): boolean => {
    const token = tokens[t];
    if (s === path.length) {
      let next = t;
      while (tokens[next]?.kind === 'star') next++;
      const after = tokens[next];
      return (
        after === undefined || after.kind === 'any' || (after.kind === 'char' && after.char === '/')
      );
    }
    if (token === undefined) return false;
    if (token.kind === 'any') return true;
    if (token.kind === 'star') {
      for (let k = s; k <= path.length; k++) {
        if (match(t + 1, k)) return true;
        if (path[k] === '/') break;
      }
      return false;
    }
    if (token.kind === 'one') return path[s] !== '/' && match(t + 1, s + 1);
    return path[s] === token.char && match(t + 1, s + 1);
  };
  return match(0, 0);
}

/** The text before the first expansion or pattern character, and the rest. */
function splitLiteral(word: string): { literal: string; rest: string } {
  const at = word.search(/[$`*?[{]|[<>]\(/);
  return at === -1
    ? { literal: word, rest: '' }
    : { literal: word.slice(0, at), rest: word.slice(at) };
}

function hasParentComponent(path: string): boolean {
  return path.split('/').includes('..');
}

/** A relative path that climbs above where it starts (`..`, `a/../../x`). */
function climbs(path: string): boolean {
  if (posix.isAbsolute(path)) return false;
  const normal = posix.normalize(path);
  return normal === '..' || normal.startsWith('../');
}

/** `path` is `root` or below it. */
export function isInside(path: string, root: string): boolean {
  if (path === root) return true;
  return path.startsWith(root.endsWith('/') ? root : `${root}/`);
}
