/**
 * Lay out rows as aligned columns in `width` characters, `docker ps` style: each column as wide as
 * its widest cell (up to its cap), the last one taking what is left; cells too long are cut.
 * When the columns do not fit, the widest are narrowed first, so that every column shows.
 * Plain text only: the screen adds colour to whole lines.
 */
export function formatColumns(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  width: number,
  caps: readonly number[] = [],
): { header: string; lines: string[] } {
  const last = headers.length - 1;
  const widths = headers.map((header, i) => {
    if (i === last) return 0;
    let widest = header.length;
    for (const row of rows) widest = Math.max(widest, (row[i] ?? '').length);
    return Math.min(widest, caps[i] ?? 40);
  });
  // Too wide for the pane: narrow the widest columns (never below their header) before any
  // column is cut off at the right edge, so the last ones (AGE, PROGRESS) stay in view.
  const room = width - Math.min(10, headers[last]?.length ?? 0);
  let used = widths.slice(0, last).reduce((sum, w) => sum + w + 2, 0);
  while (used > room) {
    let widest = -1;
    for (let i = 0; i < last; i++) {
      const slack = widths[i]! - headers[i]!.length;
      if (slack > 0 && (widest < 0 || slack > widths[widest]! - headers[widest]!.length))
        widest = i;
    }
    if (widest < 0) break;
    widths[widest]! -= 1;
    used -= 1;
  }
  widths[last] = Math.max(0, width - used);
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => fit(cell, widths[i] ?? 0, i === last))
      .join('  ')
      .slice(0, width)
      .trimEnd();
  return { header: line(headers), lines: rows.map(line) };
}

function fit(cell: string, width: number, last: boolean): string {
  if (cell.length > width) return width > 1 ? `${cell.slice(0, width - 1)}~` : cell.slice(0, width);
  return last ? cell : cell.padEnd(width);
}
