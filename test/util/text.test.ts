import { describe, expect, it } from 'vitest';
import { clip } from '../../src/util/text.js';

describe('clip', () => {
  it('keeps text that fits and marks a cut with an ellipsis, within the limit', () => {
    expect(clip('abcde', 5)).toBe('abcde');
    expect(clip('abcdef', 5)).toBe('abcd…');
    expect(clip('abcdef', 5)).toHaveLength(5);
  });
});
