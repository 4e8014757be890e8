import { z } from 'zod';
import { matchTopic } from '../protocol/access.js';
import { decodeMessage, type ProtocolErrorCode } from '../protocol/codec.js';
import type { Envelope } from '../protocol/messages.js';
import {
  messageKindOf,
  TOPICS,
  type DomainEventKey,
  type MessageKind,
  type TopicKey,
  type TopicSpec,
} from '../protocol/topic-table.js';

/**
 * Every topic of the table trace and monitor interpret; `broadcast` carries anything, and the
 * domain events are shown as they come, not interpreted (as any other domain topic).
 */
type Shown = Exclude<TopicKey, 'broadcast' | DomainEventKey>;

/**
 * The schema of every kind of message, from the topic table. A kind is its topic's pattern
 * without the `{…}` levels, so every agent's `agents/<id>/status` is one kind, `agents/status`.
 */
type Schemas = { [K in Shown as MessageKind<K>]: (typeof TOPICS)[K]['schema'] };
export type EventKind = keyof Schemas;

const KINDS = new Map<TopicKey, EventKind>(
  (Object.keys(TOPICS) as TopicKey[])
    .filter((key): key is Shown => key !== 'broadcast' && !(TOPICS[key] as TopicSpec).domainEvent)
    .map((key) => [key, messageKindOf(key)]),
);

/** A decoded message: its kind, the envelope and the payload its topic's schema gave. */
export type KnownEvent = {
  [K in EventKind]: {
    kind: K;
    local: string;
    envelope: Envelope;
    payload: z.output<Schemas[K]>;
    /** The id in the topic: the agent of `agents/<id>/status`, the approval of a decision. */
    subject?: string;
  };
}[EventKind];

export type BusEvent =
  | KnownEvent
  /** `agents/<id>/status` emptied: the agent's Last Will or its goodbye (PROTOCOL §2.2). */
  | { kind: 'agent-cleared'; local: string; agentId: string }
  /** `approvals/<id>/pending` emptied: the request was answered or expired (PROTOCOL §13). */
  | { kind: 'approval-cleared'; local: string; approvalId: string }
  /** A message on a topic that should carry one schema, that did not decode. */
  | { kind: 'invalid'; local: string; code: ProtocolErrorCode; reason: string; size: number }
  /** Any other topic (domain events, `broadcast`): shown, not interpreted. */
  | { kind: 'other'; local: string; envelope?: Envelope; text: string };

/** The kind of a local topic, with the id its `{…}` level holds (an agent's, an approval's). */
function kindOf(local: string): { key: Shown; kind: EventKind; subject?: string } | undefined {
  const match = matchTopic(local);
  if (!match || match.key === 'domain') return undefined;
  const kind = KINDS.get(match.key);
  if (!kind) return undefined;
  const subject = match.params.agent ?? match.params.id;
  return { key: match.key as Shown, kind, ...(subject ? { subject } : {}) };
}

/**
 * Decode one message of `<swarm>/#` for reading, never throwing: a malformed message becomes an
 * `invalid` event with the reason, so a bad publisher cannot crash trace or the dashboard. No
 * size limit: these tools read what the swarm says; the hub and agents police sizes (§1.4).
 */
export function decodeBusEvent(local: string, bytes: Buffer): BusEvent {
  const known = kindOf(local);
  if (known?.kind === 'agents/status' && bytes.length === 0) {
    return { kind: 'agent-cleared', local, agentId: known.subject! };
  }
  if (known?.kind === 'approvals/pending' && bytes.length === 0) {
    return { kind: 'approval-cleared', local, approvalId: known.subject! };
  }
  if (!known) return decodeOther(local, bytes);
  const decoded = decodeMessage(bytes, TOPICS[known.key].schema, Number.MAX_SAFE_INTEGER);
  if (!decoded.ok) {
    const redacted = redactedCopy(local, bytes);
    if (redacted) return redacted;
    return {
      kind: 'invalid',
      local,
      code: decoded.code,
      reason: decoded.reason,
      size: bytes.length,
    };
  }
  return {
    kind: known.kind,
    local,
    envelope: decoded.envelope,
    payload: decoded.payload,
    ...(known.subject ? { subject: known.subject } : {}),
  } as KnownEvent;
}

/**
 * An anonymous reader of the embedded broker gets redacted copies (PROTOCOL §15.3): shown for
 * what they are — the public fields, and the names of those left out — not as unreadable.
 */
function redactedCopy(local: string, bytes: Buffer): BusEvent | undefined {
  const decoded = decodeMessage(bytes, z.unknown(), Number.MAX_SAFE_INTEGER);
  if (!decoded.ok) return undefined;
  const left = (decoded.envelope as { redacted?: unknown }).redacted;
  if (!Array.isArray(left)) return undefined;
  const shown = JSON.stringify(decoded.payload ?? {});
  const text = `${shown} (redacted for anonymous readers: ${left.join(', ') || 'nothing'})`;
  return { kind: 'other', local, envelope: decoded.envelope, text };
}

/** Domain topics carry any payload; an envelope, when there is one, still names the sender. */
function decodeOther(local: string, bytes: Buffer): BusEvent {
  const text = bytes.toString('utf8');
  const decoded = decodeMessage(bytes, z.unknown(), Number.MAX_SAFE_INTEGER);
  return decoded.ok
    ? { kind: 'other', local, envelope: decoded.envelope, text }
    : { kind: 'other', local, text };
}
