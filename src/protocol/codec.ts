import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import { jsonDepthExceeds } from './json-depth.js';
import { Envelope } from './messages.js';

/** Stable protocol error codes, reported on `<swarm>/errors` (docs/PROTOCOL.md §errors). */
export type ProtocolErrorCode =
  | 'TOO_LARGE'
  | 'BAD_JSON'
  | 'SCHEMA_INVALID'
  | 'UNKNOWN_TASK_TYPE'
  | 'DUPLICATE_TASK'
  // PROTOCOL §17.2: a flow_id seen before.
  | 'DUPLICATE_FLOW'
  | 'POLICY_DENIED'
  | 'SANDBOX_VIOLATION'
  | 'HUB_INTERNAL'
  // The ledger refuses writes (a full disk): what arrives waits unacknowledged (PROTOCOL §3.9).
  | 'LEDGER_UNAVAILABLE'
  // PROTOCOL §15.6
  | 'TOO_DEEP'
  | 'BAD_SIGNATURE'
  | 'STALE'
  | 'REPLAYED'
  | 'NOT_AUTHORIZED'
  | 'RATE_LIMITED'
  | 'QUEUE_FULL';

export interface DecodeFailure {
  ok: false;
  code: ProtocolErrorCode;
  reason: string;
  messageId?: string;
}
export interface Decoded<T> {
  ok: true;
  envelope: Envelope;
  payload: T;
}
export type DecodeResult<T> = Decoded<T> | DecodeFailure;

export const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024;
export const DEFAULT_MAX_JSON_DEPTH = 64;

/** "payload.task_id: Invalid input: expected string, received undefined; …" */
export function formatIssues(error: z.ZodError, prefix = ''): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => {
      const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
      return `${path || '(root)'}: ${issue.message}`;
    })
    .join('; ');
}

/**
 * Decode untrusted bytes from the bus: size and depth limits, JSON, envelope, then the payload
 * schema. Never throws.
 */
export function decodeMessage<S extends z.ZodType>(
  bytes: Buffer,
  payloadSchema: S,
  maxBytes = DEFAULT_MAX_PAYLOAD_BYTES,
  maxDepth = DEFAULT_MAX_JSON_DEPTH,
): DecodeResult<z.output<S>> {
  if (bytes.length > maxBytes) {
    return {
      ok: false,
      code: 'TOO_LARGE',
      reason: `message is ${bytes.length} bytes, over the limit of ${maxBytes} bytes`,
    };
  }
  if (jsonDepthExceeds(bytes, maxDepth)) {
    return {
      ok: false,
      code: 'TOO_DEEP',
      reason: `message nests arrays and objects more than ${maxDepth} levels deep (maxJsonDepth)`,
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    return { ok: false, code: 'BAD_JSON', reason: `not JSON: ${(error as Error).message}` };
  }
  const envelope = Envelope.safeParse(json);
  if (!envelope.success) {
    return {
      ok: false,
      code: 'SCHEMA_INVALID',
      reason: `bad envelope: ${formatIssues(envelope.error)}`,
      ...messageIdOf(json),
    };
  }
  const payload = payloadSchema.safeParse(envelope.data.payload);
  if (!payload.success) {
    return {
      ok: false,
      code: 'SCHEMA_INVALID',
      reason: formatIssues(payload.error, 'payload'),
      messageId: envelope.data.id,
    };
  }
  return { ok: true, envelope: envelope.data, payload: payload.data as z.output<S> };
}

/** The payload schema on an envelope already decoded (decodeMessage with `z.unknown()`). */
export function decodePayload<S extends z.ZodType>(
  envelope: Envelope,
  payloadSchema: S,
): DecodeResult<z.output<S>> {
  const payload = payloadSchema.safeParse(envelope.payload);
  if (!payload.success) {
    return {
      ok: false,
      code: 'SCHEMA_INVALID',
      reason: formatIssues(payload.error, 'payload'),
      messageId: envelope.id,
    };
  }
  return { ok: true, envelope, payload: payload.data as z.output<S> };
}

function messageIdOf(json: unknown): { messageId?: string } {
  if (json && typeof json === 'object' && 'id' in json && typeof json.id === 'string') {
    return { messageId: json.id.slice(0, 200) };
  }
  return {};
}

export interface Sender {
  agentId: string;
  role: string;
}

export function encodeMessage(
  sender: Sender,
  payload: unknown,
  extra: { type?: string; metadata?: Envelope['metadata']; id?: string } = {},
): string {
  const envelope: Envelope = {
    id: extra.id ?? randomUUID(),
    timestamp: new Date().toISOString(),
    agent_id: sender.agentId,
    role: sender.role,
    ...(extra.type ? { type: extra.type } : {}),
    payload,
    ...(extra.metadata ? { metadata: extra.metadata } : {}),
  };
  return JSON.stringify(envelope);
}
