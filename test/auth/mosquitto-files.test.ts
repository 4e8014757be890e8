import { pbkdf2Sync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CredentialStore } from '../../src/auth/credential-store.js';
import { mqttPasswordOf } from '../../src/auth/identity-keys.js';
import {
  mosquittoAcl,
  mosquittoConf,
  mosquittoPasswordLine,
  mosquittoPasswords,
} from '../../src/auth/mosquitto-files.js';

describe("mosquitto's password and ACL files", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  function store(): CredentialStore {
    const dir = mkdtempSync(join(tmpdir(), 'sheri-mosq-'));
    dirs.push(dir);
    return CredentialStore.openOrCreate(join(dir, '.sheri'));
  }

  it("writes mosquitto_passwd's PBKDF2-SHA512 format", () => {
    const line = mosquittoPasswordLine('alice', 'secret');
    const [user, hash] = line.split(':') as [string, string];
    const [, version, rounds, salt, digest] = hash.split('$');
    expect([user, version, rounds]).toEqual(['alice', '7', '101']);
    const again = pbkdf2Sync('secret', Buffer.from(salt!, 'base64'), 101, 64, 'sha512');
    expect(again.toString('base64')).toBe(digest);
  });

  it('lists every active identity with the password its credential sends, and no revoked one', () => {
    const s = store();
    const box = s.add('agent', 'box', 'testing');
    s.add('agent', 'gone', 'testing');
    s.revoke('gone');
    const lines = mosquittoPasswords(s).trim().split('\n');
    expect(lines.map((line) => line.split(':')[0])).toEqual(['box', 'hub', 'operator']);
    const [, hash] = lines[0]!.split(':');
    const [, , rounds, salt, digest] = hash!.split('$');
    const password = mqttPasswordOf(box, s.secretOf(box));
    expect(
      pbkdf2Sync(password, Buffer.from(salt!, 'base64'), Number(rounds), 64, 'sha512').toString(
        'base64',
      ),
    ).toBe(digest);
  });

  it("spells out the topic table per identity: an agent's own grants and status only", () => {
    const s = store();
    s.add('agent', 'box', 'testing');
    const acl = mosquittoAcl(s, 'prod');
    const block = (user: string): string[] =>
      acl.split(`user ${user}\n`)[1]!.split('\n\n')[0]!.split('\n');
    const agent = block('box');
    expect(agent).toContain('topic read prod/tasks/assigned/box');
    expect(agent).toContain('topic read prod/tasks/settled/box');
    expect(agent).toContain('topic write prod/agents/box/status');
    expect(agent).toContain('topic write prod/tasks/complete');
    expect(agent.join('\n')).not.toMatch(
      /tasks\/assigned\/\+|tasks\/settled\/\+|write prod\/tasks\/settled|write prod\/hub\/status|write prod\/tasks\/dead|approvals\/answer|hub\/query/,
    );
    const hub = block('hub');
    expect(hub).toContain('topic write prod/tasks/assigned/+');
    expect(hub).toContain('topic write prod/tasks/settled/+');
    expect(hub).toContain('topic write prod/hub/status');
    expect(hub).toContain('topic read prod/agents/+/status');
    expect(block('operator')).toEqual(
      expect.arrayContaining([
        'topic read prod/#',
        'topic write prod/tasks/new',
        'topic write prod/approvals/answer',
        'topic write prod/hub/query',
      ]),
    );
    expect(acl).toContain('pattern read prod/hub/replies/%c');
  });

  it("points the shipped configuration's files into the output folder", () => {
    const conf = mosquittoConf(
      'persistence_location /mosquitto/data/\npassword_file /mosquitto/config/passwords\nacl_file /mosquitto/config/acl\n',
      '/srv/mq',
    );
    expect(conf).toBe(
      'persistence_location /srv/mq/data/\npassword_file /srv/mq/passwords\nacl_file /srv/mq/acl\n',
    );
  });
});
