import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { callTools, fail, say, stopWith } from '../helpers/fake-llm-server.js';
import { LlmTaskHarness } from '../helpers/llm-task.js';

/** A file of about 32 KB (8,000 tokens at the fake's 4 characters per token). */
function writeLines(dir: string, name: string, word: string): void {
  writeFileSync(join(dir, name), `${word} `.repeat(15).concat('\n').repeat(350));
}

/** What a truncated review looked like when it was run: a write_file cut mid-word. */
const CUT_WRITE = {
  name: 'write_file',
  input: { path: 'review.md', content: '# Review\n\nVerdict: requ' },
};

describe('every stop reason of the Messages API, handled on purpose (fake Messages API, real SDK)', () => {
  let harness: LlmTaskHarness;
  afterEach(async () => harness.close());

  it('never runs a write_file cut at max_tokens: the file does not exist, and the turn is asked again with twice the output limit', async () => {
    harness = await LlmTaskHarness.start(
      [stopWith('max_tokens', { calls: [CUT_WRITE] }), say('Verdict: request changes.')],
      { role: 'general' },
    );
    await harness.submit({ task_id: 'cut-write', type: 'code.generate' });
    const { complete } = await harness.outcomeOf('cut-write');
    expect(existsSync(join(harness.repo, 'review.md'))).toBe(false);
    const [first, second] = harness.fake.requests;
    expect(second!.body.max_tokens).toBe(2 * first!.body.max_tokens);
    // The cut answer was dropped, not kept in the conversation.
    expect(second!.body.messages).toHaveLength(1);
    expect(complete).toMatchObject({
      result: { text: 'Verdict: request changes.', stopped_by: 'answer', turns: 2, tool_calls: 0 },
    });
    expect(harness.progressOf('cut-write')).toContain(
      "the model's answer was cut at 8192 output tokens while calling write_file; not run, asking again with 16384",
    );
  });

  it('fails, not retried, when the answer is cut at every output limit up to the largest, and nothing of it runs', async () => {
    harness = await LlmTaskHarness.start([], {
      role: 'general',
      fake: {
        whenDone: stopWith('max_tokens', {
          calls: [{ name: 'run_shell', input: { command: 'touch ran.txt' } }],
        }),
      },
      settings: { maxTokens: 1_000, maxOutputTokens: 4_000 },
    });
    await harness.submit({ task_id: 'always-cut', type: 'code.generate' });
    const { complete, failed, dead } = await harness.outcomeOf('always-cut');
    expect(complete).toBeUndefined();
    expect(dead).toBeDefined();
    expect(existsSync(join(harness.repo, 'ran.txt'))).toBe(false);
    expect(harness.fake.requests.map((r) => r.body.max_tokens)).toEqual([1_000, 2_000, 4_000]);
    expect(failed).toEqual([
      expect.objectContaining({
        retryable: false,
        error:
          "the model's answer was cut at its output limit of 4000 tokens while calling run_shell, again, at the largest limit allowed (llm.maxOutputTokens 4000); nothing of it was run or kept",
        result: expect.objectContaining({ stopped_by: 'truncated', stop_reason: 'max_tokens' }),
      }),
    ]);
  });

  it('does not end a final answer cut at max_tokens as complete', async () => {
    harness = await LlmTaskHarness.start([], {
      fake: { whenDone: stopWith('max_tokens', { text: 'The review found three iss' }) },
      settings: { maxTokens: 2_000, maxOutputTokens: 2_000 },
    });
    await harness.submit({ task_id: 'cut-answer' });
    const { complete, failed } = await harness.outcomeOf('cut-answer');
    expect(complete).toBeUndefined();
    expect(failed[0]).toMatchObject({
      retryable: false,
      error: expect.stringContaining(
        "the model's answer was cut at its output limit of 2000 tokens in its answer",
      ),
      result: { stopped_by: 'truncated' },
    });
  });

  it('fails a refusal with its category and explanation, without retrying', async () => {
    const explanation = 'This request was declined because it could enable cyber harm.';
    harness = await LlmTaskHarness.start([
      stopWith('refusal', { text: 'I', stopDetails: { category: 'cyber', explanation } }),
    ]);
    await harness.submit({ task_id: 'refused' });
    const { complete, failed } = await harness.outcomeOf('refused');
    expect(complete).toBeUndefined();
    expect(harness.fake.requests).toHaveLength(1);
    expect(failed).toEqual([
      expect.objectContaining({
        retryable: false,
        error: `the model refused the task (category cyber): ${explanation}`,
        result: expect.objectContaining({
          stopped_by: 'refusal',
          stop_reason: 'refusal',
          refusal: { category: 'cyber', explanation },
        }),
      }),
    ]);
  });

  it('sends a pause_turn back as it is, and the model continues', async () => {
    harness = await LlmTaskHarness.start([
      stopWith('pause_turn', { text: 'Searching the history…' }),
      say('Found it: renew returns a stale attempt.'),
    ]);
    await harness.submit({ task_id: 'paused' });
    const { complete } = await harness.outcomeOf('paused');
    const second = harness.fake.requests[1]!;
    // The paused answer is the last message: no user message after it.
    expect(second.body.messages.at(-1)).toEqual({
      role: 'assistant',
      content: [{ type: 'text', text: 'Searching the history…' }],
    });
    expect(complete).toMatchObject({
      result: { text: 'Found it: renew returns a stale attempt.', turns: 2, stopped_by: 'answer' },
    });
  });

  it('compacts old tool results when the context window fills mid-answer, and goes on', async () => {
    harness = await LlmTaskHarness.start(
      [
        callTools([{ name: 'read_file', input: { path: 'a.txt' } }]),
        callTools([{ name: 'read_file', input: { path: 'b.txt' } }]),
        stopWith('model_context_window_exceeded', { text: 'The lease' }),
        say('The lease renewal is off by one.'),
      ],
      { fake: { measure: true } },
    );
    writeLines(harness.repo, 'a.txt', 'alpha');
    writeLines(harness.repo, 'b.txt', 'beta');
    await harness.submit({ task_id: 'full' });
    const { complete } = await harness.outcomeOf('full');
    const last = harness.fake.requests[3]!.body.messages;
    expect(last[2].content[0].content).toMatch(
      /^\[cleared to keep the conversation within its context budget: \d+ characters from read_file \{"path":"a.txt"\}; call it again if you need them\]$/,
    );
    expect(last[4].content[0].content).toContain('beta');
    expect(complete).toMatchObject({
      result: {
        text: 'The lease renewal is off by one.',
        compactions: [expect.objectContaining({ turn: 3, reason: 'context_window', cleared: 1 })],
      },
    });
    expect(harness.progressOf('full')).toContainEqual(
      expect.stringMatching(/^context compacted: cleared 1 old tool result\(s\)/),
    );
  });

  it('compacts and sends again a request the API refuses as longer than the context window', async () => {
    harness = await LlmTaskHarness.start(
      [
        callTools([{ name: 'read_file', input: { path: 'a.txt' } }]),
        callTools([{ name: 'read_file', input: { path: 'b.txt' } }]),
        say('Read both.'),
      ],
      { fake: { measure: true, contextWindow: 12_000 } },
    );
    writeLines(harness.repo, 'a.txt', 'alpha');
    writeLines(harness.repo, 'b.txt', 'beta');
    await harness.submit({ task_id: 'too-long' });
    const { complete } = await harness.outcomeOf('too-long');
    expect(complete).toMatchObject({
      result: { text: 'Read both.', compactions: [expect.anything()] },
    });
    // The third request was refused (400), compacted, and sent again.
    expect(harness.fake.requests).toHaveLength(4);
    expect(harness.fake.requests[3]!.usage!.total).toBeLessThanOrEqual(12_000);
    expect(harness.progressOf('too-long')).toContainEqual(
      expect.stringMatching(
        /^the request did not fit the model's context window \(Anthropic API: 400 prompt is too long/,
      ),
    );
  });

  it('fails clearly when the context window is full and there is no old tool result left to clear', async () => {
    harness = await LlmTaskHarness.start([
      stopWith('model_context_window_exceeded', { text: 'The' }),
    ]);
    await harness.submit({ task_id: 'no-room' });
    const { failed } = await harness.outcomeOf('no-room');
    expect(failed[0]).toMatchObject({
      retryable: false,
      error: expect.stringMatching(
        /more than the model's context window, even with every old tool result cleared$/,
      ),
      result: { stopped_by: 'context' },
    });
  });

  it('completes on stop_sequence, and fails clearly on a stop reason it does not know', async () => {
    harness = await LlmTaskHarness.start([
      stopWith('stop_sequence', { text: 'Done.' }),
      stopWith('compaction', { text: 'Hm' }),
    ]);
    await harness.submit({ task_id: 'seq' });
    expect((await harness.outcomeOf('seq')).complete).toMatchObject({
      result: { text: 'Done.', stop_reason: 'stop_sequence' },
    });
    await harness.submit({ task_id: 'odd' });
    const { failed } = await harness.outcomeOf('odd');
    expect(failed[0]).toMatchObject({
      retryable: false,
      error:
        'the model stopped for a reason sheri does not know ("compaction"), so its answer cannot be trusted to be whole',
      result: { stopped_by: 'unknown_stop', provider_stop_reason: 'compaction' },
    });
  });
});

describe('requests to the model: streaming, inactivity, retries', () => {
  let harness: LlmTaskHarness;
  afterEach(async () => harness.close());

  it('gives up on a streamed answer that goes silent, after the inactivity timeout, and asks again', async () => {
    harness = await LlmTaskHarness.start(
      [{ kind: 'reply', text: 'Looking at', stall: true }, say('All good.')],
      { settings: { idleTimeoutMs: 300 } },
    );
    await harness.submit({ task_id: 'hung' });
    const { complete } = await harness.outcomeOf('hung');
    expect(complete).toMatchObject({ result: { text: 'All good.' } });
    expect(harness.progressOf('hung')).toContainEqual(
      expect.stringMatching(
        /^model request failed \(the Anthropic API sent nothing for 0\.3 s in the middle of an answer \(llm\.idleTimeoutMs\)\); retry 1\/4/,
      ),
    );
  });

  it('does not retry a 5xx that names a setup mistake, nor one that says the same thing twice', async () => {
    harness = await LlmTaskHarness.start([
      fail(500, undefined, 'tools param requires --jinja flag'),
      fail(500, undefined, 'template failed'),
      fail(500, undefined, 'template failed'),
    ]);
    await harness.submit({ task_id: 'jinja' });
    const first = await harness.outcomeOf('jinja');
    expect(harness.fake.requests).toHaveLength(1);
    expect(first.failed[0]).toMatchObject({
      retryable: false,
      error: 'Anthropic API: 500 tools param requires --jinja flag',
    });
    await harness.submit({ task_id: 'twice' });
    const second = await harness.outcomeOf('twice');
    expect(harness.fake.requests).toHaveLength(3);
    expect(second.failed[0]).toMatchObject({
      retryable: false,
      error: 'Anthropic API: 500 template failed (the same answer twice: retrying will not help)',
    });
  });

  it('hands the task back, retryable, when retry-after asks for longer than llm.maxRetryWaitMs', async () => {
    harness = await LlmTaskHarness.start([fail(429, 120), say('later')], {
      settings: { maxRetryWaitMs: 1_000 },
    });
    await harness.submit({ task_id: 'wait-long', max_attempts: 2 });
    const { failed, complete } = await harness.outcomeOf('wait-long');
    expect(failed[0]).toMatchObject({
      attempt: 1,
      retryable: true,
      error: expect.stringContaining(
        'the server asks to wait 120 s, more than llm.maxRetryWaitMs (1 s), so the task goes back to be retried later',
      ),
    });
    // The hub retried it, with its own backoff, and the second attempt went through.
    expect(complete).toMatchObject({ attempt: 2, result: { text: 'later' } });
  });
});
