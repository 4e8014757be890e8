import { describe, expect, it } from 'vitest';
import { OutputCapture } from '../../../src/tools/shell/output-capture.js';

const MARKER = /\n\[… (\d+) chars cut …\]\n/;

function capture(limit: number, chunks: string[]): OutputCapture {
  const output = new OutputCapture(limit);
  for (const chunk of chunks) output.push(chunk);
  return output;
}

/** Head and tail as kept, without the marker. */
function keptParts(text: string): { head: string; tail: string; cut: number } {
  const match = MARKER.exec(text);
  if (!match) throw new Error(`no truncation marker in ${JSON.stringify(text)}`);
  return {
    head: text.slice(0, match.index),
    tail: text.slice(match.index + match[0].length),
    cut: Number(match[1]),
  };
}

describe('OutputCapture', () => {
  it('returns output under the limit unchanged, with no marker', () => {
    const output = capture(100, ['hello ', 'world\n']);
    expect(output.text()).toBe('hello world\n');
    expect(output.truncated).toBe(false);
    expect(output.length).toBe(12);
  });

  it('returns output of exactly the limit unchanged, even across many chunks', () => {
    const text = 'abcdefghij'.repeat(10);
    const output = capture(100, text.match(/.{1,7}/g) ?? []);
    expect(output.text()).toBe(text);
    expect(output.truncated).toBe(false);
  });

  it('keeps the first and last halves of a long output and counts what it cut', () => {
    const text = Array.from({ length: 1_000 }, (_, i) => String(i % 10)).join('');
    const output = capture(100, [text]);
    const { head, tail, cut } = keptParts(output.text());
    expect(head).toBe(text.slice(0, 50));
    expect(tail).toBe(text.slice(-50));
    expect(cut).toBe(900);
    expect(output.truncated).toBe(true);
    expect(output.length).toBe(1_000);
  });

  it('keeps head and tail within the limit for an odd limit', () => {
    const text = 'x'.repeat(500);
    const { head, tail, cut } = keptParts(capture(11, [text]).text());
    expect(head.length + tail.length).toBe(11);
    expect(head.length).toBe(6);
    expect(cut).toBe(489);
  });

  it('keeps the same head and tail however the stream is chunked', () => {
    const text = Array.from({ length: 300 }, (_, i) => `line ${i}\n`).join('');
    const whole = capture(200, [text]).text();
    const bytewise = capture(200, [...text]).text();
    const uneven = capture(200, text.match(/.{1,37}/gs) ?? []).text();
    expect(bytewise).toBe(whole);
    expect(uneven).toBe(whole);
  });

  it('reports exactly the characters dropped between head and tail', () => {
    const chunks = ['a'.repeat(30), 'b'.repeat(45), 'c'.repeat(25)];
    const text = chunks.join('');
    const { head, tail, cut } = keptParts(capture(40, chunks).text());
    expect(head).toBe('a'.repeat(20));
    expect(tail).toBe('c'.repeat(20));
    expect(cut).toBe(text.length - 40);
    expect(head + text.slice(20, 20 + cut) + tail).toBe(text);
  });

  it('always keeps the last line, where a command prints its error', () => {
    const lines = Array.from({ length: 5_000 }, (_, i) => `ok ${i}`);
    lines.push('Error: expected 2 to equal 3');
    const output = capture(
      4_000,
      lines.map((line) => `${line}\n`),
    );
    expect(output.truncated).toBe(true);
    expect(output.text().endsWith('Error: expected 2 to equal 3\n')).toBe(true);
  });

  it('puts the marker on a line of its own', () => {
    const text = capture(10, ['0123456789abcdefghij']).text();
    expect(text).toBe('01234\n[… 10 chars cut …]\nfghij');
  });

  it('is empty before any output', () => {
    const output = new OutputCapture(100);
    expect(output.text()).toBe('');
    expect(output.truncated).toBe(false);
    expect(output.length).toBe(0);
  });

  it('raises a limit below 2 to 2, so the tail cannot grow without bound', () => {
    const output = capture(1, ['a'.repeat(1_000)]);
    expect(output.text()).toBe('a\n[… 998 chars cut …]\na');
  });
});
