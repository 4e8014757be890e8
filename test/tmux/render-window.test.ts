import { describe, expect, it } from 'vitest';
import { renderWindow } from '../../src/tmux/render-window.js';

describe('a window rendered as text', () => {
  it('places side-by-side panes with a border between them', () => {
    const text = renderWindow([
      { left: 0, top: 0, width: 5, height: 2, text: 'ab\ncd' },
      { left: 6, top: 0, width: 5, height: 2, text: '▶ x\n✓ y' },
    ]);
    expect(text).toBe('ab   │▶ x\ncd   │✓ y\n');
  });

  it('draws a grid of four with a junction, and labels in the border above each pane', () => {
    const panes = [
      { left: 0, top: 1, width: 4, height: 1, text: 'p0', label: '0' },
      { left: 5, top: 1, width: 4, height: 1, text: 'p1', label: '1' },
      { left: 0, top: 3, width: 4, height: 1, text: 'p2', label: '2' },
      { left: 5, top: 3, width: 4, height: 1, text: 'p3', label: '3' },
    ];
    expect(renderWindow(panes).split('\n')).toEqual([
      '─ 0─┬─ 1─',
      'p0  │p1',
      '─ 2─┼─ 3─',
      'p2  │p3',
      '',
    ]);
  });

  it('cuts lines wider than their pane and fills short screens', () => {
    const text = renderWindow([
      { left: 0, top: 0, width: 3, height: 2, text: 'abcdef' },
      { left: 4, top: 0, width: 3, height: 2, text: '' },
    ]);
    expect(text).toBe('abc│\n   │\n');
  });
});
