/**
 * Which `${…}` forms the parser lets through: those that only read a variable. Bash runs code or
 * assigns while expanding some of them, through the value of a variable the policy never sees:
 * `${x@P}` expands the value as a prompt (its `$( … )` runs), `${!x}` and `${x[i]}` / `${x:i}`
 * evaluate a name or arithmetic taken from a value (`a[$(…)]` runs), `${x:=v}` assigns.
 * Pure; the caller has already refused quotes, `$`, backticks and backslashes inside the braces.
 */

const NAME = String.raw`(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!-])`;
/** A literal index, or every element: no arithmetic is evaluated. */
const SUBSCRIPT = String.raw`(?:\[(?:-?[0-9]+|@|\*)\])?`;
const PLAIN = new RegExp(`^#?${NAME}${SUBSCRIPT}$`);
const WITH_OPERATOR = new RegExp(`^(${NAME}${SUBSCRIPT})(.+)$`, 's');
/** `:-` `-` `:?` `?` `:+` `+`, pattern removal, replacement and case changes, then any word. */
const READING_OPERATOR = /^(:?[-?+]|#{1,2}|%{1,2}|\/[/#%]?|\^{1,2}|,{1,2})/;
/** `${x:1}`, `${x: -2:1}`: offsets written as plain numbers. */
const NUMERIC_SLICE = /^:\s*-?[0-9]+(\s*:\s*-?[0-9]+)?\s*$/;

/** Why `${inner}` is refused, or undefined when bash only reads a variable to expand it. */
export function checkParameterExpansion(inner: string): string | undefined {
  const shown = `\`\${${inner}}\``;
  if (inner.includes('{')) return `parameter expansion ${shown} with a nested \`{\` is refused`;
  if (PLAIN.test(inner)) return undefined;
  if (inner.startsWith('!'))
    return `indirect expansion ${shown} is refused: bash evaluates the name it finds, subscripts included`;
  const match = WITH_OPERATOR.exec(inner);
  const rest = match?.[2] ?? '';
  if (!match) return `parameter expansion ${shown} is refused: not a form sheri can analyse`;
  if (rest.startsWith('@'))
    return `transformation ${shown} is refused: \`@P\` runs the command substitutions of a value`;
  if (/^:?=/.test(rest)) return `assigning expansion ${shown} is refused: it sets a variable`;
  if (READING_OPERATOR.test(rest)) return undefined;
  if (rest.startsWith(':')) {
    if (NUMERIC_SLICE.test(rest)) return undefined;
    return `substring ${shown} is refused: offsets other than plain numbers are arithmetic, which can run commands`;
  }
  if (rest.startsWith('['))
    return `subscript in ${shown} is refused: bash evaluates it as arithmetic`;
  return `parameter expansion ${shown} is refused: not a form sheri can analyse`;
}
