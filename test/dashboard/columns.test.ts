import { describe, expect, it } from 'vitest';
import { formatColumns } from '../../src/dashboard/columns.js';

describe('formatColumns', () => {
  it('aligns columns, cuts a cell past its cap with a marker, and gives the last column the rest', () => {
    const { header, lines } = formatColumns(
      ['ID', 'STATE', 'NOTE'],
      [
        ['a-very-long-task-id', 'running', 'halfway there'],
        ['t2', 'queued', ''],
      ],
      32,
      [8, 10],
    );
    expect(header).toBe('ID        STATE    NOTE');
    expect(lines).toEqual(['a-very-~  running  halfway there', 't2        queued']);
    expect(formatColumns(['ID', 'NOTE'], [['t1', 'halfway there']], 12).lines).toEqual([
      't1  halfway~',
    ]);
  });
});
