import {
  DOMAIN_TOPIC,
  isDomainTopic,
  TOPICS,
  type Kind,
  type TopicKey,
  type TopicSpec,
} from './topic-table.js';

/**
 * Who may publish and read what, derived from the topic table (PROTOCOL §15.3). Pure: the
 * embedded broker's hooks, the hub's and agents' checks and the mosquitto ACL all ask here.
 */

/** A verified (or broker-checked) sender. `role` is an agent's role. */
export interface Identity {
  readonly name: string;
  readonly kind: Kind;
  readonly role?: string;
}

export interface TopicMatch {
  readonly key: TopicKey | 'domain';
  readonly spec: TopicSpec;
  /** Values of the pattern's `{…}` levels. */
  readonly params: Readonly<Record<string, string>>;
}

interface Compiled {
  key: TopicKey;
  spec: TopicSpec;
  levels: string[];
}

const LITERAL = new Map<string, Compiled>();
const PATTERNS = new Map<number, Compiled[]>();
for (const [key, spec] of Object.entries(TOPICS) as [TopicKey, TopicSpec][]) {
  const levels = spec.pattern.split('/');
  const compiled = { key, spec, levels };
  if (!spec.pattern.includes('{')) LITERAL.set(spec.pattern, compiled);
  else PATTERNS.set(levels.length, [...(PATTERNS.get(levels.length) ?? []), compiled]);
}

const PARAM = /^\{(\w+)\}$/;

/** The table entry of a local topic (no wildcards), with its parameters; undefined: none. */
export function matchTopic(local: string): TopicMatch | undefined {
  const literal = LITERAL.get(local);
  if (literal) return { key: literal.key, spec: literal.spec, params: {} };
  const levels = local.split('/');
  for (const candidate of PATTERNS.get(levels.length) ?? []) {
    const params = bindLevels(candidate.levels, levels);
    if (params) return { key: candidate.key, spec: candidate.spec, params };
  }
  if (isDomainTopic(local)) return { key: 'domain', spec: DOMAIN_TOPIC, params: {} };
  return undefined;
}

function bindLevels(pattern: string[], levels: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (const [i, want] of pattern.entries()) {
    const level = levels[i]!;
    const param = PARAM.exec(want)?.[1];
    if (param) {
      if (level === '' || level.includes('+') || level.includes('#')) return undefined;
      params[param] = level;
    } else if (level !== want) return undefined;
  }
  return params;
}

/** The envelope `role` an identity writes: an agent's role, or its kind (PROTOCOL §15.1). */
export function envelopeRoleOf(identity: Identity): string {
  return identity.kind === 'agent' ? (identity.role ?? '') : identity.kind;
}

/**
 * Unsigned, a receiver knows the sender only from the envelope (which the embedded broker
 * checked): roles other than the kinds' own are agents. No role is the origin's hand-written
 * shape, taken as an operator's — an authenticating broker refuses it (PROTOCOL §15.3).
 */
export function identityFromEnvelope(agentId: string, role: string | undefined): Identity {
  if (role === 'hub') return { name: agentId, kind: 'hub' };
  if (role === undefined || role === 'operator' || role === 'cli') {
    return { name: agentId, kind: 'operator' };
  }
  if (role === 'observer') return { name: agentId, kind: 'observer' };
  return { name: agentId, kind: 'agent', role };
}

export function describeIdentity(identity: Identity): string {
  return identity.kind === 'agent'
    ? `agent "${identity.name}" (role ${identity.role ?? '?'})`
    : `${identity.kind} "${identity.name}"`;
}

/** What a publish claims about its sender: its envelope's fields, or an empty payload. */
export type PublishClaim = { agentId: string; role: string | undefined } | 'empty';

/**
 * Why `identity` may not publish this on `local`, or undefined when it may: its kind must be a
 * publisher of the topic, an `{agent}` level must be its own name, and the envelope must name it
 * with its own role.
 */
export function publishRefusal(
  identity: Identity,
  local: string,
  claim: PublishClaim,
): string | undefined {
  const match = matchTopic(local);
  const who = describeIdentity(identity);
  if (!match) return `${local} is not a topic of the swarm protocol (PROTOCOL §2.1)`;
  const { spec, params } = match;
  if (!spec.publishers.includes(identity.kind)) {
    return `${who} may not publish on ${local}: only ${spec.publishers.join(', ')} may`;
  }
  if (identity.kind === 'agent' && params.agent !== undefined && params.agent !== identity.name) {
    return `${who} may publish on ${spec.pattern.replace('{agent}', identity.name)} only, not ${local}`;
  }
  if (claim === 'empty') {
    return spec.emptyAllowed ? undefined : `an empty message is not allowed on ${local}`;
  }
  if (claim.agentId !== identity.name) {
    return `envelope agent_id "${claim.agentId}" is not the sender: ${who} must write "${identity.name}"`;
  }
  const role = envelopeRoleOf(identity);
  if (claim.role !== role) {
    return `envelope role ${claim.role === undefined ? '(none)' : `"${claim.role}"`} is not the sender's: ${who} must write "${role}"`;
  }
  return undefined;
}

/**
 * Why `identity` may not subscribe to `filter` (local, wildcards allowed), or undefined. The hub,
 * operators and observers read everything; an agent reads only its own addressed topics and the
 * topics it needs (grants, decisions, hub status, its status, its subtasks' outcomes).
 * Anonymous readers may subscribe to anything: they get redacted copies (redactForAnonymous).
 */
export function subscribeRefusal(
  identity: Identity | undefined,
  filter: string,
  clientId: string,
): string | undefined {
  if (!identity || identity.kind !== 'agent') return undefined;
  const levels = filter.split('/');
  if (levels.includes('#')) return `agents may not subscribe with "#" (${filter})`;
  const candidates = [...LITERAL.values(), ...(PATTERNS.get(levels.length) ?? [])].filter(
    (entry) => entry.levels.length === levels.length && entry.spec.readers.includes('agent'),
  );
  for (const { levels: pattern } of candidates) {
    if (agentMayRead(pattern, levels, identity.name, clientId)) return undefined;
  }
  return `${describeIdentity(identity)} may not subscribe to ${filter}: an agent reads its own grants, decisions, statuses and subtask outcomes, and hub/status`;
}

function agentMayRead(
  pattern: string[],
  levels: string[],
  name: string,
  clientId: string,
): boolean {
  return pattern.every((want, i) => {
    const level = levels[i]!;
    const param = PARAM.exec(want)?.[1];
    if (param === 'agent') return level === name;
    if (param === 'client') return level === clientId;
    if (param) return level !== '' && !level.includes('#');
    return level === want;
  });
}

/**
 * The copy of a message an anonymous reader gets (PROTOCOL §15.3): the envelope's header and the
 * topic's public payload fields, naming what was left out; undefined when the topic is not
 * delivered to them at all.
 */
export function redactForAnonymous(spec: TopicSpec, message: unknown): unknown {
  if (!spec.public) return undefined;
  if (!message || typeof message !== 'object' || Array.isArray(message)) {
    return { redacted: ['(not an envelope)'] };
  }
  const envelope = message as Record<string, unknown>;
  const copy: Record<string, unknown> = {};
  for (const field of ['id', 'timestamp', 'agent_id', 'role', 'type']) {
    if (field in envelope) copy[field] = envelope[field];
  }
  const payload = envelope.payload;
  const redacted: string[] = [];
  if (payload && typeof payload === 'object' && !Array.isArray(payload)) {
    const kept: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(payload)) {
      if (spec.public.includes(field)) kept[field] = value;
      else redacted.push(field);
    }
    copy.payload = kept;
  } else if (payload !== undefined) {
    redacted.push('payload');
  }
  copy.redacted = redacted;
  return copy;
}
