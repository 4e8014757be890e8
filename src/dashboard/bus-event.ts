import { z } from 'zod';
import { decodeMessage, type ProtocolErrorCode } from '../protocol/codec.js';
import {
  AgentHeartbeat,
  AgentRegister,
  AgentShutdown,
  AgentStatus,
  ApprovalAnswer,
  ApprovalDecision,
  ApprovalRequest,
  ClaimRequest,
  ErrorReport,
  HubQuery,
  HubReply,
  HubStatus,
  TaskAssigned,
  TaskComplete,
  TaskDead,
  TaskFailed,
  TaskProgress,
  TaskRelease,
  TaskSpec,
  type Envelope,
} from '../protocol/messages.js';
import { agentIdOfStatusTopic, TOPIC } from '../protocol/topics.js';
import { BudgetStatus } from '../protocol/messages.js';
import { FlowSubmit, FlowUpdate } from '../protocol/flow-messages.js';

/**
 * Every message trace and monitor understand, by kind. Kinds with a parameter in the topic
 * (`agents/<id>/status`, `approvals/<id>/decision`, `hub/replies/<client>`) share one kind.
 */
const SCHEMAS = {
  [TOPIC.tasksNew]: TaskSpec,
  [TOPIC.tasksClaim]: ClaimRequest,
  [TOPIC.tasksAssigned]: TaskAssigned,
  [TOPIC.tasksRelease]: TaskRelease,
  [TOPIC.tasksProgress]: TaskProgress,
  [TOPIC.tasksComplete]: TaskComplete,
  [TOPIC.tasksFailed]: TaskFailed,
  [TOPIC.tasksDead]: TaskDead,
  [TOPIC.agentsRegister]: AgentRegister,
  [TOPIC.agentsHeartbeat]: AgentHeartbeat,
  [TOPIC.agentsShutdown]: AgentShutdown,
  [TOPIC.hubStatus]: HubStatus,
  [TOPIC.hubQuery]: HubQuery,
  [TOPIC.hubBudget]: BudgetStatus,
  [TOPIC.approvalsRequest]: ApprovalRequest,
  [TOPIC.approvalsAnswer]: ApprovalAnswer,
  [TOPIC.errors]: ErrorReport,
  [TOPIC.flowsNew]: FlowSubmit,
  [TOPIC.flowsUpdate]: FlowUpdate,
  'agents/status': AgentStatus,
  'approvals/decision': ApprovalDecision,
  'approvals/pending': ApprovalRequest,
  'hub/reply': HubReply,
} as const;

type Schemas = typeof SCHEMAS;
export type EventKind = keyof Schemas;

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

const APPROVAL_DECISION = /^approvals\/([^/]+)\/decision$/;
const APPROVAL_PENDING = /^approvals\/([^/]+)\/pending$/;
const LITERAL = new Set<string>(Object.values(TOPIC));

function kindOf(local: string): { kind: EventKind; subject?: string } | undefined {
  if (LITERAL.has(local) && Object.hasOwn(SCHEMAS, local)) return { kind: local as EventKind };
  // Grants are addressed to their agent (PROTOCOL §3.5): one kind for every agent's topic.
  if (local.startsWith(`${TOPIC.tasksAssigned}/`)) {
    return { kind: TOPIC.tasksAssigned, subject: local.slice(TOPIC.tasksAssigned.length + 1) };
  }
  const agentId = agentIdOfStatusTopic(local);
  if (agentId) return { kind: 'agents/status', subject: agentId };
  const approval = APPROVAL_DECISION.exec(local);
  if (approval) return { kind: 'approvals/decision', subject: approval[1] };
  const pending = APPROVAL_PENDING.exec(local);
  if (pending) return { kind: 'approvals/pending', subject: pending[1] };
  if (local.startsWith('hub/replies/')) return { kind: 'hub/reply' };
  return undefined;
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
  const decoded = decodeMessage(bytes, SCHEMAS[known.kind], Number.MAX_SAFE_INTEGER);
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
