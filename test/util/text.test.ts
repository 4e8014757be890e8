import { describe, expect, it } from 'vitest';
import { clip, visible } from '../../src/util/text.js';

describe('clip', () => {
  it('keeps text that fits and marks a cut with an ellipsis, within the limit', () => {
    expect(clip('abcde', 5)).toBe('abcde');
    expect(clip('abcdef', 5)).toBe('abcd…');
    expect(clip('abcdef', 5)).toHaveLength(5);
  });
});

describe('visible: untrusted text printed on a terminal', () => {
  it('shows escape sequences as text instead of letting the terminal run them', () => {
    // OSC 52 (write the clipboard), a cursor move up and a line erase (rewrite what was shown).
    const attack = 'ok\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07\x1b[1A\x1b[2Kall tests passed\x9b31m';
    const shown = visible(attack);
    expect(shown).toBe(
      'ok\\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\\x07\\x1b[1A\\x1b[2Kall tests passed\\x9b31m',
    );
    // eslint-disable-next-line no-control-regex -- no control character may be left
    expect(shown).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  });

  it('keeps tabs, newlines and ordinary Unicode; turns a carriage return into a newline', () => {
    expect(visible('a\tb\nc — é ✓')).toBe('a\tb\nc — é ✓');
    expect(visible('line\r\nnext\rover')).toBe('line\nnext\nover');
  });

  it('shows the characters that hide or reorder text', () => {
    expect(visible('admin\u202e\u2066txt.exe\u200b')).toBe('admin\\u202e\\u2066txt.exe\\u200b');
  });
});
