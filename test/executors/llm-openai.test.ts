import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { callTools, FakeLlmServer, say, stopWith } from '../helpers/fake-llm-server.js';
import { LlmTaskHarness } from '../helpers/llm-task.js';
import { makeReviewRepo } from '../helpers/llm-swarm.js';
import { runSheri, startSheri } from '../helpers/sheri-process.js';
import { TestSwarm } from '../helpers/swarm.js';

describe('prompt tasks on an OpenAI-compatible server (sheri agent --llm openai)', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  it('runs the review task against the fake chat-completions endpoint, tools translated both ways', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    await swarm.startHub();
    const recorder = await swarm.record();
    const fake = await FakeLlmServer.start([
      callTools([
        { name: 'read_file', input: { path: 'src/lease.ts' } },
        { name: 'run_shell', input: { command: 'git diff --stat' } },
      ]),
      say('Looks wrong: renew returns attempt - 1.', { input: 900, output: 40, cacheRead: 100 }),
    ]);
    swarm.onClose(() => fake.close());
    const repo = join(swarm.dir, 'repo');
    mkdirSync(repo);
    makeReviewRepo(repo);
    // A real agent process, configured by flags only, as a user would start it for Ollama.
    const agent = startSheri(
      [
        'agent',
        '--role',
        'review',
        '--agent-id',
        'reviewer-local',
        '--broker',
        swarm.brokerUrl,
        '--swarm',
        swarm.swarm,
        '--llm',
        'openai',
        '--llm-base-url',
        fake.openaiBaseUrl,
        '--model',
        'llama-test',
        '--data-dir',
        swarm.dataDir,
      ],
      { cwd: repo },
    );
    swarm.onClose(() => agent.kill('SIGINT'));
    await agent.waitForOutput('joined swarm');
    await swarm.submit([
      { task_id: 'local-review', type: 'code.review', payload: {}, prompt: 'Review the change' },
    ]);
    await recorder.waitFor(
      () => recorder.on('tasks/complete').length === 1,
      20_000,
      () => agent.output(),
    );

    expect(fake.requests.map((r) => r.api)).toEqual(['openai', 'openai']);
    const [first, second] = fake.requests;
    expect(first!.headers.authorization).toBeUndefined(); // a local server needs no key
    expect(first!.body).toMatchObject({
      model: 'llama-test',
      messages: [
        { role: 'system', content: expect.stringContaining('code reviewer') },
        { role: 'user', content: expect.stringContaining('Review the change') },
      ],
    });
    expect(first!.body.tools[1]).toMatchObject({
      type: 'function',
      function: { name: 'read_file', parameters: { type: 'object', required: ['path'] } },
    });
    // The calls and their results, in the chat-completions shape.
    const [, , assistant, readResult, shellResult] = second!.body.messages;
    expect(
      assistant.tool_calls.map((c: { function: { name: string } }) => c.function.name),
    ).toEqual(['read_file', 'run_shell']);
    expect(readResult).toMatchObject({
      role: 'tool',
      tool_call_id: assistant.tool_calls[0].id,
      content: expect.stringContaining('return attempt - 1; // stale'),
    });
    expect(shellResult).toMatchObject({
      role: 'tool',
      tool_call_id: assistant.tool_calls[1].id,
      content: expect.stringContaining('src/lease.ts | 2 +-'),
    });
    expect(recorder.on('tasks/complete')[0]!.payload).toMatchObject({
      task_id: 'local-review',
      result: {
        text: 'Looks wrong: renew returns attempt - 1.',
        provider: 'openai',
        model: 'llama-test',
        turns: 2,
        // A local model has no price: tokens counted, cost zero, and marked unpriced.
        usage: {
          input_tokens: 1_000,
          output_tokens: 90,
          cache_read_input_tokens: 100,
          cost_usd: 0,
        },
        priced: false,
      },
    });
  });

  it('refuses LLM settings that cannot work before joining, with exit codes', async () => {
    swarm = new TestSwarm();
    const base = ['agent', '--role', 'review', '--broker', 'mqtt://127.0.0.1:9'];
    const noKey = await runSheri([...base, '--llm', 'anthropic']);
    expect(noKey).toMatchObject({ code: 4 });
    expect(noKey.stderr).toContain(
      'the anthropic provider needs an API key: export ANTHROPIC_API_KEY',
    );
    const noModel = await runSheri([...base, '--llm', 'openai']);
    expect(noModel).toMatchObject({ code: 2 });
    expect(noModel.stderr).toContain('--llm openai needs --model');
    const bogus = await runSheri([...base, '--llm', 'gpt']);
    expect(bogus).toMatchObject({ code: 2 });
    expect(bogus.stderr).toContain('--llm must be one of anthropic, openai, none, got "gpt"');
    for (const run of [noKey, noModel, bogus]) expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses at start a server that does not serve the model, naming the ones it does', async () => {
    swarm = new TestSwarm();
    const fake = await FakeLlmServer.start([], { models: ['qwen3', 'llama3.1'] });
    swarm.onClose(() => fake.close());
    const run = await runSheri([
      'agent',
      '--role',
      'review',
      '--broker',
      'mqtt://127.0.0.1:9',
      '--llm',
      'openai',
      '--llm-base-url',
      fake.openaiBaseUrl,
      '--model',
      'llama-test',
      '--data-dir',
      swarm.dataDir,
    ]);
    expect(run.code).toBe(4);
    expect(run.stderr).toContain(
      'does not serve the model "llama-test"; it serves "qwen3", "llama3.1" (for Ollama: ollama pull llama-test)',
    );
    expect(fake.requests).toEqual([]);
  });

  it('refuses at start, exit 3, an OpenAI-compatible server that does not answer', async () => {
    swarm = new TestSwarm();
    const run = await runSheri([
      'agent',
      '--role',
      'review',
      '--broker',
      'mqtt://127.0.0.1:9',
      '--llm',
      'openai',
      '--llm-base-url',
      'http://127.0.0.1:9/v1',
      '--model',
      'llama-test',
      '--data-dir',
      swarm.dataDir,
    ]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('no OpenAI-compatible server answers at http://127.0.0.1:9/v1');
  });
});

describe('stop reasons of an OpenAI-compatible server', () => {
  let harness: LlmTaskHarness;
  afterEach(async () => harness.close());

  it('fails the review task clearly on finish_reason "length" instead of completing it', async () => {
    harness = await LlmTaskHarness.start([], {
      api: 'openai',
      fake: { whenDone: stopWith('length', { text: '# Review\n\nVerdict: requ' }) },
    });
    await harness.submit({ task_id: 'local-cut', prompt: 'Review the change' });
    const { complete, failed } = await harness.outcomeOf('local-cut');
    expect(complete).toBeUndefined();
    expect(harness.fake.requests.map((r) => r.body.max_tokens)).toEqual([8_192, 16_384, 32_768]);
    expect(failed).toEqual([
      expect.objectContaining({
        retryable: false,
        error:
          "the model's answer was cut at its output limit of 32768 tokens in its answer, again, at the largest limit allowed (llm.maxOutputTokens 32768); nothing of it was run or kept",
        result: expect.objectContaining({
          provider: 'openai',
          stopped_by: 'truncated',
          stop_reason: 'max_tokens',
          provider_stop_reason: 'length',
        }),
      }),
    ]);
  });

  it('never runs tool calls whose arguments were cut by finish_reason "length"', async () => {
    harness = await LlmTaskHarness.start(
      [
        stopWith('length', {
          calls: [{ name: 'write_file', input: { path: 'out.md', content: 'half' } }],
        }),
        say('Done.'),
      ],
      { api: 'openai', role: 'general' },
    );
    await harness.submit({ task_id: 'local-cut-call', type: 'code.generate' });
    const { complete } = await harness.outcomeOf('local-cut-call');
    expect(existsSync(`${harness.repo}/out.md`)).toBe(false);
    expect(complete).toMatchObject({ result: { text: 'Done.', tool_calls: 0 } });
  });

  it('fails a content_filter stop as a refusal', async () => {
    harness = await LlmTaskHarness.start([stopWith('content_filter', { text: '' })], {
      api: 'openai',
    });
    await harness.submit({ task_id: 'filtered' });
    const { failed } = await harness.outcomeOf('filtered');
    expect(failed[0]).toMatchObject({
      retryable: false,
      error: 'the model refused the task (category content_filter)',
      result: { stopped_by: 'refusal' },
    });
  });
});
