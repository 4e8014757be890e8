import { describe, expect, it } from 'vitest';
import { fitJson } from '../../src/protocol/fit-json.js';

const size = (value: unknown): number => Buffer.byteLength(JSON.stringify(value));

describe('fitJson', () => {
  it('returns a value that already fits unchanged', () => {
    const value = { a: 'short', b: [1, 2] };
    expect(fitJson(value, 1_000)).toEqual({ value, trimmed: false });
  });

  it('cuts the longest strings until the encoding fits, keeping their ends', () => {
    const value = { commands: [{ stdout: `${'x'.repeat(50_000)}THE END`, stderr: 'boom' }] };
    const { value: fitted, trimmed } = fitJson(value, 10_000);
    expect(trimmed).toBe(true);
    expect(size(fitted)).toBeLessThanOrEqual(10_000);
    expect(fitted.commands[0]?.stdout).toMatch(
      /^\[… \d+ chars cut to fit the message size limit …\]\n/,
    );
    expect(fitted.commands[0]?.stdout.endsWith('THE END')).toBe(true);
    expect(fitted.commands[0]?.stderr).toBe('boom');
  });

  it('does not change the value it was given', () => {
    const value = { text: 'y'.repeat(5_000) };
    fitJson(value, 1_000);
    expect(value.text).toHaveLength(5_000);
  });

  it('replaces a value that cannot be cut small enough with a note saying so', () => {
    const value = Array.from({ length: 2_000 }, (_, i) => i);
    const { value: fitted, trimmed } = fitJson(value, 100);
    expect(trimmed).toBe(true);
    expect(fitted).toEqual({
      trimmed: true,
      note: expect.stringContaining('too large for the message size limit of 100 bytes'),
    });
  });
});
