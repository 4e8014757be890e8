/**
 * Shell policy rules: globs over argv words (after quote removal), separated by single spaces,
 * each covering the whole argv.
 *   - `*` alone matches zero or more words: `git log *` is `git log` with any further arguments;
 *     `find * -delete *` is `find` with `-delete` anywhere;
 *   - any other word matches exactly one word, as a shell pattern: `*` any characters, `?` one,
 *     `[abc]` / `[!abc]` one of a set, `\x` the character x. `npm run test* *` matches
 *     `npm run test:unit --watch`; `-[!-]*u*` a cluster of short options holding `u`; `\*` only
 *     the word `*`. A plain word matches only itself: `npm test` is not `npm testx`, and
 *     `git -- log` does not match `git log *`.
 * Rules never match substrings of the raw line. A word that expands at run time (`$X`, `$( … )`,
 * a glob) may become any words, so deny and ask rules treat it as `*`, and allow rules accept it
 * only where they have a `*` gap.
 */

/** Why a rule is malformed, or undefined. */
export function checkRule(rule: string): string | undefined {
  if (rule.trim() !== rule) return 'a rule may not start or end with a space';
  if (rule.includes('  ')) return 'words of a rule are separated by single spaces';
  if (rule.includes('\t') || rule.includes('\n')) return 'a rule is one line of words';
  if (rule.startsWith('@')) return undefined; // a group reference, resolved by the loader
  if (rule.split(' ').some((word) => word.endsWith('\\') && !word.endsWith('\\\\')))
    return 'a word of a rule may not end with a lone backslash';
  return undefined;
}

/**
 * Matches a rule against argv. In `deny` mode a word that expands may become any words, so it
 * matches like `*`; in `allow` mode only a `*` gap may take it.
 */
export function matchRule(
  rule: string,
  words: readonly string[],
  expands: readonly boolean[],
  mode: 'allow' | 'deny',
): boolean {
  const pattern = rule
    .split(' ')
    .filter((word) => word !== '')
    .map((word) => (word === '*' ? '*' : compileWord(word)));
  const match = (p: number, w: number): boolean => {
    const want = pattern[p];
    const word = words[w];
    if (want === undefined) {
      return word === undefined || (mode === 'deny' && expands.slice(w).every(Boolean));
    }
    if (want === '*') {
      for (let next = w; next <= words.length; next++) if (match(p + 1, next)) return true;
      return false;
    }
    if (word === undefined) return false;
    if (expands[w] === true) {
      return mode === 'deny' && (match(p, w + 1) || match(p + 1, w) || match(p + 1, w + 1));
    }
    return want.test(word) && match(p + 1, w + 1);
  };
  return match(0, 0);
}

const compiled = new Map<string, RegExp>();

/** One rule word as a regular expression over one argv word. */
function compileWord(word: string): RegExp {
  const cached = compiled.get(word);
  if (cached) return cached;
  let source = '';
  for (let i = 0; i < word.length; i++) {
    const c = word[i] ?? '';
    if (c === '\\' && i + 1 < word.length) {
      source += escape(word[++i] ?? '');
    } else if (c === '*') {
      source += '[^]*';
    } else if (c === '?') {
      source += '[^]';
    } else if (c === '[') {
      const close = word.indexOf(']', i + 2);
      if (close === -1) {
        source += escape(c); // an unclosed `[` is itself, as in `[ *`
        continue;
      }
      let set = word.slice(i + 1, close);
      const negated = set.startsWith('!') || set.startsWith('^');
      if (negated) set = set.slice(1);
      source += `[${negated ? '^' : ''}${set.replace(/[\\\]^]/g, '\\$&')}]`;
      i = close;
    } else {
      source += escape(c);
    }
  }
  const regex = new RegExp(`^${source}$`, 'u');
  compiled.set(word, regex);
  return regex;
}

function escape(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
