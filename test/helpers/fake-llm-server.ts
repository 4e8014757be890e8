import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the Anthropic Messages API (POST /v1/messages) and an OpenAI-compatible
 * chat-completions endpoint (POST /v1/chat/completions), on 127.0.0.1. It answers from a script,
 * one step per request, in the wire format of whichever API was called, and records every
 * request so tests can assert what the real SDK (or our fetch client) sent.
 */

export interface ToolCall {
  name: string;
  input: unknown;
}

export interface Tokens {
  input: number;
  output: number;
  cacheRead?: number;
  cacheWrite?: number;
}

export type Step =
  | { kind: 'reply'; text?: string; calls?: ToolCall[]; tokens?: Tokens }
  | { kind: 'error'; status: number; retryAfterS?: number; message?: string };

export type ScriptEntry = Step | ((request: RecordedRequest) => Step);

export interface RecordedRequest {
  api: 'anthropic' | 'openai';
  headers: IncomingMessage['headers'];
  body: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** When it arrived (Date.now()). */
  at: number;
}

export const say = (text: string, tokens?: Tokens): Step => ({
  kind: 'reply',
  text,
  ...(tokens ? { tokens } : {}),
});
export const callTools = (calls: ToolCall[], text?: string, tokens?: Tokens): Step => ({
  kind: 'reply',
  calls,
  ...(text ? { text } : {}),
  ...(tokens ? { tokens } : {}),
});
export const fail = (status: number, retryAfterS?: number): Step => ({
  kind: 'error',
  status,
  ...(retryAfterS === undefined ? {} : { retryAfterS }),
});

export class FakeLlmServer {
  readonly requests: RecordedRequest[] = [];
  private readonly script: ScriptEntry[];
  private ids = 0;

  private constructor(
    private readonly server: Server,
    script: ScriptEntry[],
    private readonly options: { apiKey?: string; whenDone?: ScriptEntry },
  ) {
    this.script = [...script];
  }

  /** `apiKey`: requests carrying another key get 401. `whenDone`: the answer once the script is used up. */
  static async start(
    script: ScriptEntry[],
    options: { apiKey?: string; whenDone?: ScriptEntry } = {},
  ): Promise<FakeLlmServer> {
    const server = createServer();
    const fake = new FakeLlmServer(server, script, options);
    server.on('request', (req, res) => void fake.answer(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** For the SDK's baseURL (it appends /v1/messages). */
  get anthropicBaseUrl(): string {
    return this.url;
  }

  /** For --llm-base-url of the OpenAI-compatible provider (it appends /chat/completions). */
  get openaiBaseUrl(): string {
    return `${this.url}/v1`;
  }

  /** Steps not yet played. */
  get remaining(): number {
    return this.script.length;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const api =
      req.url === '/v1/messages'
        ? 'anthropic'
        : req.url === '/v1/chat/completions'
          ? 'openai'
          : undefined;
    if (req.method !== 'POST' || !api) return send(res, 404, { error: `no route ${req.url}` });
    const request: RecordedRequest = {
      api,
      at: Date.now(),
      headers: req.headers,
      body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
    };
    this.requests.push(request);
    if (this.options.apiKey && keyOf(request) !== this.options.apiKey) {
      return send(res, 401, errorBody(api, 401, 'invalid x-api-key'));
    }
    const entry = this.script.shift() ?? this.options.whenDone;
    if (!entry) return send(res, 500, errorBody(api, 500, 'fake server: script exhausted'));
    const step = typeof entry === 'function' ? entry(request) : entry;
    if (step.kind === 'error') {
      const headers: Record<string, string> =
        step.retryAfterS === undefined ? {} : { 'retry-after': String(step.retryAfterS) };
      return send(res, step.status, errorBody(api, step.status, step.message), headers);
    }
    send(
      res,
      200,
      api === 'anthropic' ? this.anthropicReply(step, request) : this.openaiReply(step, request),
    );
  }

  private anthropicReply(step: Step & { kind: 'reply' }, request: RecordedRequest): unknown {
    const content: unknown[] = [];
    if (step.text) content.push({ type: 'text', text: step.text });
    for (const call of step.calls ?? []) {
      content.push({
        type: 'tool_use',
        id: `toolu_${++this.ids}`,
        name: call.name,
        input: call.input,
      });
    }
    const tokens = step.tokens ?? { input: 100, output: 50 };
    return {
      id: `msg_${++this.ids}`,
      type: 'message',
      role: 'assistant',
      model: request.body.model,
      content,
      stop_reason: step.calls?.length ? 'tool_use' : 'end_turn',
      stop_sequence: null,
      usage: {
        input_tokens: tokens.input,
        output_tokens: tokens.output,
        cache_creation_input_tokens: tokens.cacheWrite ?? 0,
        cache_read_input_tokens: tokens.cacheRead ?? 0,
      },
    };
  }

  private openaiReply(step: Step & { kind: 'reply' }, request: RecordedRequest): unknown {
    const calls = (step.calls ?? []).map((call) => ({
      id: `call_${++this.ids}`,
      type: 'function',
      function: { name: call.name, arguments: JSON.stringify(call.input) },
    }));
    const tokens = step.tokens ?? { input: 100, output: 50 };
    return {
      id: `chatcmpl-${++this.ids}`,
      object: 'chat.completion',
      model: request.body.model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: step.text ?? null,
            ...(calls.length ? { tool_calls: calls } : {}),
          },
          finish_reason: calls.length ? 'tool_calls' : 'stop',
        },
      ],
      usage: {
        prompt_tokens: tokens.input + (tokens.cacheRead ?? 0),
        completion_tokens: tokens.output,
        total_tokens: tokens.input + tokens.output + (tokens.cacheRead ?? 0),
        prompt_tokens_details: { cached_tokens: tokens.cacheRead ?? 0 },
      },
    };
  }
}

/** The key a request carries: `x-api-key`, or `Authorization: Bearer` (what SDK 1.x sends). */
export function keyOf(request: RecordedRequest): string | undefined {
  const header = request.headers['x-api-key'];
  if (typeof header === 'string') return header;
  return (request.headers.authorization ?? '').replace(/^Bearer /, '') || undefined;
}

const ANTHROPIC_ERROR_TYPES: Record<number, string> = {
  401: 'authentication_error',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

function errorBody(
  api: 'anthropic' | 'openai',
  status: number,
  message = `fake ${status}`,
): unknown {
  if (api === 'openai') return { error: { message, type: 'server_error', code: status } };
  return { type: 'error', error: { type: ANTHROPIC_ERROR_TYPES[status] ?? 'api_error', message } };
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
