/**
 * `${{ … }}` in a flow's commands, prompts and URLs (PROTOCOL §17.1): a variable
 * (`vars.version`), the flow itself (`flow.id`, `flow.name`), or an output of a step that ran
 * before (`steps.deploy.outputs.url`). Nothing else: no functions, no operators, so a value
 * cannot compute anything.
 *
 * In a command the value becomes one shell word, quoted by sheri: `deploy --url ${{ x }}` with
 * x = `a b; rm -rf ~` runs `deploy --url 'a b; rm -rf ~'`. A placeholder inside quotes would be
 * spliced into the quoted text, where a `'`, `"` or `$(` in the value could end the quote or run
 * code, so it is refused when the flow is read.
 */

export type Expression =
  | { kind: 'var'; name: string }
  | { kind: 'flow'; field: 'id' | 'name' }
  | { kind: 'output'; step: string; output: string };

export interface Placeholder {
  /** Offsets of `${{` and just after `}}` in the text. */
  start: number;
  end: number;
  /** What stands between the braces, trimmed. */
  source: string;
  /** In a command: inside '…', "…" or $'…' (refused). */
  quoted: boolean;
}

const NAME = '[A-Za-z_][A-Za-z0-9_-]*';
const VAR = new RegExp(`^vars\\.(${NAME})$`);
const FLOW = /^flow\.(id|name)$/;
const OUTPUT = new RegExp(`^steps\\.(${NAME})\\.outputs\\.(${NAME})$`);

/** The expression between the braces, or why it is not one. */
export function parseExpression(source: string): Expression | string {
  const variable = VAR.exec(source);
  if (variable) return { kind: 'var', name: variable[1]! };
  const flow = FLOW.exec(source);
  if (flow) return { kind: 'flow', field: flow[1] as 'id' | 'name' };
  const output = OUTPUT.exec(source);
  if (output) return { kind: 'output', step: output[1]!, output: output[2]! };
  return `"\${{ ${source} }}" is not an expression sheri knows: use vars.NAME, flow.id, flow.name or steps.STEP.outputs.NAME`;
}

/**
 * Every `${{ … }}` of `text`, in order; `shell` tracks bash's quoting so a placeholder inside
 * quotes is marked. An opening `${{` without its `}}` is an error (returned as a string).
 */
export function findPlaceholders(text: string, shell: boolean): Placeholder[] | string {
  const found: Placeholder[] = [];
  let state: 'plain' | 'single' | 'double' | 'ansi' = 'plain';
  for (let i = 0; i < text.length;) {
    if (text.startsWith('${{', i)) {
      const close = text.indexOf('}}', i + 3);
      if (close < 0) return `"\${{" at character ${i + 1} has no closing "}}"`;
      found.push({
        start: i,
        end: close + 2,
        source: text.slice(i + 3, close).trim(),
        quoted: shell && state !== 'plain',
      });
      i = close + 2;
      continue;
    }
    if (!shell) {
      i += 1;
      continue;
    }
    const char = text[i];
    if (state === 'plain') {
      if (char === '\\') i += 2;
      else if (char === '$' && text[i + 1] === "'") {
        state = 'ansi';
        i += 2;
      } else {
        if (char === "'") state = 'single';
        else if (char === '"') state = 'double';
        i += 1;
      }
    } else if (state === 'single') {
      if (char === "'") state = 'plain';
      i += 1;
    } else {
      // In "…" and $'…' a backslash escapes the next character.
      if (char === '\\') i += 2;
      else {
        if ((state === 'double' && char === '"') || (state === 'ansi' && char === "'")) {
          state = 'plain';
        }
        i += 1;
      }
    }
  }
  return found;
}

/** Characters that mean nothing to bash in an unquoted word (no `=`: it could make an assignment). */
const SAFE_WORD = /^[A-Za-z0-9_./:@%+,-]+$/;

/** One shell word that bash reads back as exactly `value`. */
export function shellQuote(value: string): string {
  if (SAFE_WORD.test(value) && !value.startsWith('~')) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * `text` with each placeholder replaced by what `resolve` gives (an error string stops it); in a
 * command each value is quoted as one word. Placeholders were checked when the flow was read;
 * a quoted one found here (a flow from elsewhere) is refused all the same.
 */
export function renderTemplate(
  text: string,
  shell: boolean,
  resolve: (expression: Expression) => { value: string } | { error: string },
): { text: string } | { error: string } {
  const placeholders = findPlaceholders(text, shell);
  if (typeof placeholders === 'string') return { error: placeholders };
  let out = '';
  let at = 0;
  for (const placeholder of placeholders) {
    if (placeholder.quoted) return { error: quotedProblem(placeholder.source) };
    const expression = parseExpression(placeholder.source);
    if (typeof expression === 'string') return { error: expression };
    const resolved = resolve(expression);
    if ('error' in resolved) return resolved;
    out +=
      text.slice(at, placeholder.start) + (shell ? shellQuote(resolved.value) : resolved.value);
    at = placeholder.end;
  }
  return { text: out + text.slice(at) };
}

export function quotedProblem(source: string): string {
  return `"\${{ ${source} }}" stands inside quotes: put it outside them — sheri quotes each value as one word itself`;
}
