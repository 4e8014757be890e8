import type { KeyObject } from 'node:crypto';
import type { Identity } from '../protocol/access.js';
import type { SignatureAlg, SigningKey } from '../protocol/signature.js';
import type { TopicSpec } from '../protocol/topic-table.js';
import type { CredentialStore } from './credential-store.js';
import { kidOf, mqttPasswordOf, signingKeyOf, type IdentityRef } from './identity-keys.js';

/** The identity a process acts as, with its keys. */
export interface SelfIdentity {
  readonly ref: IdentityRef;
  readonly kid: string;
  readonly signingKey: Buffer;
  readonly password: string;
}

/** Whom the hub addresses a message to, so it signs with that identity's key. */
export interface Recipient {
  name: string;
  /** Needed for a minted agent the hub has not heard from since it started. */
  role?: string;
}

export type VerifyKey = { key: SigningKey } | { refused: string } | 'unverifiable';

/** Derived keys kept at most; the cache is cleared when full or when the store changes. */
const KEY_CACHE_MAX = 10_000;

/**
 * What a process knows of the swarm's keys (PROTOCOL §15.2, §15.4): its own identity, the hub's
 * public key, and — for the hub, the embedded broker and local commands — the store from which
 * every identity's key derives.
 */
export class Keyring {
  readonly self: SelfIdentity | undefined;
  private readonly derived = new Map<string, Buffer>();
  /** The hub's view of whom it heard from: name → identity, for signing to them. */
  private readonly peers = new Map<string, IdentityRef>();

  constructor(
    self: { ref: IdentityRef; secret: Buffer } | undefined,
    private readonly hubKey: KeyObject | undefined,
    readonly store: CredentialStore | undefined,
    private readonly login?: { username: string; password: string },
  ) {
    this.self = self && {
      ref: self.ref,
      kid: kidOf(self.ref),
      signingKey: signingKeyOf(self.secret),
      password: mqttPasswordOf(self.ref, self.secret),
    };
  }

  static anonymous(login?: { username: string; password: string }): Keyring {
    return new Keyring(undefined, undefined, undefined, login);
  }

  get identity(): Identity | undefined {
    if (!this.self) return undefined;
    const { name, kind, role } = this.self.ref;
    return { name, kind, ...(role ? { role } : {}) };
  }

  /** The MQTT user name and password: the flags' (--username/--password) or the identity's. */
  get mqttLogin(): { username: string; password: string } | undefined {
    if (this.login) return this.login;
    return this.self && { username: this.self.ref.name, password: this.self.password };
  }

  get hubPublicKey(): KeyObject | undefined {
    return this.store?.hubPublicKey ?? this.hubKey;
  }

  /**
   * How this process signs on a topic: the hub with its Ed25519 key for everyone's topics, with
   * the recipient's key for one reader's; everyone else with their own key. A string says why it
   * cannot.
   */
  signingKeyFor(spec: TopicSpec, recipient?: Recipient): { kid: string; key: SigningKey } | string {
    const self = this.self;
    if (!self) return 'this process has no credentials to sign with';
    if (self.ref.kind !== 'hub')
      return { kid: self.kid, key: { alg: 'hs256', key: self.signingKey } };
    if (spec.hubSigning === 'recipient') {
      if (!recipient) return `a message on ${spec.pattern} needs its recipient to be signed`;
      const ref = this.recipientRef(recipient);
      if (!ref) return `no key for ${recipient.name}: it is not in the credential store`;
      return { kid: self.kid, key: { alg: 'hs256', key: this.keyOf(ref) } };
    }
    if (!this.store) return 'the hub signs with the key in the credential store, and has none';
    return { kid: self.kid, key: { alg: 'ed25519', key: this.store.hubPrivateKey } };
  }

  /**
   * The key to check a signature by `ref` with: the hub's public key, our own key (what the hub
   * addressed to us, or what we signed), or any identity's key derived from the store. Without
   * the store, others' HMAC keys are unknown: 'unverifiable'.
   */
  verifyKey(ref: IdentityRef, alg: SignatureAlg): VerifyKey {
    this.refreshStore();
    if (ref.kind === 'hub') {
      if (alg === 'ed25519') {
        const key = this.hubPublicKey;
        return key ? { key: { alg, key } } : 'unverifiable';
      }
      // The hub signs with HMAC only what it addresses to one identity, with that one's key.
      if (this.self && this.self.ref.kind !== 'hub') {
        return { key: { alg, key: this.self.signingKey } };
      }
      return 'unverifiable';
    }
    if (alg !== 'hs256') return { refused: 'only the hub signs with ed25519' };
    if (this.store) {
      let refusal = this.store.refusal(ref);
      // Perhaps issued in the last second, after our last look at the file.
      if (refusal && this.store.refresh(Date.now(), true)) {
        this.derived.clear();
        refusal = this.store.refusal(ref);
      }
      return refusal ? { refused: refusal } : { key: { alg, key: this.keyOf(ref) } };
    }
    if (this.self && kidOf(ref) === this.self.kid)
      return { key: { alg, key: this.self.signingKey } };
    return 'unverifiable';
  }

  /** The hub remembers who spoke, to sign what it sends them with their key. */
  rememberPeer(ref: IdentityRef): void {
    const known = this.peers.get(ref.name);
    if (known?.generation === ref.generation && known.role === ref.role) return;
    if (this.peers.size >= KEY_CACHE_MAX) this.peers.clear();
    this.peers.set(ref.name, ref);
  }

  private recipientRef(recipient: Recipient): IdentityRef | undefined {
    const heard = this.peers.get(recipient.name);
    if (heard) return heard;
    const listed = this.store?.refOf(recipient.name);
    if (listed) return listed;
    if (recipient.role && this.store && !this.store.entry(recipient.name)) {
      return { kind: 'agent', role: recipient.role, name: recipient.name, generation: 1 };
    }
    return undefined;
  }

  private keyOf(ref: IdentityRef): Buffer {
    const kid = kidOf(ref);
    let key = this.derived.get(kid);
    if (!key) {
      if (this.derived.size >= KEY_CACHE_MAX) this.derived.clear();
      key = signingKeyOf(this.store!.secretOf(ref));
      this.derived.set(kid, key);
    }
    return key;
  }

  private refreshStore(): void {
    if (this.store?.refresh()) {
      // A revocation or rotation: forget every derived key and every remembered peer.
      this.derived.clear();
      this.peers.clear();
    }
  }
}
