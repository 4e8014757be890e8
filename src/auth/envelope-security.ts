import {
  envelopeRoleOf,
  identityFromEnvelope,
  publishRefusal,
  type Identity,
  type TopicMatch,
} from '../protocol/access.js';
import type { Envelope } from '../protocol/messages.js';
import { checkSignature, signBody, splitSignature } from '../protocol/signature.js';
import { TOPICS, type TopicSpec } from '../protocol/topic-table.js';
import { parseKid, type IdentityRef } from './identity-keys.js';
import type { Keyring, Recipient } from './keyring.js';
import { ReplayGuard } from './replay-guard.js';

export type SecurityCode = 'BAD_SIGNATURE' | 'STALE' | 'REPLAYED' | 'NOT_AUTHORIZED';

export interface SecurityFailure {
  ok: false;
  code: SecurityCode;
  reason: string;
}

export interface Opened {
  ok: true;
  /** The bytes to parse: the signed envelope, without its signature. */
  body: Buffer;
  /** Who signed it, when the signature was checked. */
  signer?: IdentityRef;
}

export interface Admitted {
  ok: true;
  sender: Identity;
  /** false: the sender is what the envelope says, unchecked (unsigned swarm, or a reader without the key). */
  verified: boolean;
}

export interface SecurityOptions {
  keyring: Keyring;
  /** Sign what we send and check what we receive (`security.signing`). */
  signing: boolean;
  /**
   * true (hub, agents): a message whose signature cannot be checked is refused. false (CLI
   * readers): it is taken as unverified, for display; trust decisions look at `verified`.
   */
  strict: boolean;
  maxClockSkewMs: number;
  replayCacheSize: number;
  now?: () => number;
}

const FALLBACK_SPEC: TopicSpec = TOPICS.broadcast;

/**
 * Signing and checking envelopes (PROTOCOL §15.4) and who may send what (§15.3), for one
 * process's bus: `seal` signs what it publishes; `open` checks a signature before the body is
 * parsed; `admit` checks, after parsing, that the envelope names its signer, is fresh and new,
 * and that its sender may publish there.
 */
export class EnvelopeSecurity {
  private readonly replay: ReplayGuard;
  private readonly now: () => number;

  constructor(private readonly options: SecurityOptions) {
    this.replay = new ReplayGuard(options.maxClockSkewMs, options.replayCacheSize);
    this.now = options.now ?? Date.now;
  }

  get signing(): boolean {
    return this.options.signing;
  }

  get keyring(): Keyring {
    return this.options.keyring;
  }

  seal(
    fullTopic: string,
    spec: TopicSpec | undefined,
    body: string,
    recipient?: Recipient,
  ): string {
    if (!this.options.signing) return body;
    const signer = this.options.keyring.signingKeyFor(spec ?? FALLBACK_SPEC, recipient);
    if (typeof signer === 'string')
      throw new Error(`cannot sign a message on ${fullTopic}: ${signer}`);
    return signBody(fullTopic, body, signer.kid, signer.key);
  }

  open(fullTopic: string, bytes: Buffer): Opened | SecurityFailure {
    if (!this.options.signing) return { ok: true, body: bytes };
    const split = splitSignature(bytes);
    if (split === undefined) {
      return this.unverified(
        bytes,
        'the message is not signed, and this swarm signs every message (security.signing, PROTOCOL §15.4)',
      );
    }
    if (typeof split === 'string') return this.unverified(bytes, `bad signature: ${split}`);
    const ref = parseKid(split.header.kid);
    if (!ref) return fail('BAD_SIGNATURE', `bad signature: unknown key id "${split.header.kid}"`);
    const key = this.options.keyring.verifyKey(ref, split.header.alg);
    if (key === 'unverifiable') {
      return this.unverified(split.body, `no key to check a signature by ${split.header.kid}`);
    }
    if ('refused' in key) return fail('BAD_SIGNATURE', `bad signature: ${key.refused}`);
    if (!checkSignature(fullTopic, split, key.key)) {
      // What the hub signed for another reader (a grant, a decision) a watcher cannot check.
      if (ref.kind === 'hub' && split.header.alg === 'hs256' && !this.options.strict) {
        return { ok: true, body: split.body };
      }
      return fail(
        'BAD_SIGNATURE',
        `bad signature: it does not match the message and topic under ${split.header.kid}'s key`,
      );
    }
    return { ok: true, body: split.body, signer: ref };
  }

  admit(
    local: string,
    match: TopicMatch | undefined,
    envelope: Envelope,
    opened: Opened,
  ): Admitted | SecurityFailure {
    const signer = opened.signer;
    let sender: Identity;
    if (signer) {
      sender = {
        name: signer.name,
        kind: signer.kind,
        ...(signer.role ? { role: signer.role } : {}),
      };
      // A retained message is old by design: only its signature is checked (PROTOCOL §15.4).
      if (!match?.spec.retained) {
        const at = Date.parse(envelope.timestamp);
        const verdict = this.replay.check(signer.name, envelope.id, at, this.now());
        if (verdict === 'STALE') {
          return fail(
            'STALE',
            `timestamp ${envelope.timestamp} is more than ${this.options.maxClockSkewMs / 1000} s from this receiver's clock (${new Date(this.now()).toISOString()})`,
          );
        }
        if (verdict === 'REPLAYED') {
          return fail(
            'REPLAYED',
            `message ${envelope.id} from ${signer.name} was already received`,
          );
        }
      }
      if (this.options.keyring.self?.ref.kind === 'hub') this.options.keyring.rememberPeer(signer);
    } else {
      sender = identityFromEnvelope(envelope.agent_id, envelope.role);
    }
    if (match) {
      // Unsigned, the sender is what the envelope says: only the topic is left to check.
      const claim = signer
        ? { agentId: envelope.agent_id, role: envelope.role }
        : { agentId: sender.name, role: envelopeRoleOf(sender) };
      const refusal = publishRefusal(sender, local, claim);
      if (refusal) return fail('NOT_AUTHORIZED', refusal);
    }
    return { ok: true, sender, verified: signer !== undefined };
  }

  private unverified(body: Buffer, reason: string): Opened | SecurityFailure {
    return this.options.strict ? fail('BAD_SIGNATURE', reason) : { ok: true, body };
  }
}

function fail(code: SecurityCode, reason: string): SecurityFailure {
  return { ok: false, code, reason };
}
