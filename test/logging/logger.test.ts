import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  chooseFormat,
  createLogger,
  type Logger,
  type LoggerOptions,
} from '../../src/logging/logger.js';

const API_KEY = 'sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789';

describe('the root logger', () => {
  const dirs: string[] = [];
  const fds: number[] = [];
  afterEach(() => {
    for (const fd of fds.splice(0)) closeSync(fd);
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** A logger writing to a temp file instead of the terminal; returns what it wrote. */
  function capture(options: LoggerOptions): { logger: Logger; text: () => string } {
    const dir = mkdtempSync(join(tmpdir(), 'sheri-log-'));
    dirs.push(dir);
    const path = join(dir, 'terminal.out');
    const fd = openSync(path, 'a');
    fds.push(fd);
    // Every destination writes synchronously, so the file holds each line once it is logged.
    return { logger: createLogger({ fd, ...options }), text: () => readFileSync(path, 'utf8') };
  }

  it('chooses readable lines on a terminal and JSON lines otherwise, unless told', () => {
    expect(chooseFormat(undefined, true)).toBe('pretty');
    expect(chooseFormat(undefined, false)).toBe('json');
    expect(chooseFormat('json', true)).toBe('json');
    expect(chooseFormat('pretty', false)).toBe('pretty');
  });

  it('writes JSON lines with the bound agent and task ids when not on a terminal', () => {
    const { logger, text } = capture({ isTTY: false });
    logger.child({ agentId: 'testing-3fa1b2' }).child({ taskId: 't-17' }).info('claimed t-17');
    const record = JSON.parse(text().trim()) as Record<string, unknown>;
    expect(record).toMatchObject({
      agentId: 'testing-3fa1b2',
      taskId: 't-17',
      msg: 'claimed t-17',
    });
  });

  it('writes one short line per record on a terminal, with no JSON in it', () => {
    const { logger, text } = capture({ isTTY: true, colorize: false });
    const agent = logger.child({ agentId: 'testing-3fa1b2' });
    agent
      .child({ taskId: 't-17', attempt: 1 })
      .info({ event: 'claimed', type: 'testing.run' }, 'claimed t-17 (testing.run, attempt 1)');
    expect(text()).toMatch(
      /^\d\d:\d\d:\d\d testing-3fa1b2 ▶ claimed t-17 \(testing\.run, attempt 1\)\n$/,
    );
  });

  it('writes JSON on a terminal when --log-format json asks for it', () => {
    const { logger, text } = capture({ isTTY: true, format: 'json' });
    logger.info('hello');
    expect(JSON.parse(text())).toMatchObject({ msg: 'hello' });
  });

  it('colours pretty lines only when colours are on', () => {
    const plain = capture({ isTTY: true, colorize: false });
    plain.logger.warn('careful');
    expect(plain.text()).not.toContain('\x1b[');
    const coloured = capture({ isTTY: true, colorize: true });
    coloured.logger.warn('careful');
    expect(coloured.text()).toContain('\x1b[');
  });

  it('redacts an API key in a logged object, nested or in an environment, and keeps the rest', () => {
    const { logger, text } = capture({ isTTY: false });
    logger.info(
      {
        apiKey: API_KEY,
        provider: {
          name: 'anthropic',
          options: { api_key: API_KEY, headers: { authorization: `Bearer ${API_KEY}` } },
        },
        env: { ANTHROPIC_API_KEY: API_KEY, GITHUB_TOKEN: 'ghp_secret', PATH: '/usr/bin' },
        idempotency_key: 'release-42',
        usage: { input_tokens: 10, output_tokens: 5 },
      },
      'provider ready',
    );
    const out = text();
    expect(out).not.toContain('abcdefghijklmnop');
    expect(out).not.toContain('ghp_secret');
    const record = JSON.parse(out) as {
      apiKey: string;
      provider: { options: { api_key: string; headers: { authorization: string } } };
      env: Record<string, string>;
      idempotency_key: string;
      usage: Record<string, number>;
    };
    expect(record.apiKey).toBe('[Redacted]');
    expect(record.provider.options.api_key).toBe('[Redacted]');
    expect(record.provider.options.headers.authorization).toBe('[Redacted]');
    expect(record.env).toEqual({
      ANTHROPIC_API_KEY: '[Redacted]',
      GITHUB_TOKEN: '[Redacted]',
      PATH: '/usr/bin',
    });
    expect(record.idempotency_key).toBe('release-42');
    expect(record.usage).toEqual({ input_tokens: 10, output_tokens: 5 });
  });

  it('redacts a broker password and a key written into the message itself', () => {
    const { logger, text } = capture({ isTTY: true, colorize: false });
    logger.info(`connecting to mqtts://sheri:hunter2@broker.local:8883 with ${API_KEY}`);
    const out = text();
    expect(out).toContain(
      'connecting to mqtts://sheri:[Redacted]@broker.local:8883 with sk-[Redacted]',
    );
    expect(out).not.toContain('hunter2');
  });

  it('redacts secrets in the fields of pretty lines too', () => {
    const { logger, text } = capture({ isTTY: true, colorize: false });
    logger.child({ token: 'bound-secret' }).info({ password: 'p4ss', user: 'ada' }, 'login');
    const out = text();
    expect(out).not.toMatch(/bound-secret|p4ss/);
    expect(out).toContain('user=ada');
  });

  it('appends JSON lines to --log-file besides the pretty terminal lines', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sheri-log-'));
    dirs.push(dir);
    const file = join(dir, 'logs', 'swarm.jsonl');
    const first = capture({ isTTY: true, colorize: false, file });
    first.logger.child({ agentId: 'review-1' }).info({ apiKey: API_KEY }, 'first');
    // A second process (another agent of the swarm) appends to the same file.
    const second = capture({ isTTY: true, colorize: false, file });
    second.logger.warn('second');
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((line) => line.msg)).toEqual(['first', 'second']);
    expect(lines[0]).toMatchObject({ agentId: 'review-1', apiKey: '[Redacted]' });
    expect(first.text()).toMatch(/^\d\d:\d\d:\d\d review-1 · first apiKey=\[Redacted\]\n$/);
  });
});
