import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  decodeMessage,
  encodeMessage,
  type DecodeResult,
} from '../../src/protocol/codec.js';
import { Envelope, TaskSpec } from '../../src/protocol/messages.js';

const bytesOf = (value: unknown): Buffer => Buffer.from(JSON.stringify(value), 'utf8');

/** The envelope a person would type into mosquitto_pub, in the origin's shape. */
const HAND_WRITTEN_TASK =
  '{"id":"m1","timestamp":"2026-02-22T19:00:00Z","agent_id":"cli","payload":{"task_id":"t1","type":"testing.run","payload":{"x":1}}}';

function envelopeWith(payload: unknown, extra: Record<string, unknown> = {}): Buffer {
  return bytesOf({
    id: 'm1',
    timestamp: '2026-02-22T19:00:00Z',
    agent_id: 'cli',
    payload,
    ...extra,
  });
}

function expectFailure<T>(result: DecodeResult<T>) {
  if (result.ok) throw new Error(`expected a decode failure, got ${JSON.stringify(result)}`);
  return result;
}

function expectSuccess<T>(result: DecodeResult<T>) {
  if (!result.ok) throw new Error(`expected success, got ${result.code}: ${result.reason}`);
  return result;
}

describe('decodeMessage', () => {
  it('decodes a task published by hand in the origin shape with TaskSpec', () => {
    const decoded = expectSuccess(decodeMessage(Buffer.from(HAND_WRITTEN_TASK), TaskSpec));
    expect(decoded.envelope).toMatchObject({
      id: 'm1',
      timestamp: '2026-02-22T19:00:00Z',
      agent_id: 'cli',
    });
    expect(decoded.envelope.role).toBeUndefined();
    expect(decoded.payload).toEqual({ task_id: 't1', type: 'testing.run', payload: { x: 1 } });
  });

  it('rejects a message one byte over the limit as TOO_LARGE, naming both sizes', () => {
    const bytes = Buffer.from(HAND_WRITTEN_TASK);
    const failure = expectFailure(decodeMessage(bytes, TaskSpec, bytes.length - 1));
    expect(failure.code).toBe('TOO_LARGE');
    expect(failure.reason).toBe(
      `message is ${bytes.length} bytes, over the limit of ${bytes.length - 1} bytes`,
    );
  });

  it('accepts a message exactly at the size limit', () => {
    const bytes = Buffer.from(HAND_WRITTEN_TASK);
    expectSuccess(decodeMessage(bytes, TaskSpec, bytes.length));
  });

  it('measures the limit in bytes, not characters', () => {
    // "é" is one character but two UTF-8 bytes.
    const bytes = envelopeWith({ task_id: 't1', type: 'testing.run', payload: { note: 'é' } });
    const characters = bytes.toString('utf8').length;
    expect(bytes.length).toBe(characters + 1);
    expect(expectFailure(decodeMessage(bytes, TaskSpec, characters)).code).toBe('TOO_LARGE');
  });

  it('applies a default limit of 256 KiB', () => {
    expect(DEFAULT_MAX_PAYLOAD_BYTES).toBe(256 * 1024);
    const big = envelopeWith({
      task_id: 't1',
      type: 'testing.run',
      payload: { blob: 'a'.repeat(DEFAULT_MAX_PAYLOAD_BYTES) },
    });
    expect(expectFailure(decodeMessage(big, TaskSpec)).code).toBe('TOO_LARGE');
  });

  it('reports bytes that are not JSON as BAD_JSON', () => {
    const failure = expectFailure(decodeMessage(Buffer.from('{"id": "m1",'), TaskSpec));
    expect(failure.code).toBe('BAD_JSON');
    expect(failure.reason).toMatch(/^not JSON: /);
    expect(failure.messageId).toBeUndefined();
  });

  it('reports an empty message as BAD_JSON', () => {
    expect(expectFailure(decodeMessage(Buffer.alloc(0), TaskSpec)).code).toBe('BAD_JSON');
  });

  it('reports a bad envelope as SCHEMA_INVALID with the issue path and carries its id', () => {
    const failure = expectFailure(
      decodeMessage(bytesOf({ id: 'm7', timestamp: 'yesterday', agent_id: 'cli' }), TaskSpec),
    );
    expect(failure.code).toBe('SCHEMA_INVALID');
    expect(failure.reason).toMatch(/^bad envelope: /);
    expect(failure.reason).toContain('timestamp: must be an ISO 8601 timestamp');
    expect(failure.messageId).toBe('m7');
  });

  it('reports a JSON value that is not an object as a bad envelope at the root', () => {
    const failure = expectFailure(decodeMessage(Buffer.from('[1,2]'), TaskSpec));
    expect(failure.code).toBe('SCHEMA_INVALID');
    expect(failure.reason).toMatch(/^bad envelope: \(root\): /);
    expect(failure.messageId).toBeUndefined();
  });

  it('carries no message id when the bad envelope id is not a string', () => {
    const failure = expectFailure(
      decodeMessage(
        bytesOf({ id: 42, timestamp: '2026-02-22T19:00:00Z', agent_id: 'cli' }),
        TaskSpec,
      ),
    );
    expect(failure.code).toBe('SCHEMA_INVALID');
    expect(failure.reason).toContain('id: ');
    expect(failure.messageId).toBeUndefined();
  });

  it('cuts the id of a rejected envelope to 200 characters', () => {
    const failure = expectFailure(
      decodeMessage(bytesOf({ id: 'x'.repeat(500), timestamp: 'nope', agent_id: 'cli' }), TaskSpec),
    );
    expect(failure.messageId).toBe('x'.repeat(200));
  });

  it('reports a bad payload as SCHEMA_INVALID with the path under "payload" and the message id', () => {
    const failure = expectFailure(
      decodeMessage(envelopeWith({ type: 'testing.run' }, { id: 'm9' }), TaskSpec),
    );
    expect(failure.code).toBe('SCHEMA_INVALID');
    expect(failure.reason).toMatch(/^payload\.task_id: /);
    expect(failure.messageId).toBe('m9');
  });

  it('names the nested path of a bad payload field', () => {
    const failure = expectFailure(
      decodeMessage(
        envelopeWith({ task_id: 't1', type: 'testing.run', commands: ['npm test', 7] }),
        TaskSpec,
      ),
    );
    expect(failure.reason).toMatch(/^payload\.commands\.1: /);
  });

  it('lists at most five issues', () => {
    const schema = z.object({
      a: z.string(),
      b: z.string(),
      c: z.string(),
      d: z.string(),
      e: z.string(),
      f: z.string(),
      g: z.string(),
    });
    const failure = expectFailure(decodeMessage(envelopeWith({}), schema));
    expect(failure.reason.split('; ')).toHaveLength(5);
    expect(failure.reason).not.toContain('payload.f');
  });

  it('keeps unknown extra fields of the envelope, the task and its metadata', () => {
    const decoded = expectSuccess(
      decodeMessage(
        envelopeWith(
          { task_id: 't1', type: 'testing.run', origin_field: { deep: true } },
          { trace_id: 'abc', metadata: { retry_count: 0, region: 'eu' } },
        ),
        TaskSpec,
      ),
    );
    expect(decoded.payload).toMatchObject({ origin_field: { deep: true } });
    expect(decoded.envelope).toMatchObject({ trace_id: 'abc' });
    expect(decoded.envelope.metadata).toEqual({ retry_count: 0, region: 'eu' });
  });

  it('turns the origin priority "medium" into "normal" in the task and the metadata', () => {
    const decoded = expectSuccess(
      decodeMessage(
        envelopeWith(
          { task_id: 't1', type: 'testing.run', priority: 'medium' },
          { metadata: { priority: 'medium' } },
        ),
        TaskSpec,
      ),
    );
    expect(decoded.payload.priority).toBe('normal');
    expect(decoded.envelope.metadata?.priority).toBe('normal');
  });

  it('gives a task without payload an empty payload object', () => {
    const decoded = expectSuccess(
      decodeMessage(envelopeWith({ task_id: 't1', type: 'testing.run' }), TaskSpec),
    );
    expect(decoded.payload.payload).toEqual({});
  });
});

describe('encodeMessage', () => {
  const sender = { agentId: 'testing-1a2b3c', role: 'testing' };

  it('round-trips through decodeMessage with sender, type, metadata and payload intact', () => {
    const spec = { task_id: 't1', type: 'testing.run', payload: { x: 1 }, priority: 'high' };
    const text = encodeMessage(sender, spec, {
      type: 'testing.run',
      metadata: { priority: 'high', retry_count: 2, ttl: 60 },
      id: 'fixed-id',
    });
    const decoded = expectSuccess(decodeMessage(Buffer.from(text), TaskSpec));
    expect(decoded.envelope).toMatchObject({
      id: 'fixed-id',
      agent_id: 'testing-1a2b3c',
      role: 'testing',
      type: 'testing.run',
      metadata: { priority: 'high', retry_count: 2, ttl: 60 },
    });
    expect(decoded.payload).toEqual(spec);
  });

  it('stamps a fresh UUID and an ISO timestamp when no id is given', () => {
    const first = Envelope.parse(JSON.parse(encodeMessage(sender, {})));
    const second = Envelope.parse(JSON.parse(encodeMessage(sender, {})));
    expect(first.id).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(second.id).not.toBe(first.id);
    expect(new Date(first.timestamp).toISOString()).toBe(first.timestamp);
  });

  it('leaves type and metadata out when they are not given', () => {
    const json = JSON.parse(encodeMessage(sender, { a: 1 })) as Record<string, unknown>;
    expect(Object.keys(json).sort()).toEqual(['agent_id', 'id', 'payload', 'role', 'timestamp']);
  });
});
