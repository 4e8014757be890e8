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
