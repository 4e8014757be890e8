import { describe, expect, it } from 'vitest';
import { failureOutput } from '../../src/tasks/flow-queries.js';

describe("a failed step's output as flow queries show it (failureOutput)", () => {
  const failed = (stdout: string) => ({
    result: { commands: [{ command: 'npm test', exit_code: 1, stdout, stderr: '' }] },
  });

  it('shows a TAP run from its first failing test on', () => {
    const shown = failureOutput(failed('ok 1 - a\n  not ok 2 - greets\n  ---\nok 3 - c\n'));
    expect(shown).toBe('$ npm test  (exit 1)\n  not ok 2 - greets\n  ---\nok 3 - c');
  });

  it('reads an output of many blank lines in one pass: a task cannot stall the hub with it', () => {
    // `^\s*` spanned the newlines: 200k blank lines took the hub's event loop for minutes.
    const shown = failureOutput(failed(`${'\n'.repeat(200_000)}x`));
    expect(shown).toMatch(/^\$ npm test {2}\(exit 1\)\n…\n[\n]*x$/);
  });
});
