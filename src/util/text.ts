/** `text` cut to at most `max` characters, the cut marked with an ellipsis. */
export function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * What a terminal would act on rather than show: C0 controls but tab and newline (ESC above all,
 * the start of every escape sequence — colours, cursor moves that overwrite lines already shown,
 * OSC 52 writes to the clipboard, window titles), DEL, the C1 controls (U+0080–U+009F: a terminal
 * may take U+009B as an escape sequence's start), and the characters that hide text or reorder it
 * (zero-width ones, bidirectional overrides and isolates: "Trojan Source").
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\0-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/**
 * Text from elsewhere — a task's output, a model's answer, a message off the bus — made safe to
 * print on the operator's terminal: each character of UNSAFE shown as `\xNN` or `\uNNNN` instead,
 * and a carriage return turned into a newline (one before a newline dropped), so that nothing
 * printed can rewrite what the terminal shows or do anything beyond being read.
 */
export function visible(text: string): string {
  UNSAFE.lastIndex = 0;
  if (!UNSAFE.test(text) && !text.includes('\r')) return text;
  return text
    .replace(/\r\n/g, '\n')
    .replace(/\r/g, '\n')
    .replace(UNSAFE, (char) => {
      const code = char.charCodeAt(0);
      return code <= 0xff
        ? `\\x${code.toString(16).padStart(2, '0')}`
        : `\\u${code.toString(16).padStart(4, '0')}`;
    });
}

/**
 * JSON text for a terminal or a pipe: JSON.stringify escapes the C0 controls but leaves DEL, the
 * C1 controls and the invisible characters of UNSAFE as they are; each is written as its `\uNNNN`
 * escape instead. Still valid JSON, which decodes to the same value.
 */
export function visibleJson(json: string): string {
  UNSAFE.lastIndex = 0;
  if (!UNSAFE.test(json)) return json;
  return json.replace(UNSAFE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
