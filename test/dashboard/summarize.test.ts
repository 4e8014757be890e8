import { describe, expect, it } from 'vitest';
import { decodeBusEvent } from '../../src/dashboard/bus-event.js';
import { summarizeEvent } from '../../src/dashboard/summarize.js';
import { encodeMessage } from '../../src/protocol/codec.js';

function summarize(local: string, payload: unknown, sender = 'hub') {
  const bytes = Buffer.from(encodeMessage({ agentId: sender, role: 'testing' }, payload));
  return summarizeEvent(decodeBusEvent(local, bytes));
}

describe('one-line summaries of messages', () => {
  it('says who failed what, and whether it will be retried', () => {
    expect(
      summarize(
        'tasks/failed',
        { task_id: 't1', attempt: 2, duration_ms: 1500, error: 'exited 3\nboom', retryable: false },
        'tester',
      ),
    ).toEqual({
      agent: 'tester',
      text: 't1#2 failed in 1 s (not retryable): exited 3 | boom',
      level: 'warn',
    });
  });

  it('says which results of the agent a grant confirms as recorded', () => {
    const grant = {
      task_id: 't2',
      agent_id: 'tester',
      attempt: 1,
      lease_ms: 30_000,
      lease_expires_at: '2026-12-01T12:00:30.000Z',
      task: { task_id: 't2', type: 'testing.run', payload: {} },
    };
    expect(summarize('tasks/assigned/tester', grant).text).toBe(
      't2 -> tester attempt 1 (lease 30 s)',
    );
    expect(
      summarize('tasks/assigned/tester', { ...grant, settled: [{ task_id: 't1', attempt: 3 }] })
        .text,
    ).toBe('t2 -> tester attempt 1 (lease 30 s); recorded t1#3');
  });

  it("reports a cleared agent status as the agent's departure", () => {
    expect(summarizeEvent(decodeBusEvent('agents/tester/status', Buffer.alloc(0)))).toEqual({
      agent: 'tester',
      text: 'presence cleared (Last Will or goodbye)',
      level: 'warn',
    });
  });

  it('names the approval, command, rule and deadline of a request', () => {
    const line = summarize('approvals/request', {
      approval_id: 't1.1.abcd',
      task_id: 't1',
      attempt: 1,
      command: 'kubectl -n prod delete pod web-1',
      rule: 'kubectl * delete *',
      reason: 'asks',
      deadline: '2026-11-21T15:05:00.000Z',
    });
    expect(line.text).toMatch(
      /^t1\.1\.abcd asks approval for `kubectl -n prod delete pod web-1` \(rule "kubectl \* delete \*"\) until \d\d:05:00\.000$/,
    );
  });

  it('shows tokens and cost an agent reports in its heartbeat', () => {
    const line = summarize(
      'agents/heartbeat',
      {
        status: 'alive',
        uptime: 75,
        memory: { rss: 100 * 1048576, heapTotal: 1, heapUsed: 1 },
        role: 'general',
        running: [{ task_id: 'g1', attempt: 1 }],
        free: 0,
        usage: { input_tokens: 10_000, output_tokens: 2_345, cost_usd: 0.1234 },
      },
      'llm-1',
    );
    expect(line.text).toBe(
      'general alive, running g1#1, free 0, rss 100 MiB, up 1m15s, 12k tokens $0.123',
    );
  });

  it('shows any other topic as its payload, and a non-envelope as its text', () => {
    expect(summarize('deployment/status', { env: 'staging', ok: true }, 'deployer').text).toBe(
      '{"env":"staging","ok":true}',
    );
    expect(summarizeEvent(decodeBusEvent('broadcast', Buffer.from('hello all')))).toEqual({
      agent: '-',
      text: 'hello all',
      level: 'info',
    });
  });

  it('cuts a long payload to one bounded line', () => {
    const text = summarize('tasks/progress', {
      task_id: 't1',
      attempt: 1,
      message: 'x'.repeat(5_000),
    }).text;
    expect(text).toHaveLength(300);
    expect(text.endsWith('...')).toBe(true);
  });
});
