/**
 * Bash's ANSI-C quoting, `$'…'`, read as bash 5.2 reads it (`ansicstr` in lib/sh/strtrans.c), so
 * `$'\x72m'` is seen as `rm`. Pure: returns the decoded text, or why it is refused.
 */

export type AnsiCResult = { ok: true; text: string; end: number } | { ok: false; reason: string };

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  a: '\x07',
  b: '\b',
  e: '\x1b',
  E: '\x1b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\\': '\\',
  "'": "'",
  '"': '"',
  '?': '?',
};

/**
 * Reads `$'…'` whose `$` is at `start`. The closing quote is found as bash finds it: a backslash
 * hides the character after it, so `$'\''` is one quote and `$'\c'` ends at its second quote.
 * A decoded character that is not printable ASCII, tab or newline is refused: control characters
 * hide text from a reader, a NUL cuts the word short in bash, and what `\u00e9` or `\xe9` become
 * depends on the locale, so the policy could not know the word.
 */
export function readAnsiC(src: string, start: number): AnsiCResult {
  let end = start + 2;
  for (;;) {
    const c = src[end];
    if (c === undefined) return { ok: false, reason: "unbalanced `$'`" };
    if (c === "'") break;
    if (c === '\\') {
      if (src[end + 1] === '\n')
        return { ok: false, reason: "a line continuation inside `$'…'` is refused" };
      end += 2;
    } else end++;
  }
  const decoded = decode(src.slice(start + 2, end));
  if (!decoded.ok) return decoded;
  return { ok: true, text: decoded.text, end: end + 1 };
}

function decode(body: string): { ok: true; text: string } | { ok: false; reason: string } {
  let text = '';
  let i = 0;
  const fail = (what: string, code: number): { ok: false; reason: string } => ({
    ok: false,
    reason: `\`$'…'\` escape ${what} gives ${describe(code)}: only printable ASCII, tab and newline may come from an escape`,
  });
  while (i < body.length) {
    const c = body[i] ?? '';
    if (c !== '\\') {
      text += c;
      i++;
      continue;
    }
    const esc = body[i + 1] ?? '';
    const from = i;
    i += 2;
    let code: number | undefined;
    const digits = (pattern: RegExp, radix: number): void => {
      const found = pattern.exec(body.slice(i))?.[0] ?? '';
      i += found.length;
      if (found !== '') code = parseInt(found, radix);
    };
    if (esc in SIMPLE_ESCAPES) code = (SIMPLE_ESCAPES[esc] ?? '').charCodeAt(0);
    else if (esc === 'x') digits(/^[0-9a-fA-F]{1,2}/, 16);
    else if (esc === 'u') digits(/^[0-9a-fA-F]{1,4}/, 16);
    else if (esc === 'U') digits(/^[0-9a-fA-F]{1,8}/, 16);
    else if (/^[0-7]$/.test(esc)) {
      i--;
      digits(/^[0-7]{1,3}/, 8);
      if (code !== undefined) code &= 0xff; // bash keeps the low byte of \400…\777
    } else if (esc === 'c' && i < body.length) {
      const ch = body[i] ?? '';
      i++;
      if (ch === '\\' && body[i] === '\\') i++;
      code = ch === '?' ? 0x7f : ch.toUpperCase().charCodeAt(0) & 0x1f;
    }
    if (code === undefined) {
      text += `\\${esc}`; // unknown escape, `\x` without digits, a trailing `\c`: kept as written
      continue;
    }
    if (!(code === 0x09 || code === 0x0a || (code >= 0x20 && code <= 0x7e)))
      return fail(body.slice(from, i), code);
    text += String.fromCharCode(code);
  }
  return { ok: true, text };
}

function describe(code: number): string {
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  if (code === 0) return `a NUL byte (${hex})`;
  return code < 0x20 || code === 0x7f ? `the hidden character ${hex}` : `the non-ASCII ${hex}`;
}
