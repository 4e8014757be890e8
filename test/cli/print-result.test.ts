import { describe, expect, it } from 'vitest';
import { printResult } from '../../src/cli/print-result.js';

/** What printResult writes, stdout and stderr apart. */
function printed(result: unknown): { out: string; err: string } {
  const seen = { out: '', err: '' };
  printResult(result, { out: (text) => (seen.out += text), err: (text) => (seen.err += text) });
  return seen;
}

describe("a task's result on the operator's terminal (printResult)", () => {
  it("shows a model's answer with escape sequences in it as text", () => {
    // A prompt-injected model writing the clipboard and clearing the screen.
    const { out, err } = printed({
      text: 'done\x1b]52;c;ZXZpbA==\x07\x1b[2J',
      model: 'm\x1b[31m',
      turns: 1,
      usage: { input_tokens: 1, output_tokens: 1, cost_usd: 0 },
    });
    expect(out).toBe('done\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J\n');
    expect(err).toBe('(m\\x1b[31m: 1 turns, 1 in / 1 out tokens, $0.0000)\n');
  });

  it('keeps a result of another shape valid JSON, its C1 controls as \\u escapes', () => {
    const { out } = printed({ note: 'x\u009b2J' });
    expect(out).toBe('{\n  "note": "x\\u009b2J"\n}\n');
    expect(JSON.parse(out)).toEqual({ note: 'x\u009b2J' });
  });
});
