import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { EXIT, SheriError } from '../errors.js';
import { formatIssues } from '../protocol/codec.js';
import { KINDS, type Kind } from '../protocol/topic-table.js';
import { deriveSecret, IDENTITY_NAME, type IdentityRef } from './identity-keys.js';
import type { CredentialFile } from './credential-file.js';
import {
  createPrivateFile,
  ensurePrivateDir,
  readPrivateFile,
  writePrivateFile,
} from './private-file.js';

export const STORE_FILE = 'credentials.json';
/** The operator every local command logs in as (PROTOCOL §15.2). */
export const LOCAL_OPERATOR = 'operator';
/** How often a long-running reader looks at the file for revocations and rotations. */
const REFRESH_MS = 1_000;

const Entry = z.strictObject({
  kind: z.enum(KINDS as [Kind, ...Kind[]]),
  role: z.string().min(1).max(100).optional(),
  generation: z.int().min(1),
  created_at: z.string(),
  revoked_at: z.string().optional(),
});
export type StoreEntry = z.infer<typeof Entry>;

const StoreFile = z.strictObject({
  sheri_credentials: z.literal(1),
  master: z.string().min(40),
  hub_key: z.strictObject({ public: z.string(), private: z.string() }),
  identities: z.record(z.string().regex(IDENTITY_NAME), Entry),
});
type StoreFile = z.infer<typeof StoreFile>;

/**
 * The swarm's credential store (PROTOCOL §15.2): the master secret every identity's keys derive
 * from, the hub's Ed25519 key pair, and the identities issued, rotated and revoked. Whoever holds
 * it holds every key: the hub, the embedded broker, and the local commands.
 */
export class CredentialStore {
  private data: StoreFile;
  private masterKey: Buffer;
  private hubPrivate: KeyObject;
  private hubPublic: KeyObject;
  private stamp: string;
  private checkedAt = 0;

  private constructor(readonly file: string) {
    this.data = this.read();
    this.masterKey = Buffer.from(this.data.master, 'base64url');
    this.hubPrivate = importPrivate(this.data.hub_key.private);
    this.hubPublic = importPublic(this.data.hub_key.public);
    this.stamp = stampOf(file);
  }

  static pathIn(dataDir: string): string {
    return join(dataDir, STORE_FILE);
  }

  /** The store of `dataDir`, created with a hub and an operator on first start. */
  static openOrCreate(dataDir: string): CredentialStore {
    ensurePrivateDir(dataDir);
    const file = CredentialStore.pathIn(dataDir);
    if (!existsSync(file)) createPrivateFile(file, `${JSON.stringify(freshStore(), null, 2)}\n`);
    return new CredentialStore(file);
  }

  /** The store of `dataDir` if there is one. */
  static open(dataDir: string): CredentialStore | undefined {
    const file = CredentialStore.pathIn(dataDir);
    return existsSync(file) ? new CredentialStore(file) : undefined;
  }

  get master(): Buffer {
    return this.masterKey;
  }

  get hubPrivateKey(): KeyObject {
    return this.hubPrivate;
  }

  get hubPublicKey(): KeyObject {
    return this.hubPublic;
  }

  get hubPublicKeyText(): string {
    return this.data.hub_key.public;
  }

  entry(name: string): StoreEntry | undefined {
    return Object.hasOwn(this.data.identities, name) ? this.data.identities[name] : undefined;
  }

  list(): { name: string; entry: StoreEntry }[] {
    return Object.entries(this.data.identities)
      .map(([name, entry]) => ({ name, entry }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Why `ref` is not a valid identity now, or undefined when it is: a listed identity must match
   * its entry and not be revoked; an unlisted one is valid only as a minted agent (generation 1).
   */
  refusal(ref: IdentityRef): string | undefined {
    const entry = this.entry(ref.name);
    if (!entry) {
      return ref.kind === 'agent' && ref.generation === 1
        ? undefined
        : `no ${ref.kind} "${ref.name}" in the credential store`;
    }
    if (entry.revoked_at) return `identity "${ref.name}" was revoked at ${entry.revoked_at}`;
    if (entry.kind !== ref.kind)
      return `identity "${ref.name}" is a ${entry.kind}, not a ${ref.kind}`;
    if (entry.kind === 'agent' && entry.role !== ref.role) {
      return `agent "${ref.name}" has role ${entry.role}, not ${ref.role}`;
    }
    if (entry.generation !== ref.generation) {
      return `identity "${ref.name}" is at generation ${entry.generation}; generation ${ref.generation} was rotated out`;
    }
    return undefined;
  }

  /** The listed identity of a name, as it is now. */
  refOf(name: string): IdentityRef | undefined {
    const entry = this.entry(name);
    if (!entry || entry.revoked_at) return undefined;
    return {
      kind: entry.kind,
      ...(entry.role ? { role: entry.role } : {}),
      name,
      generation: entry.generation,
    };
  }

  /** A local agent's identity: its listed entry, or minted (PROTOCOL §15.2). */
  agentRef(name: string, role: string): IdentityRef {
    const listed = this.entry(name);
    if (!listed) return { kind: 'agent', role, name, generation: 1 };
    const ref = this.refOf(name);
    const problem = ref ? this.refusal({ ...ref, kind: 'agent', role }) : undefined;
    if (!ref || problem) {
      throw new SheriError(
        `cannot run agent "${name}" as role ${role}: ${problem ?? `identity "${name}" was revoked`}`,
        EXIT.config,
      );
    }
    return ref;
  }

  secretOf(ref: IdentityRef): Buffer {
    return deriveSecret(this.masterKey, ref);
  }

  /** What `sheri credentials add/rotate` writes for another machine. */
  issue(ref: IdentityRef): CredentialFile {
    return {
      sheri_credential: 1,
      name: ref.name,
      kind: ref.kind,
      ...(ref.role ? { role: ref.role } : {}),
      generation: ref.generation,
      secret: this.secretOf(ref).toString('base64url'),
      hub_public_key: this.data.hub_key.public,
    };
  }

  add(kind: Kind, name: string, role: string | undefined, now = new Date()): IdentityRef {
    if (!IDENTITY_NAME.test(name)) {
      throw new SheriError(`name "${name}" must be 1-100 letters, digits, ".", "_" or "-"`);
    }
    if ((kind === 'agent') !== Boolean(role)) {
      throw new SheriError(
        kind === 'agent' ? 'an agent credential needs --role' : `a ${kind} has no role`,
      );
    }
    if (name === 'hub' && kind !== 'hub') throw new SheriError('the name "hub" is the hub\'s');
    return this.update((identities) => {
      if (identities[name]) {
        throw new SheriError(
          `"${name}" is already in the store (${describe(identities[name])}); rotate it, or pick another name`,
        );
      }
      identities[name] = {
        kind,
        ...(role ? { role } : {}),
        generation: 1,
        created_at: now.toISOString(),
      };
      return { kind, ...(role ? { role } : {}), name, generation: 1 };
    });
  }

  /** A new generation: the old password and signing key stop working. */
  rotate(name: string, now = new Date()): IdentityRef {
    return this.update((identities) => {
      const entry = identities[name];
      if (!entry || entry.revoked_at) {
        throw new SheriError(`no active identity "${name}" to rotate (sheri credentials list)`);
      }
      entry.generation += 1;
      entry.created_at = now.toISOString();
      const { kind, role, generation } = entry;
      return { kind, ...(role ? { role } : {}), name, generation };
    });
  }

  /** Revoke for good: the name stays listed, so neither its credential nor a minted one works. */
  revoke(name: string, now = new Date()): void {
    this.update((identities) => {
      const entry = identities[name];
      if (entry?.revoked_at) throw new SheriError(`"${name}" is already revoked`);
      if (entry?.kind === 'hub') throw new SheriError('the hub cannot be revoked; rotate it');
      // An unlisted name is a minted agent: list it revoked.
      identities[name] = {
        ...(entry ?? { kind: 'agent', generation: 1, created_at: now.toISOString() }),
        revoked_at: now.toISOString(),
      };
    });
  }

  /**
   * Re-read the file if it changed, at most once a second: how a long-running hub or broker learns
   * of revocations. True when it changed.
   */
  refresh(now = Date.now(), force = false): boolean {
    if (!force && now - this.checkedAt < REFRESH_MS) return false;
    this.checkedAt = now;
    const stamp = stampOf(this.file);
    if (stamp === this.stamp) return false;
    this.data = this.read();
    this.masterKey = Buffer.from(this.data.master, 'base64url');
    this.hubPrivate = importPrivate(this.data.hub_key.private);
    this.hubPublic = importPublic(this.data.hub_key.public);
    this.stamp = stamp;
    return true;
  }

  private update<T>(change: (identities: StoreFile['identities']) => T): T {
    this.data = this.read();
    const result = change(this.data.identities);
    writePrivateFile(this.file, `${JSON.stringify(this.data, null, 2)}\n`);
    this.stamp = stampOf(this.file);
    return result;
  }

  private read(): StoreFile {
    const text = readPrivateFile(this.file);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new SheriError(`${this.file} is not JSON: ${(error as Error).message}`, EXIT.config);
    }
    const parsed = StoreFile.safeParse(json);
    if (!parsed.success) {
      throw new SheriError(
        `${this.file} is not a sheri credential store: ${formatIssues(parsed.error)}`,
        EXIT.config,
      );
    }
    return parsed.data;
  }
}

function describe(entry: StoreEntry | undefined): string {
  if (!entry) return 'none';
  const what = entry.kind === 'agent' ? `agent of role ${entry.role}` : entry.kind;
  return entry.revoked_at ? `${what}, revoked` : what;
}

function stampOf(file: string): string {
  const stat = statSync(file);
  return `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
}

function freshStore(now = new Date()): StoreFile {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const created = now.toISOString();
  return {
    sheri_credentials: 1,
    master: randomBytes(32).toString('base64url'),
    hub_key: {
      public: publicKey.export({ format: 'der', type: 'spki' }).toString('base64url'),
      private: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64url'),
    },
    identities: {
      hub: { kind: 'hub', generation: 1, created_at: created },
      [LOCAL_OPERATOR]: { kind: 'operator', generation: 1, created_at: created },
    },
  };
}

export function importPublic(text: string): KeyObject {
  return createPublicKey({ key: Buffer.from(text, 'base64url'), format: 'der', type: 'spki' });
}

function importPrivate(text: string): KeyObject {
  return createPrivateKey({ key: Buffer.from(text, 'base64url'), format: 'der', type: 'pkcs8' });
}
