import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readCredentialFile, writeCredentialFile } from '../../src/auth/credential-file.js';
import { CredentialStore } from '../../src/auth/credential-store.js';
import { credentialPaths } from '../../src/auth/credential-paths.js';
import { mqttPasswordOf, refOfPassword } from '../../src/auth/identity-keys.js';

describe('the credential store', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  function dataDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'sheri-store-'));
    dirs.push(dir);
    return join(dir, '.sheri');
  }

  it('is created on first start, mode 0600 in a folder of mode 0700, with a hub and an operator', () => {
    const dir = dataDir();
    const store = CredentialStore.openOrCreate(dir);
    expect(statSync(store.file).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(store.list().map(({ name, entry }) => [name, entry.kind])).toEqual([
      ['hub', 'hub'],
      ['operator', 'operator'],
    ]);
    // A second start opens the same store, it does not make a new one.
    expect(CredentialStore.openOrCreate(dir).master.equals(store.master)).toBe(true);
    expect(credentialPaths({ dataDir: dir, credentialsFile: undefined })).toEqual([store.file]);
  });

  it('refuses a store that others could have read, saying how to fix it', () => {
    const dir = dataDir();
    const store = CredentialStore.openOrCreate(dir);
    chmodSync(store.file, 0o644);
    expect(() => CredentialStore.open(dir)).toThrow(/readable by others .*chmod 600/);
  });

  it('accepts a minted local agent, and an issued one only as issued', () => {
    const store = CredentialStore.openOrCreate(dataDir());
    expect(
      store.refusal({ kind: 'agent', role: 'testing', name: 'testing-x', generation: 1 }),
    ).toBeUndefined();
    expect(store.refusal({ kind: 'operator', name: 'someone', generation: 1 })).toMatch(
      /no operator/,
    );
    store.add('agent', 'deploy-box', 'deployment');
    expect(
      store.refusal({ kind: 'agent', role: 'testing', name: 'deploy-box', generation: 1 }),
    ).toMatch(/has role deployment, not testing/);
    expect(
      store.refusal({ kind: 'agent', role: 'deployment', name: 'deploy-box', generation: 1 }),
    ).toBeUndefined();
  });

  it('stops a rotated-out generation and a revoked name, minted or issued', () => {
    const store = CredentialStore.openOrCreate(dataDir());
    const first = store.add('agent', 'box', 'testing');
    const second = store.rotate('box');
    expect(second.generation).toBe(2);
    expect(store.refusal(first)).toMatch(/rotated out/);
    expect(store.refusal(second)).toBeUndefined();
    store.revoke('box');
    expect(store.refusal(second)).toMatch(/revoked/);
    store.revoke('testing-minted');
    expect(
      store.refusal({ kind: 'agent', role: 'testing', name: 'testing-minted', generation: 1 }),
    ).toMatch(/revoked/);
  });

  it('issues a file from which the same password and keys derive, and nothing else', () => {
    const dir = dataDir();
    const store = CredentialStore.openOrCreate(dir);
    const ref = store.add('agent', 'box-1', 'testing');
    const file = join(dir, '..', 'box-1.json');
    writeCredentialFile(file, store.issue(ref));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const credential = readCredentialFile(file);
    expect(credential).toMatchObject({
      name: 'box-1',
      kind: 'agent',
      role: 'testing',
      generation: 1,
    });
    expect(JSON.stringify(credential)).not.toContain(store.master.toString('base64url'));
    const password = mqttPasswordOf(ref, Buffer.from(credential.secret, 'base64url'));
    expect(refOfPassword('box-1', password)).toEqual(ref);
  });

  it('notices a revocation made by another process', () => {
    const dir = dataDir();
    const hubView = CredentialStore.openOrCreate(dir);
    const cliView = CredentialStore.open(dir)!;
    const ref = cliView.add('agent', 'box', 'testing');
    cliView.revoke('box');
    expect(hubView.refresh(Date.now() + 10_000)).toBe(true);
    expect(hubView.refusal(ref)).toMatch(/revoked/);
  });

  it('refuses a credential file that is not one, saying what writes one', () => {
    const file = join(dataDir(), '..', 'bogus.json');
    writeFileSync(file, '{"name":"x"}', { mode: 0o600 });
    expect(() => readCredentialFile(file)).toThrow(/sheri credentials add writes one/);
  });
});
