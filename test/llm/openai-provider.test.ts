import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LlmError } from '../../src/llm/llm-error.js';
import { OpenAiProvider } from '../../src/llm/openai-provider.js';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** A chat-completions endpoint on 127.0.0.1 that answers every request with `reply`. */
async function endpoint(reply: (res: ServerResponse) => void): Promise<string> {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => reply(res));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}/v1`;
}

const ask = (baseUrl: string, timeoutMs = 5_000, stream = false) =>
  new OpenAiProvider({
    baseUrl,
    model: 'local',
    timeoutMs,
    idleTimeoutMs: timeoutMs,
    stream,
  }).complete({
    system: 'be brief',
    messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
    tools: [],
    maxTokens: 100,
    signal: new AbortController().signal,
  });

describe('OpenAiProvider', () => {
  it('takes tool calls without ids, and arguments sent as an object, as some local servers send them', async () => {
    const url = await endpoint((res) =>
      res.end(
        JSON.stringify({
          choices: [
            {
              finish_reason: 'tool_calls',
              message: {
                content: null,
                tool_calls: [
                  { function: { name: 'read_file', arguments: { path: 'a.ts' } } },
                  { function: { name: 'list_files', arguments: '{"path":"src"}' } },
                ],
              },
            },
          ],
          usage: { prompt_tokens: 30, completion_tokens: 5 },
        }),
      ),
    );
    const turn = await ask(url);
    expect(turn.stop_reason).toBe('tool_use');
    expect(turn.content).toEqual([
      { type: 'tool_use', id: 'call_0', name: 'read_file', input: { path: 'a.ts' } },
      { type: 'tool_use', id: 'call_1', name: 'list_files', input: { path: 'src' } },
    ]);
    expect(turn.usage).toMatchObject({ input_tokens: 30, output_tokens: 5 });
  });

  it('reports a connection dropped while the answer arrives as a retryable network error', async () => {
    const url = await endpoint((res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"choices":');
      setImmediate(() => res.destroy());
    });
    const error = await ask(url).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LlmError);
    expect(error).toMatchObject({ kind: 'network', retryable: true });
  });

  it('names the fields of an answer in an unexpected shape', async () => {
    const url = await endpoint((res) => res.end(JSON.stringify({ choices: [] })));
    const error = await ask(url).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LlmError);
    expect((error as Error).message).toMatch(/unexpected shape: choices/);
  });
});

describe('OpenAiProvider, streamed (stream: true)', () => {
  const events = (...chunks: unknown[]): string =>
    chunks
      .map((chunk) => `data: ${typeof chunk === 'string' ? chunk : JSON.stringify(chunk)}\n\n`)
      .join('');

  it('joins the pieces of text and of each tool call by index, with the usage of the last chunk', async () => {
    const url = await endpoint((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(
        events(
          { choices: [{ index: 0, delta: { content: 'Let me ' } }] },
          { choices: [{ index: 0, delta: { content: 'look.' } }] },
          {
            choices: [
              {
                index: 0,
                delta: {
                  tool_calls: [
                    { index: 0, id: 'c1', function: { name: 'read_file', arguments: '{"pa' } },
                    { index: 1, id: 'c2', function: { name: 'list_files', arguments: '' } },
                  ],
                },
              },
            ],
          },
          {
            choices: [
              {
                index: 0,
                delta: { tool_calls: [{ index: 0, function: { arguments: 'th":"a.ts"}' } }] },
              },
            ],
          },
          {
            choices: [
              { index: 0, delta: { tool_calls: [{ index: 1, function: { arguments: '{}' } }] } },
            ],
          },
          { choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] },
          {
            choices: [],
            usage: {
              prompt_tokens: 40,
              completion_tokens: 9,
              prompt_tokens_details: { cached_tokens: 30 },
            },
          },
          '[DONE]',
        ),
      );
    });
    const turn = await ask(url, 5_000, true);
    expect(turn).toMatchObject({
      stop_reason: 'tool_use',
      content: [
        { type: 'text', text: 'Let me look.' },
        { type: 'tool_use', id: 'c1', name: 'read_file', input: { path: 'a.ts' } },
        { type: 'tool_use', id: 'c2', name: 'list_files', input: {} },
      ],
      usage: { input_tokens: 10, cache_read_input_tokens: 30, output_tokens: 9 },
    });
  });

  it('reports a stream that ends before its answer does as a retryable network error', async () => {
    const url = await endpoint((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(events({ choices: [{ index: 0, delta: { content: 'Half' } }] }));
    });
    const error = await ask(url, 5_000, true).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ kind: 'network', retryable: true });
    expect((error as Error).message).toContain('ended its stream in the middle of an answer');
  });

  it('takes an error sent inside the stream, by its status', async () => {
    const url = await endpoint((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(events({ error: { code: 500, message: 'failed to parse grammar' } }));
    });
    const error = await ask(url, 5_000, true).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ kind: 'deterministic', retryable: false });
  });

  it('gives up on a stream silent past the inactivity timeout', async () => {
    const url = await endpoint((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(events({ choices: [{ index: 0, delta: { content: 'Hm' } }] }));
    });
    const provider = new OpenAiProvider({
      baseUrl: url,
      model: 'local',
      timeoutMs: 10_000,
      idleTimeoutMs: 200,
      stream: true,
    });
    const error = await provider
      .complete({
        system: 's',
        messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
        tools: [],
        maxTokens: 10,
        signal: new AbortController().signal,
      })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ kind: 'network', retryable: true });
    expect((error as Error).message).toContain('sent nothing for 0.2 s in the middle of an answer');
  });
});
