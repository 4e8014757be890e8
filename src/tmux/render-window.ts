/**
 * A tmux window as plain text: each pane's captured screen at its place, the borders between
 * panes drawn as tmux draws them, and each pane's label in the border above it. For snapshots of
 * a swarm that read anywhere (docs, bug reports), since `capture-pane` sees one pane at a time.
 */

export interface PaneScreen {
  left: number;
  top: number;
  width: number;
  height: number;
  /** The pane's rows, as `capture-pane -p` prints them. */
  text: string;
  /** Written into the border row above the pane, when there is one. */
  label?: string;
}

/** Box-drawing by which neighbours (up, down, left, right) are border cells too. */
const JUNCTIONS: Record<string, string> = {
  '1111': '┼',
  '0111': '┬',
  '1011': '┴',
  '1110': '┤',
  '1101': '├',
  '0011': '─',
  '1100': '│',
  '0101': '┌',
  '0110': '┐',
  '1001': '└',
  '1010': '┘',
};

export function renderWindow(panes: readonly PaneScreen[]): string {
  if (panes.length === 0) return '';
  const width = Math.max(...panes.map((pane) => pane.left + pane.width));
  const height = Math.max(...panes.map((pane) => pane.top + pane.height));
  const owner: (number | undefined)[][] = Array.from({ length: height }, () =>
    Array<number | undefined>(width).fill(undefined),
  );
  const canvas: string[][] = Array.from({ length: height }, () => Array<string>(width).fill(' '));
  panes.forEach((pane, index) => {
    const rows = pane.text.split('\n');
    for (let y = 0; y < pane.height; y++) {
      // Code points, not UTF-16 units: the ▶ ✓ of agent lines each fill one cell.
      const cells = [...(rows[y] ?? '')];
      for (let x = 0; x < pane.width; x++) {
        owner[pane.top + y]![pane.left + x] = index;
        canvas[pane.top + y]![pane.left + x] = cells[x] ?? ' ';
      }
    }
  });
  const inPane = (x: number, y: number): boolean =>
    y >= 0 && y < height && x >= 0 && x < width && owner[y]![x] !== undefined;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (inPane(x, y)) continue;
      const across = inPane(x - 1, y) || inPane(x + 1, y);
      const along = inPane(x, y - 1) || inPane(x, y + 1);
      if (across !== along) {
        canvas[y]![x] = across ? '│' : '─';
        continue;
      }
      // A corner or junction: which neighbouring cells are border too.
      const border = (bx: number, by: number): boolean =>
        by >= 0 && by < height && bx >= 0 && bx < width && !inPane(bx, by);
      const key = [border(x, y - 1), border(x, y + 1), border(x - 1, y), border(x + 1, y)]
        .map(Number)
        .join('');
      canvas[y]![x] = JUNCTIONS[key] ?? '┼';
    }
  }
  for (const pane of panes) {
    const row = pane.top - 1;
    if (!pane.label || row < 0) continue;
    const label = [...` ${pane.label} `].slice(0, Math.max(0, pane.width - 2));
    label.forEach((char, i) => (canvas[row]![pane.left + 1 + i] = char));
  }
  return `${canvas.map((row) => row.join('').trimEnd()).join('\n')}\n`;
}
