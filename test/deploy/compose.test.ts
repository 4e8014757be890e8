import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { PUBLISH_OVERHEAD_BYTES } from '../../src/broker/packet-limits.js';
import { MAX_REPLY_BYTES } from '../../src/protocol/limits.js';

interface Service {
  build?: string;
  image?: string;
  command?: string[];
  depends_on?: string[] | Record<string, unknown>;
  volumes?: string[];
  security_opt?: string[];
}

const compose = parse(
  readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8'),
) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};

// No Docker engine runs in CI, so the file is checked at `docker compose config` level: its shape,
// and that every sheri command line in it is one the CLI accepts.
describe('docker-compose.yml', () => {
  it('runs mosquitto with the repository mosquitto.conf, a hub and agents', () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      'credentials',
      'deployment',
      'hub',
      'mosquitto',
      'review',
      'testing',
    ]);
    expect(compose.services.mosquitto?.volumes).toContain(
      './mosquitto.conf:/mosquitto/config/mosquitto.conf:ro',
    );
    for (const service of Object.values(compose.services)) {
      const dependencies = Array.isArray(service.depends_on)
        ? service.depends_on
        : Object.keys(service.depends_on ?? {});
      for (const dependency of dependencies) expect(compose.services).toHaveProperty(dependency);
      for (const volume of service.volumes ?? []) {
        const [source] = volume.split(':');
        if (!source!.startsWith('.')) expect(compose.volumes).toHaveProperty(source!);
      }
    }
  });

  it.each(['hub', 'testing', 'deployment'])(
    'gives the %s service a command line the CLI accepts',
    (name) => {
      const [commandName, ...args] = compose.services[name]!.command!;
      const command = buildProgram('test').commands.find((c) => c.name() === commandName);
      expect(command, `sheri has no command "${commandName}"`).toBeDefined();
      const { operands, unknown } = command!.parseOptions(args);
      expect(unknown).toEqual([]);
      expect(operands).toEqual([]);
    },
  );

  it("closes mosquitto: its password and ACL files come from the hub's store, before it starts", () => {
    const [name, sub, ...args] = compose.services.credentials!.command!;
    expect([name, sub]).toEqual(['credentials', 'mosquitto']);
    const mosquittoCommand = buildProgram('test')
      .commands.find((c) => c.name() === 'credentials')!
      .commands.find((c) => c.name() === 'mosquitto')!;
    expect(mosquittoCommand.parseOptions(args).unknown).toEqual([]);
    // The hub's store, where it keeps its ledger; the files where mosquitto.conf looks for them.
    expect(compose.services.credentials?.volumes).toEqual([
      'hub-data:/data',
      'mosquitto-auth:/auth',
    ]);
    expect(compose.services.mosquitto?.volumes).toContain('mosquitto-auth:/mosquitto/auth:ro');
    expect(compose.services.mosquitto?.depends_on).toEqual({
      credentials: { condition: 'service_completed_successfully' },
    });
    const conf = readFileSync(new URL('../../mosquitto.conf', import.meta.url), 'utf8');
    expect(conf).toMatch(/^allow_anonymous false$/m);
    expect(conf).toMatch(/^password_file \/mosquitto\/auth\/passwords$/m);
    expect(conf).toMatch(/^acl_file \/mosquitto\/auth\/acl$/m);
  });

  it.each(['testing', 'deployment', 'review'])(
    'gives the %s agent a credential of its own, issued by the credentials service',
    (name) => {
      const command = compose.services[name]!.command!;
      const file = command[command.indexOf('--credentials') + 1]!;
      const issued = compose.services.credentials!.command!.filter(
        (_, i, all) => all[i - 1] === '--issue',
      );
      expect(issued).toContain(`${name}-1:${name}`);
      expect(file).toBe(`/auth/${name}-1.credentials.json`);
      expect(compose.services[name]?.volumes).toContain('mosquitto-auth:/auth:ro');
    },
  );

  it('is checked by a test that catches a flag the CLI does not know', () => {
    const hub = buildProgram('test').commands.find((c) => c.name() === 'hub')!;
    expect(hub.parseOptions(['--broker', 'mqtt://x:1883', '--bogus']).unknown).toEqual(['--bogus']);
  });

  it('raises max_queued_messages in mosquitto.conf, which drops QoS 1 messages past 1000 by default', () => {
    const conf = readFileSync(new URL('../../mosquitto.conf', import.meta.url), 'utf8');
    expect(conf).toMatch(/^max_queued_messages 100000$/m);
    expect(conf).toMatch(/^persistence true$/m);
  });

  it("caps max_packet_size in mosquitto.conf at the longest sheri message, below mosquitto's 256 MB", () => {
    const conf = readFileSync(new URL('../../mosquitto.conf', import.meta.url), 'utf8');
    const limit = Number(/^max_packet_size (\d+)$/m.exec(conf)?.[1]);
    expect(limit).toBe(MAX_REPLY_BYTES + PUBLISH_OVERHEAD_BYTES);
  });

  it('refuses to run an agent container without its sandbox, and installs bubblewrap', () => {
    const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
    expect(dockerfile).toMatch(/apt-get install .*bubblewrap/);
    for (const name of ['testing', 'deployment', 'review']) {
      const command = compose.services[name]!.command!;
      expect(command[command.indexOf('--sandbox') + 1], name).toBe('required');
    }
  });

  it('copies into the image every script `npm run build` runs, before npm ci builds', () => {
    const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as {
      scripts: Record<string, string>;
    };
    const scripts = [...pkg.scripts.build!.matchAll(/node (scripts\/\S+)/g)].map((m) => m[1]!);
    expect(scripts).toEqual(['scripts/bundle.mjs']);
    for (const script of scripts) {
      const copied = dockerfile.indexOf(`COPY ${script} ./${script}`);
      expect(copied, script).toBeGreaterThan(0);
      expect(copied).toBeLessThan(dockerfile.indexOf('RUN npm ci'));
    }
  });

  it('builds an image holding what the agent reads at run time: the role profiles', () => {
    const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
    expect(dockerfile).toMatch(/^COPY profiles \.\/profiles$/m);
    // Its role comes with its credential (PROTOCOL §15.2).
    expect(compose.services.review?.command).toEqual(
      expect.arrayContaining(['--credentials', '/auth/review-1.credentials.json']),
    );
  });
});
