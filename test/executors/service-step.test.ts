import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { executeTask, type ExecutionContext } from '../../src/executors/execute-task.js';
import { ServiceSupervisor } from '../../src/executors/service-supervisor.js';
import { silentLogger } from '../../src/logging/logger.js';
import { TaskAssigned, type TaskSpec } from '../../src/protocol/messages.js';
import { DEFAULT_POLICIES } from '../../src/tools/shell/policy.js';
import { testSandbox } from '../helpers/sandbox.js';

let root: string;
let services: ServiceSupervisor;
let events: { topic: string; payload: Record<string, unknown> }[];
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'sheri-service-'));
  services = new ServiceSupervisor(silentLogger());
  events = [];
  // A server in the workspace: answers /health with what it was started as.
  writeFileSync(
    join(root, 'server.mjs'),
    `import { createServer } from 'node:http';
const name = process.argv[2] ?? 'x';
createServer((req, res) => res.end(JSON.stringify({ name, url: req.url }))).listen(Number(process.env.PORT), process.env.HOST);`,
  );
});
afterEach(async () => {
  await services.stopAll();
  rmSync(root, { recursive: true, force: true });
});

function context(role: 'deployment' | 'testing' | 'monitoring' = 'deployment'): ExecutionContext {
  return {
    agentId: `${role}-test`,
    workspace: root,
    sandbox: testSandbox(),
    protectedPaths: [],
    reportTamper: () => undefined,
    timeoutMs: 10_000,
    maxTimeoutMs: 10_000,
    inactivityMs: 10_000,
    outputLimit: 10_000,
    environment: { PATH: process.env.PATH },
    allowedEnv: [],
    // deployment's own policy cannot run node; this one can, with its sandbox settings.
    policy: { ...DEFAULT_POLICIES[role]!, allow: [...DEFAULT_POLICIES[role]!.allow, 'node *'] },
    reportRefusal: () => undefined,
    requestApproval: () => Promise.resolve({ approved: false, reason: 'no one asked' }),
    runbooks: {},
    signal: new AbortController().signal,
    progress: () => undefined,
    services,
    publishEvent: (topic, payload) => events.push({ topic, payload }),
  };
}

function grant(task: Partial<TaskSpec>): TaskAssigned {
  return TaskAssigned.parse({
    task_id: 'svc-1',
    agent_id: 'deployment-test',
    attempt: 1,
    lease_ms: 30_000,
    lease_expires_at: new Date().toISOString(),
    task: { task_id: 'svc-1', type: 'deployment.deploy', ...task },
  });
}

/** The pids of `node server.mjs` processes running for this test's workspace. */
function servers(): string[] {
  try {
    return execFileSync('pgrep', ['-f', `node server.mjs`], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean);
  } catch {
    return [];
  }
}

describe('a service step (PROTOCOL §17.4)', () => {
  it('keeps the service running after its task, on a free port, until the agent stops', async () => {
    const before = servers().length;
    const outcome = await executeTask(
      grant({
        service: {
          name: 'api',
          command: 'node server.mjs v1',
          ready_path: '/ready',
          ready_timeout_ms: 10_000,
        },
      }),
      context(),
    );
    expect(outcome).toMatchObject({
      ok: true,
      result: {
        outputs: { url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/), service: 'api' },
      },
    });
    const url = (outcome.result as { outputs: { url: string } }).outputs.url;
    expect(await (await fetch(`${url}/health`)).json()).toEqual({ name: 'v1', url: '/health' });
    expect(events.map((e) => e.topic)).toEqual([
      'deployment/status',
      'deployment/status',
      'deployment/complete',
      'deployment/status',
    ]);
    expect(events[2]!.payload).toMatchObject({ task_id: 'svc-1', url, service: 'api' });
    await services.stopAll();
    await expect(fetch(`${url}/health`)).rejects.toThrow();
    expect(servers().length).toBe(before);
  });

  it('replaces the running instance of its name once the new one answers', async () => {
    const first = await executeTask(
      grant({
        service: {
          name: 'api',
          command: 'node server.mjs v1',
          ready_path: '/',
          ready_timeout_ms: 10_000,
        },
      }),
      context(),
    );
    const second = await executeTask(
      grant({
        service: {
          name: 'api',
          command: 'node server.mjs v2',
          ready_path: '/',
          ready_timeout_ms: 10_000,
        },
      }),
      context(),
    );
    const [url1, url2] = [first, second].map(
      (o) => (o.result as { outputs: { url: string } }).outputs.url,
    );
    expect((second.result as { service: { replaced: string } }).service.replaced).toBe(url1);
    await expect(fetch(url1!)).rejects.toThrow();
    expect(await (await fetch(url2!)).json()).toMatchObject({ name: 'v2' });
    expect(services.list().map((s) => s.name)).toEqual(['api']);
  });

  it('fails, with what it printed, a service that exits before it answers', async () => {
    const outcome = await executeTask(
      grant({
        service: {
          name: 'bad',
          command: 'node -e "console.error(\'no config\'); process.exit(3)"',
          ready_path: '/',
          ready_timeout_ms: 10_000,
        },
      }),
      context(),
    );
    expect(outcome).toMatchObject({ ok: false, retryable: true });
    expect(outcome.ok || outcome.error).toMatch(
      /the service exited \(code 3\) before it answered .*no config/s,
    );
    expect(services.list()).toEqual([]);
  });

  it('refuses a service on a role whose sandbox has no network: no one could reach it', async () => {
    // Without bubblewrap (a developer's machine; CI has it) the service shares the agent's network.
    if (testSandbox().mode !== 'bwrap') return;
    const before = servers().length;
    const outcome = await executeTask(
      grant({
        type: 'testing.run',
        service: {
          name: 'x',
          command: 'node server.mjs',
          ready_path: '/',
          ready_timeout_ms: 1_000,
        },
      }),
      context('testing'),
    );
    expect(outcome).toMatchObject({
      ok: false,
      retryable: false,
      error: expect.stringMatching(/has no network/),
    });
    expect(servers().length).toBe(before);
  });

  it('does not start a service in a workspace the sandbox refuses (its .git/config a link), and says why', async () => {
    // Without bubblewrap (a developer's machine; CI has it) there is no mount to refuse.
    if (testSandbox().mode !== 'bwrap') return;
    const before = servers().length;
    mkdirSync(join(root, '.git'));
    writeFileSync(join(root, 'real-config'), '[core]\n');
    symlinkSync('../real-config', join(root, '.git', 'config'));
    const outcome = await executeTask(
      grant({
        service: {
          name: 'api',
          command: 'node server.mjs',
          ready_path: '/',
          ready_timeout_ms: 5_000,
        },
      }),
      context(),
    );
    expect(outcome).toMatchObject({
      ok: false,
      retryable: true,
      error: expect.stringMatching(
        /^service api not started: the sandbox will not start it: .*\.git\/config is not a plain file/,
      ),
    });
    expect(services.list()).toEqual([]);
    expect(servers().length).toBe(before);
  });

  it("refuses a service whose command the role's policy denies, and never starts it", async () => {
    const refusals: string[] = [];
    const outcome = await executeTask(
      grant({
        service: {
          name: 'x',
          command: 'python3 -m http.server',
          ready_path: '/',
          ready_timeout_ms: 1_000,
        },
      }),
      {
        ...context(),
        reportRefusal: (command) => refusals.push(command),
      },
    );
    expect(outcome).toMatchObject({
      ok: false,
      retryable: false,
      error: expect.stringMatching(/^service x: `python3 -m http.server` denied by rule/),
    });
    expect(refusals).toEqual(['python3 -m http.server']);
    expect(services.list()).toEqual([]);
  });
});

describe('an HTTP check (PROTOCOL §17.4)', () => {
  let server: Server;
  let base: string;
  let status = 200;
  beforeEach(async () => {
    server = createServer((req, res) => {
      res.writeHead(status);
      res.end(`answer to ${req.method} ${req.url}`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const check = (url: string, extra = {}): TaskAssigned =>
    grant({
      type: 'monitoring.health',
      http_check: {
        url,
        expect_status: 200,
        attempts: 2,
        interval_ms: 10,
        timeout_ms: 1_000,
        ...extra,
      },
    });

  it('passes on the expected status, and publishes monitoring/health', async () => {
    status = 200;
    const outcome = await executeTask(check(`${base}/health`), context('monitoring'));
    expect(outcome).toMatchObject({
      ok: true,
      result: { http_check: { ok: true, status: 200, body: 'answer to GET /health', attempts: 1 } },
    });
    expect(events).toEqual([
      { topic: 'monitoring/health', payload: expect.objectContaining({ ok: true, status: 200 }) },
    ]);
  });

  it('fails after its tries on another status, and raises monitoring/alerts', async () => {
    status = 503;
    const outcome = await executeTask(check(`${base}/health`), context('monitoring'));
    expect(outcome).toMatchObject({
      ok: false,
      retryable: true,
      error: expect.stringMatching(/answered 503 \(expected 200\) after 2 tries/),
    });
    expect(events.map((e) => e.topic)).toEqual(['monitoring/health', 'monitoring/alerts']);
    expect(events[1]!.payload).toMatchObject({ severity: 'critical', status: 503 });
  });

  it('sends no credentials: a URL with a user name or password is refused, never asked', async () => {
    let asked = 0;
    server.on('request', () => (asked += 1));
    const outcome = await executeTask(
      check(`http://user:secret@127.0.0.1:${new URL(base).port}/health`),
      context('monitoring'),
    );
    expect(outcome).toMatchObject({
      ok: false,
      retryable: false,
      error: expect.stringMatching(/carries a user name or password/),
    });
    expect(asked).toBe(0);
  });

  it('asks nothing but http and https', async () => {
    for (const url of ['file:///etc/passwd', 'ftp://127.0.0.1/x']) {
      const outcome = await executeTask(check(url), context('monitoring'));
      expect(outcome).toMatchObject({
        ok: false,
        retryable: false,
        error: expect.stringMatching(/not http:\/\/ or https:\/\//),
      });
    }
  });

  it('follows no redirect: a 302 to elsewhere is the answer, not the elsewhere', async () => {
    server.removeAllListeners('request');
    server.on('request', (_req, res) => {
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' });
      res.end();
    });
    const outcome = await executeTask(
      check(`${base}/health`, { attempts: 1 }),
      context('monitoring'),
    );
    expect(outcome).toMatchObject({ ok: false, result: { http_check: { status: 302 } } });
  });

  it('is refused on a role without network', async () => {
    const outcome = await executeTask(check(`${base}/health`), context('testing'));
    expect(outcome).toMatchObject({
      ok: false,
      retryable: false,
      error: expect.stringMatching(/has no network/),
    });
  });
});
