import { EnvelopeSecurity } from '../../src/auth/envelope-security.js';
import type { CredentialStore } from '../../src/auth/credential-store.js';
import { Keyring } from '../../src/auth/keyring.js';
import type { IdentityRef } from '../../src/auth/identity-keys.js';
import { silentLogger } from '../../src/logging/logger.js';
import { envelopeRoleOf } from '../../src/protocol/access.js';
import { encodeMessage } from '../../src/protocol/codec.js';
import { matchTopic } from '../../src/protocol/access.js';
import { buildTopic } from '../../src/protocol/topics.js';
import { Bus, type BusOptions } from '../../src/transport/bus.js';

/** Who a test client is: an identity of the swarm's store (agents are minted by name). */
export type TestIdentity =
  | { kind: 'operator' }
  | { kind: 'observer' }
  | { kind: 'hub' }
  | { kind: 'agent'; name: string; role: string };

/** The identity's ref in the store, listing an observer the first time one is asked for. */
export function refFor(store: CredentialStore, identity: TestIdentity): IdentityRef {
  switch (identity.kind) {
    case 'operator':
      return store.refOf('operator')!;
    case 'hub':
      return store.refOf('hub')!;
    case 'observer':
      return store.refOf('observer') ?? store.add('observer', 'observer', undefined);
    case 'agent':
      return store.agentRef(identity.name, identity.role);
  }
}

export function keyringFor(store: CredentialStore, identity: TestIdentity): Keyring {
  const ref = refFor(store, identity);
  return new Keyring({ ref, secret: store.secretOf(ref) }, undefined, store);
}

export function loginFor(
  store: CredentialStore,
  identity: TestIdentity,
): { username: string; password: string } {
  return keyringFor(store, identity).mqttLogin!;
}

/**
 * What a client with this identity's key can send: `body` (an envelope's JSON, or anything)
 * signed on `local`. A test forges with it: a valid signature over a message that lies.
 */
export function signerFor(
  store: CredentialStore,
  swarm: string,
  identity: TestIdentity,
): (local: string, body: string, recipient?: { name: string; role?: string }) => string {
  const security = new EnvelopeSecurity({
    keyring: keyringFor(store, identity),
    signing: true,
    strict: false,
    maxClockSkewMs: 300_000,
    replayCacheSize: 1_000,
  });
  return (local, body, recipient) =>
    security.seal(buildTopic(swarm, local), matchTopic(local)?.spec, body, recipient);
}

/** An envelope from this identity, as its own code would write it (sender = its name and role). */
export function envelopeFrom(
  store: CredentialStore,
  identity: TestIdentity,
  payload: unknown,
  extra: { type?: string; id?: string } = {},
): string {
  const ref = refFor(store, identity);
  const role = envelopeRoleOf({
    name: ref.name,
    kind: ref.kind,
    ...(ref.role ? { role: ref.role } : {}),
  });
  return encodeMessage({ agentId: ref.name, role }, payload, extra);
}

/** A connected Bus acting as this identity, signing (unless `signing: false`). */
export async function connectAs(
  url: string,
  swarm: string,
  store: CredentialStore,
  identity: TestIdentity,
  options: { signing?: boolean; clientId?: string; will?: BusOptions['will'] } = {},
): Promise<Bus> {
  const keyring = keyringFor(store, identity);
  const ref = keyring.self!.ref;
  const login = keyring.mqttLogin!;
  const clientId =
    options.clientId ??
    (ref.kind === 'agent'
      ? ref.name
      : ref.kind === 'hub'
        ? `sheri-hub-test-${Math.random().toString(36).slice(2, 8)}`
        : `sheri-cli-test-${Math.random().toString(36).slice(2, 8)}`);
  return Bus.connect({
    url,
    swarm,
    sender: { agentId: ref.name, role: envelopeRoleOf(keyring.identity!) },
    clientId,
    logger: silentLogger(),
    maxPayloadBytes: 1 << 20,
    username: login.username,
    password: login.password,
    report: false,
    ...(options.will ? { will: options.will } : {}),
    security: new EnvelopeSecurity({
      keyring,
      signing: options.signing ?? true,
      strict: false,
      maxClockSkewMs: 300_000,
      replayCacheSize: 10_000,
    }),
  });
}
