import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeCredentialFile } from '../auth/credential-file.js';
import { CredentialStore } from '../auth/credential-store.js';
import { mqttPasswordOf, type IdentityRef } from '../auth/identity-keys.js';
import { mosquittoAcl, mosquittoConf, mosquittoPasswords } from '../auth/mosquitto-files.js';
import { EXIT, SheriError } from '../errors.js';
import { KINDS, type Kind } from '../protocol/topic-table.js';
import { knownRoles } from '../protocol/task-types.js';
import { makeConfig, printJson, printTable, type GlobalFlags } from './common.js';

export interface StoreFlags extends GlobalFlags {
  out?: string;
}

function openStore(flags: GlobalFlags): CredentialStore {
  const config = makeConfig(flags);
  const store = CredentialStore.open(config.dataDir);
  if (!store) {
    throw new SheriError(
      `no credential store in ${config.dataDir}: \`sheri up\`, \`sheri broker\` or \`sheri hub\` creates it on first start (or pass --data-dir)`,
      EXIT.config,
    );
  }
  return store;
}

/** Write an identity's credential file for another machine; say how to use it. */
function writeFor(store: CredentialStore, ref: IdentityRef, out: string | undefined): void {
  const file = resolve(out ?? `${ref.name}.credentials.json`);
  writeCredentialFile(file, store.issue(ref));
  const use =
    ref.kind === 'agent'
      ? `sheri agent --credentials ${file} --broker mqtt://<this-host>:1883`
      : `sheri task submit --credentials ${file} --broker mqtt://<this-host>:1883 …`;
  process.stdout.write(
    `wrote ${file} (mode 0600): ${describe(ref)}, generation ${ref.generation}\ncopy it to the other machine and run: ${use}\n`,
  );
}

function describe(ref: { kind: Kind; role?: string; name: string }): string {
  return ref.kind === 'agent'
    ? `agent "${ref.name}" of role ${ref.role}`
    : `${ref.kind} "${ref.name}"`;
}

export function addCredential(
  flags: StoreFlags & { kind: string; name: string; role?: string },
): void {
  if (!(KINDS as string[]).includes(flags.kind) || flags.kind === 'hub') {
    throw new SheriError(`--kind must be agent, operator or observer, got "${flags.kind}"`);
  }
  if (flags.role) {
    const roles = knownRoles(makeConfig(flags).taskTypes);
    if (!roles.includes(flags.role)) {
      throw new SheriError(`unknown role "${flags.role}"; roles are ${roles.join(', ')}`);
    }
  }
  const store = openStore(flags);
  const ref = store.add(flags.kind as Kind, flags.name, flags.role);
  writeFor(store, ref, flags.out);
}

export function listCredentials(flags: StoreFlags): void {
  const rows = openStore(flags)
    .list()
    .map(({ name, entry }) => ({
      name,
      kind: entry.kind,
      role: entry.role ?? null,
      generation: entry.generation,
      created_at: entry.created_at,
      revoked_at: entry.revoked_at ?? null,
    }));
  if (flags.json) return printJson(rows);
  printTable(
    ['NAME', 'KIND', 'ROLE', 'GENERATION', 'CREATED', 'REVOKED'],
    rows.map((row) => [
      row.name,
      row.kind,
      row.role ?? '-',
      String(row.generation),
      row.created_at,
      row.revoked_at ?? '-',
    ]),
  );
  process.stdout.write('(local agents are minted from the store and not listed)\n');
}

export function revokeCredential(name: string, flags: StoreFlags): void {
  openStore(flags).revoke(name);
  process.stdout.write(
    `revoked ${name}; the embedded broker and the hub refuse it from now on (for mosquitto: sheri credentials mosquitto --out DIR, then kill -HUP mosquitto)\n`,
  );
}

export function rotateCredential(name: string, flags: StoreFlags): void {
  const store = openStore(flags);
  const ref = store.rotate(name);
  if (ref.kind === 'hub') {
    process.stdout.write(
      `rotated the hub to generation ${ref.generation}; restart it (its key pair is unchanged)\n`,
    );
    return;
  }
  writeFor(store, ref, flags.out);
}

export function exportCredential(name: string, flags: StoreFlags): void {
  const store = openStore(flags);
  const ref = store.refOf(name);
  if (!ref) throw new SheriError(`no active identity "${name}" (sheri credentials list)`);
  writeFor(store, ref, flags.out);
}

export function printLogin(name: string, flags: StoreFlags): void {
  const store = openStore(flags);
  const ref = store.refOf(name);
  if (!ref) throw new SheriError(`no active identity "${name}" (sheri credentials list)`);
  process.stdout.write(`${ref.name}\n${mqttPasswordOf(ref, store.secretOf(ref))}\n`);
}

export function writeMosquittoFiles(
  flags: StoreFlags & { out: string; issue: string[]; owner?: string },
): void {
  const config = makeConfig(flags);
  // The swarm's setup step (docker-compose runs it first): the store is made if need be.
  const store = CredentialStore.openOrCreate(config.dataDir);
  const dir = resolve(flags.out);
  mkdirSync(dir, { recursive: true });
  for (const spec of flags.issue) {
    const [name, role] = spec.split(':');
    if (!name || !role) throw new SheriError(`--issue takes NAME:ROLE, got "${spec}"`);
    const ref = store.refOf(name) ?? store.add('agent', name, role);
    if (ref.kind !== 'agent' || ref.role !== role) {
      throw new SheriError(`--issue ${spec}: "${name}" is already ${describe(ref)}`);
    }
    writeCredentialFile(join(dir, `${name}.credentials.json`), store.issue(ref));
  }
  writeFileSync(join(dir, 'passwords'), mosquittoPasswords(store), { mode: 0o600 });
  writeFileSync(join(dir, 'acl'), mosquittoAcl(store, config.swarm), { mode: 0o644 });
  writeFileSync(join(dir, 'mosquitto.conf'), mosquittoConf(shippedConf(), dir));
  mkdirSync(join(dir, 'data'), { recursive: true });
  const owner = flags.owner ? giveTo(dir, flags.owner) : giveToMosquitto(dir);
  process.stdout.write(
    `wrote ${join(dir, 'passwords')}, ${join(dir, 'acl')} (swarm ${config.swarm}) and ${join(dir, 'mosquitto.conf')}${owner}\nrun: mosquitto -c ${join(dir, 'mosquitto.conf')}   (after a change: kill -HUP <mosquitto pid>)\n`,
  );
}

/**
 * mosquitto started as root drops to its own user (`mosquitto`), which must read the password
 * file and write `data/`: when we are root and that user exists, the folder becomes its own.
 */
function giveToMosquitto(dir: string): string {
  if (process.getuid?.() !== 0) return '';
  const line = (existsSync('/etc/passwd') ? readFileSync('/etc/passwd', 'utf8') : '')
    .split('\n')
    .find((entry) => entry.startsWith('mosquitto:'));
  if (!line) return '';
  const [, , uid, gid] = line.split(':');
  giveTo(dir, `${uid}:${gid}`);
  return ' (owned by user mosquitto, which mosquitto runs as when started as root)';
}

function giveTo(dir: string, owner: string): string {
  const match = /^(\d+):(\d+)$/.exec(owner);
  if (!match) throw new SheriError(`--owner takes UID:GID, got "${owner}"`);
  for (const name of ['', 'passwords', 'acl', 'mosquitto.conf', 'data']) {
    chownSync(join(dir, name), Number(match[1]), Number(match[2]));
  }
  return ` (owned by ${owner})`;
}

/** The repository's mosquitto.conf, shipped in the package (package.json "files"). */
export function shippedConf(): string {
  const file = fileURLToPath(new URL('../../../mosquitto.conf', import.meta.url));
  const fallback = fileURLToPath(new URL('../../mosquitto.conf', import.meta.url));
  return readFileSync(existsSync(file) ? file : fallback, 'utf8');
}
