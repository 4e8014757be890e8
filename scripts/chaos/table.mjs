// The suite's table (pure): one row per scenario run, as markdown, so the same text goes to the
// terminal and to docs/RELIABILITY.md.

export const COLUMNS = [
  ['scenario', 'scenario', 'left'],
  ['broker', 'broker', 'left'],
  ['submitted', 'submitted', 'right'],
  ['completed', 'completed', 'right'],
  ['dead', 'dead', 'right'],
  ['lost', 'lost', 'right'],
  ['duplicateStarts', 'dup starts', 'right'],
  ['duplicateCompletions', 'dup completions', 'right'],
  ['wallSeconds', 'wall s', 'right'],
  ['criterion', 'criterion (measured)', 'left'],
  ['pass', 'pass', 'left'],
];

function cell(row, key) {
  const value = row[key];
  if (key === 'pass') return value === true ? 'pass' : value === false ? '**FAIL**' : 'n/a';
  if (key === 'wallSeconds' && typeof value === 'number') return value.toFixed(1);
  if (value === undefined || value === null) return '–';
  // A pipe would end the cell; a newline the row.
  return String(value).replaceAll('|', '\\|').replaceAll('\n', ' ');
}

/** A markdown table, columns padded to their widest cell. */
export function formatTable(rows) {
  const cells = rows.map((row) => COLUMNS.map(([key]) => cell(row, key)));
  const heads = COLUMNS.map(([, head]) => head);
  const widths = heads.map((head, i) => Math.max(head.length, 3, ...cells.map((c) => c[i].length)));
  const pad = (text, i) =>
    COLUMNS[i][2] === 'right' ? text.padStart(widths[i]) : text.padEnd(widths[i]);
  const line = (values) => `| ${values.map(pad).join(' | ')} |`;
  const rule = `| ${widths
    .map((w, i) => (COLUMNS[i][2] === 'right' ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w)))
    .join(' | ')} |`;
  return [line(heads), rule, ...cells.map(line)].join('\n');
}
