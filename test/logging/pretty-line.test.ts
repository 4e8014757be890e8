import { describe, expect, it } from 'vitest';
import { formatPrettyLine } from '../../src/logging/pretty-line.js';

const at = new Date(2026, 0, 2, 12, 1, 2).getTime();

function line(log: Record<string, unknown>): string {
  return formatPrettyLine({ time: at, level: 30, ...log }, false);
}

describe('pretty log lines', () => {
  it('shows a task milestone as time, agent, mark and message only', () => {
    const fields = { agentId: 'testing-3fa1b2', taskId: 't-17', attempt: 1 };
    expect(
      line({
        ...fields,
        event: 'claimed',
        type: 'testing.run',
        msg: 'claimed t-17 (testing.run, attempt 1)',
      }),
    ).toBe('12:01:02 testing-3fa1b2 ▶ claimed t-17 (testing.run, attempt 1)');
    expect(line({ ...fields, event: 'progress', percent: 0, msg: 'running 1/1: npm test' })).toBe(
      '12:01:02 testing-3fa1b2 › running 1/1: npm test',
    );
    expect(
      line({ ...fields, event: 'completed', durationMs: 812, msg: 'completed t-17 in 812 ms' }),
    ).toBe('12:01:02 testing-3fa1b2 ✓ completed t-17 in 812 ms');
    expect(
      line({ ...fields, level: 40, event: 'failed', msg: 'failed t-17 after 9 ms: exited 1' }),
    ).toBe('12:01:02 testing-3fa1b2 ✗ failed t-17 after 9 ms: exited 1');
  });

  it('shows the fields of other records as key=value, long values cut', () => {
    const text = line({
      msg: 'task requeued',
      taskId: 't-9',
      delayMs: 250,
      reason: 'lease lapsed',
      detail: 'x'.repeat(200),
    });
    expect(text).toMatch(
      /^12:01:02 · task requeued taskId=t-9 delayMs=250 reason="lease lapsed" detail=x{79}…$/,
    );
    expect(text.length).toBeLessThan(160);
  });

  it('marks warnings and errors, with the error message but not its stack', () => {
    expect(line({ level: 40, msg: 'publish failed', topic: 'tasks/claim' })).toBe(
      '12:01:02 ! publish failed topic=tasks/claim',
    );
    const error = line({
      level: 50,
      msg: 'hub failed',
      err: { type: 'Error', message: 'disk full', stack: 'Error: disk full\n    at x' },
    });
    expect(error).toBe('12:01:02 ✗ hub failed — disk full');
  });

  it('colours only when asked to', () => {
    const log = { time: at, level: 30, agentId: 'a-1', event: 'completed', msg: 'done' };
    expect(formatPrettyLine(log, false)).not.toContain('\x1b[');
    expect(formatPrettyLine(log, true)).toContain('\x1b[32m✓\x1b[39m');
  });
});
