import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { blocksOf, countTokens, PromptCache, type MeasuredUsage } from './fake-llm-cache.js';
import {
  anthropicEvents,
  anthropicMessage,
  openaiChunks,
  openaiCompletion,
} from './fake-llm-wire.js';

/**
 * A local stand-in for the Anthropic Messages API (POST /v1/messages, GET /v1/models/<id>) and
 * an OpenAI-compatible server (POST /v1/chat/completions, GET /v1/models), on 127.0.0.1. It
 * answers from a script, one step per request, in the wire format of whichever API was called —
 * streamed as server-sent events when the request says `stream: true`, as the real APIs do — and
 * records every request so tests can assert what the real SDK (or our fetch client) sent. With
 * `measure`, usage is computed from the request itself, prompt caching included
 * (fake-llm-cache.ts); with `contextWindow`, a request too large is refused with the API's 400.
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

export interface Reply {
  kind: 'reply';
  text?: string;
  calls?: ToolCall[];
  tokens?: Tokens;
  /**
   * The stop reason the API sends, in its own words: `max_tokens`, `pause_turn`, `refusal`,
   * `model_context_window_exceeded`, `stop_sequence`… (Anthropic) or `length`, `content_filter`…
   * (OpenAI). Default: tool_use / tool_calls with calls, else end_turn / stop.
   */
  stop?: string;
  stopDetails?: { category: string | null; explanation: string | null };
  /** Streamed: send the start of the answer, then nothing more (a hung request). */
  stall?: boolean;
}

export type Step =
  Reply | { kind: 'error'; status: number; retryAfterS?: number; message?: string };

export type ScriptEntry = Step | ((request: RecordedRequest) => Step);

export interface RecordedRequest {
  api: 'anthropic' | 'openai';
  headers: IncomingMessage['headers'];
  body: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** When it arrived (Date.now()). */
  at: number;
  /** With `measure`: the usage computed from this request. */
  usage?: MeasuredUsage;
}

export interface FakeOptions {
  /** Requests carrying another key get 401. */
  apiKey?: string;
  /** The answer once the script is used up. */
  whenDone?: ScriptEntry;
  /** Compute usage from each request (tokens = characters / 4, prompt caching as documented). */
  measure?: boolean;
  /** Refuse requests of more tokens than this, as the API does ("prompt is too long"). */
  contextWindow?: number;
  /** Models the server knows (GET /v1/models); default: any for Anthropic, llama-test for OpenAI. */
  models?: string[];
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
export const fail = (status: number, retryAfterS?: number, message?: string): Step => ({
  kind: 'error',
  status,
  ...(retryAfterS === undefined ? {} : { retryAfterS }),
  ...(message === undefined ? {} : { message }),
});
/** A reply that stops for `stop` (the API's word), e.g. a write_file cut at max_tokens. */
export const stopWith = (stop: string, reply: Omit<Reply, 'kind' | 'stop'> = {}): Step => ({
  kind: 'reply',
  stop,
  ...reply,
});

export class FakeLlmServer {
  readonly requests: RecordedRequest[] = [];
  /** GET requests of the start-up check. */
  readonly checks: { path: string; headers: IncomingMessage['headers'] }[] = [];
  private readonly script: ScriptEntry[];
  private readonly cache = new PromptCache();
  private ids = 0;

  private constructor(
    private readonly server: Server,
    script: ScriptEntry[],
    private readonly options: FakeOptions,
  ) {
    this.script = [...script];
  }

  static async start(script: ScriptEntry[], options: FakeOptions = {}): Promise<FakeLlmServer> {
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
    if (req.method === 'GET' && req.url?.startsWith('/v1/models')) return this.models(req, res);
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
    const window = this.options.contextWindow;
    if (window) {
      const total = blocksOf(request.body).reduce((sum, block) => sum + countTokens(block.text), 0);
      if (total > window) {
        return send(
          res,
          400,
          errorBody(api, 400, `prompt is too long: ${total} tokens > ${window} maximum`),
        );
      }
    }
    let usage: MeasuredUsage | undefined;
    if (this.options.measure) {
      try {
        usage = this.cache.measure(request.body);
      } catch (error) {
        return send(res, 400, errorBody(api, 400, (error as Error).message));
      }
      request.usage = usage;
    }
    const entry = this.script.shift() ?? this.options.whenDone;
    if (!entry) return send(res, 500, errorBody(api, 500, 'fake server: script exhausted'));
    const step = typeof entry === 'function' ? entry(request) : entry;
    if (step.kind === 'error') {
      const headers: Record<string, string> =
        step.retryAfterS === undefined ? {} : { 'retry-after': String(step.retryAfterS) };
      return send(res, step.status, errorBody(api, step.status, step.message), headers);
    }
    const tokens = this.options.measure && usage ? measuredTokens(step, usage) : step.tokens;
    const reply = { ...step, ...(tokens ? { tokens } : {}) };
    const id = ++this.ids;
    const toolId = (index: number): string => `toolu_${id}_${index}`;
    const model = String(request.body.model);
    if (request.body.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const events =
        api === 'anthropic'
          ? anthropicEvents(reply, model, `msg_${id}`, toolId)
          : openaiChunks(
              reply,
              model,
              `chatcmpl-${id}`,
              toolId,
              Boolean(request.body.stream_options?.include_usage),
            );
      for (const event of events) res.write(event);
      if (!reply.stall) res.end();
      return;
    }
    if (reply.stall) return; // never answers
    send(
      res,
      200,
      api === 'anthropic'
        ? anthropicMessage(reply, model, `msg_${id}`, toolId)
        : openaiCompletion(reply, model, `chatcmpl-${id}`, toolId),
    );
  }

  private models(req: IncomingMessage, res: ServerResponse): void {
    this.checks.push({ path: req.url ?? '', headers: req.headers });
    if (this.options.apiKey && keyOf({ headers: req.headers }) !== this.options.apiKey) {
      return send(res, 401, errorBody('anthropic', 401, 'invalid x-api-key'));
    }
    const one = /^\/v1\/models\/(.+)$/.exec(req.url ?? '');
    if (one) {
      const id = decodeURIComponent(one[1]!);
      if (this.options.models && !this.options.models.includes(id)) {
        return send(res, 404, {
          type: 'error',
          error: { type: 'not_found_error', message: `model: ${id}` },
        });
      }
      return send(res, 200, {
        type: 'model',
        id,
        display_name: id,
        created_at: '2026-01-01T00:00:00Z',
      });
    }
    const ids = this.options.models ?? ['llama-test'];
    send(res, 200, { object: 'list', data: ids.map((id) => ({ id, object: 'model' })) });
  }
}

/** Output tokens counted from the reply, input from the request's measured usage. */
function measuredTokens(step: Reply, usage: MeasuredUsage): Tokens {
  const output = countTokens(JSON.stringify([step.text ?? '', step.calls ?? []]));
  return {
    input: usage.input_tokens,
    output,
    cacheRead: usage.cache_read_input_tokens,
    cacheWrite: usage.cache_creation_input_tokens,
  };
}

/** The key a request carries: `x-api-key`, or `Authorization: Bearer` (what SDK 1.x sends). */
export function keyOf(request: Pick<RecordedRequest, 'headers'>): string | undefined {
  const header = request.headers['x-api-key'];
  if (typeof header === 'string') return header;
  return (request.headers.authorization ?? '').replace(/^Bearer /, '') || undefined;
}

const ANTHROPIC_ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
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

/** The system prompt of a Messages request, whether sent as a string or as cached blocks. */
export function systemText(body: RecordedRequest['body']): string {
  const system: unknown = body.system;
  if (typeof system === 'string') return system;
  return (system as { text: string }[]).map((block) => block.text).join('\n');
}
