import type { Config } from '../config/load.js';
import { EXIT, SheriError } from '../errors.js';
import type { Kind } from '../protocol/topic-table.js';
import { readCredentialFile, refOfCredential } from './credential-file.js';
import { CredentialStore, LOCAL_OPERATOR } from './credential-store.js';
import { importPublic } from './credential-store.js';
import { Keyring } from './keyring.js';

/** What a process wants to be; `reader` takes an operator's or an observer's credential, else none. */
export type Want =
  | { kind: 'hub' }
  | { kind: 'agent'; name: string; role: string }
  | { kind: 'operator' }
  | { kind: 'reader' };

/**
 * The keys a process acts with (PROTOCOL §15.2): its `--credentials` file, else the credential
 * store of its data directory (the hub creates it on first start), else none — anonymous, and
 * unable to sign.
 */
export function loadKeyring(
  config: Config,
  want: Want,
  options: { create?: boolean } = {},
): Keyring {
  const login = config.mqttLogin;
  if (config.credentialsFile) {
    const credential = readCredentialFile(config.credentialsFile);
    const ref = refOfCredential(credential);
    const ok =
      want.kind === 'reader'
        ? ref.kind === 'operator' || ref.kind === 'observer'
        : ref.kind === want.kind;
    if (!ok) {
      throw new SheriError(
        `${config.credentialsFile} is the credential of ${ref.kind} "${ref.name}"; this command needs ${want.kind === 'reader' ? 'an operator or observer' : `a ${want.kind}`} credential`,
        EXIT.config,
      );
    }
    if (want.kind === 'agent' && (want.name !== ref.name || want.role !== ref.role)) {
      throw new SheriError(
        `${config.credentialsFile} is agent "${ref.name}" of role ${ref.role}; it cannot run as "${want.name}" of role ${want.role} (leave out --agent-id and --role)`,
        EXIT.usage,
      );
    }
    const secret = Buffer.from(credential.secret, 'base64url');
    return new Keyring({ ref, secret }, importPublic(credential.hub_public_key), undefined, login);
  }
  const store = options.create
    ? CredentialStore.openOrCreate(config.dataDir)
    : CredentialStore.open(config.dataDir);
  if (!store) return Keyring.anonymous(login);
  const ref =
    want.kind === 'agent'
      ? store.agentRef(want.name, want.role)
      : store.refOf(want.kind === 'hub' ? 'hub' : LOCAL_OPERATOR);
  if (!ref) {
    if (want.kind === 'reader') return new Keyring(undefined, undefined, store, login);
    throw new SheriError(
      `the credential store ${store.file} has no active ${want.kind}; see sheri credentials list`,
      EXIT.config,
    );
  }
  return new Keyring({ ref, secret: store.secretOf(ref) }, undefined, store, login);
}

/**
 * An agent's identity from its `--credentials` file, for the flags it did not give (PROTOCOL
 * §15.2: the credential names the agent and fixes its role).
 */
export function credentialIdentity(
  config: Config,
): { kind: Kind; name: string; role?: string } | undefined {
  if (!config.credentialsFile) return undefined;
  const credential = readCredentialFile(config.credentialsFile);
  return {
    kind: credential.kind,
    name: credential.name,
    ...(credential.role ? { role: credential.role } : {}),
  };
}

/** Signing needs keys: say how to get them instead of failing at the first publish. */
export function requireSigningKey(config: Config, keyring: Keyring, what: string): void {
  if (!config.security.signing || keyring.self) return;
  throw new SheriError(
    `${what} signs every message (security.signing), and has no credentials: run \`sheri up\` (or \`sheri hub\`) once with this data directory (${config.dataDir}) to create them, or pass --credentials FILE from \`sheri credentials add\` (or run the swarm with --no-signing)`,
    EXIT.config,
  );
}

/**
 * Keyrings for many local agents at once (`--replicas`): the credential store is read once and
 * each agent's identity derived from it, minted by name (PROTOCOL §15.2). A credential file
 * names one agent, so it cannot serve several.
 */
export function agentKeyrings(config: Config): (name: string, role: string) => Keyring {
  if (config.credentialsFile) {
    throw new SheriError(
      `${config.credentialsFile} is the credential of one agent; agents started together (--replicas, sheri up --agents) take their identities from the credential store of the data directory (${config.dataDir})`,
      EXIT.usage,
    );
  }
  const store = CredentialStore.open(config.dataDir);
  if (!store) {
    if (config.security.signing) {
      throw new SheriError(
        `no credential store in ${config.dataDir}: run \`sheri up\` (or \`sheri hub\`) once with this data directory to create it (or run the swarm with --no-signing)`,
        EXIT.config,
      );
    }
    return () => Keyring.anonymous(config.mqttLogin);
  }
  return (name, role) => {
    const ref = store.agentRef(name, role);
    return new Keyring({ ref, secret: store.secretOf(ref) }, undefined, store, config.mqttLogin);
  };
}
