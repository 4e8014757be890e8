import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { CredentialStore } from '../../src/auth/credential-store.js';
import { rolesForType, DEFAULT_TASK_TYPES } from '../../src/protocol/task-types.js';
import { BusRecorder } from '../helpers/bus-recorder.js';
import { DEPLOY_FLOW } from '../helpers/flows.js';
import { loginFor } from '../helpers/identities.js';
import { runSheri, SHERI_BIN } from '../helpers/sheri-process.js';
import { requireTool, withoutLlmSettings } from '../helpers/tools.js';
import { callTools, FakeLlmServer, say } from '../helpers/fake-llm-server.js';

interface Report {
  flow: {
    flow_id: string;
    state: string;
    steps: { id: string; type: string; state: string; task_id: string | null }[];
  };
  service_url: string;
  health: { status: number; body: string };
  events: Record<string, number>;
  broker: string;
  swarm: string;
  root: string;
  agents: { agentId: string; role: string }[];
  wall_ms: number;
}

/** `sheri demo` as a user runs it: its own process, from a folder that is not the repository. */
function startDemo(
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, [SHERI_BIN, 'demo', ...args], {
    cwd,
    env: { ...withoutLlmSettings(process.env), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

async function until(check: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/** Processes whose command line names `text` (the demo's folder): none may outlive it. */
function processesNaming(text: string): string[] {
  return execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(text) && !line.includes('ps -eo'));
}

describe('sheri demo (issue 11, "what it must show" 1)', () => {
  let cwd: string;
  let demo: ReturnType<typeof startDemo> | undefined;
  afterEach(async () => {
    if (demo && demo.child.exitCode === null) {
      demo.child.kill('SIGKILL');
      await demo.exited;
    }
    rmSync(cwd, { recursive: true, force: true });
  });

  it('runs the deploy flow from another folder: exit 0, the service answers, each step on its role, events on the bus, nothing left after', async () => {
    const sandboxed = requireTool('bwrap');
    cwd = mkdtempSync(join(tmpdir(), 'sheri-elsewhere-'));
    demo = startDemo(['--keep', '--json'], cwd);
    await until(
      () => demo!.stderr().includes('the swarm stays up'),
      60_000,
      () => `${demo!.stderr()}\n${demo!.stdout()}`,
    );
    const report = JSON.parse(demo.stdout()) as Report;
    expect(report.flow.state).toBe('succeeded');
    // Each agent's commands ran in its bubblewrap sandbox (CI has it), with the role's defaults.
    const sandboxes = Object.fromEntries(
      report.agents.map((a) => [a.role, (a as { sandbox?: string }).sandbox]),
    );
    if (sandboxed) {
      expect(sandboxes).toEqual({
        deployment: 'bwrap, network',
        testing: 'bwrap',
        security: 'bwrap, network, read-only',
        monitoring: 'bwrap, network, read-only',
      });
    }
    // Nothing of the demo in the folder it was run from.
    expect(execFileSync('ls', ['-A', cwd], { encoding: 'utf8' })).toBe('');

    // The service answers on its health URL, serving this flow's release.
    expect(report.health.status).toBe(200);
    const health = await fetch(`${report.service_url}/health`);
    expect(await health.json()).toEqual({
      status: 'ok',
      version: '1.0.0',
      release: report.flow.flow_id,
    });

    // Every step ran on an agent of a role its type allows, by the hub's ledger.
    const ledger = new Database(join(report.root, 'data', `hub-${report.swarm}.sqlite`), {
      readonly: true,
    });
    try {
      const roleOf = new Map(report.agents.map((agent) => [agent.agentId, agent.role]));
      const ran = report.flow.steps.filter((step) => step.state === 'complete');
      expect(ran.map((step) => step.id)).toEqual(['build', 'test', 'scan', 'deploy', 'health']);
      for (const step of ran) {
        const grants = ledger
          .prepare<[string], { agent_id: string }>(
            `SELECT agent_id FROM task_events WHERE task_id = ? AND kind = 'assigned'`,
          )
          .all(step.task_id!);
        expect(grants).toHaveLength(1);
        expect(
          rolesForType(DEFAULT_TASK_TYPES, step.type),
          `${step.id} ran on ${grants[0]!.agent_id}`,
        ).toContain(roleOf.get(grants[0]!.agent_id));
      }
    } finally {
      ledger.close();
    }

    // The domain events were on the bus: the demo counted them, and a second run shows them to us.
    expect(Object.keys(report.events).sort()).toEqual(
      [
        'deployment/complete',
        'deployment/status',
        'monitoring/health',
        'security/scan',
        'tests/results',
      ].sort(),
    );
    const store = CredentialStore.openOrCreate(join(report.root, 'data'));
    const recorder = await BusRecorder.start(
      report.broker,
      report.swarm,
      '#',
      loginFor(store, { kind: 'operator' }),
    );
    try {
      const flags = [
        '--broker',
        report.broker,
        '--swarm',
        report.swarm,
        '--data-dir',
        join(report.root, 'data'),
      ];
      const again = await runSheri(
        ['flow', 'run', DEPLOY_FLOW, '--var', 'version=1.0.1', '--wait', ...flags],
        { cwd },
      );
      expect(again.code, again.stderr).toBe(0);
      expect(recorder.on('tests/results')[0]!.payload).toMatchObject({
        passed: 6,
        failed: 0,
        coverage_pct: 100,
        runner: 'node --test',
      });
      expect(recorder.on('security/scan')[0]!.payload).toMatchObject({
        vulnerabilities: { total: 0 },
        tool: 'npm audit',
      });
      expect(recorder.on('deployment/complete')[0]!.payload).toMatchObject({
        service: 'example-service',
        url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      });
      expect(recorder.on('deployment/status').map((m) => m.payload.stage)).toEqual(
        expect.arrayContaining(['started', 'finished', 'service-up']),
      );
      expect(recorder.on('monitoring/health')[0]!.payload).toMatchObject({ ok: true, status: 200 });
    } finally {
      await recorder.close();
    }

    // Ctrl-C: everything stops, nothing is left.
    const brokerPort = Number(new URL(report.broker).port);
    const servicePort = Number(new URL(report.service_url).port);
    demo.child.kill('SIGINT');
    expect(await demo.exited).toBe(0);
    expect(processesNaming(report.root)).toEqual([]);
    expect(await refused(brokerPort)).toBe(true);
    expect(await refused(servicePort)).toBe(true);
    expect(existsSync(report.root)).toBe(false);
  });

  it('prints the live steps, the summary, the service URL and the mosquitto_sub line, and exits 0', async () => {
    cwd = mkdtempSync(join(tmpdir(), 'sheri-elsewhere-'));
    demo = startDemo(['--no-tmux'], cwd);
    const code = await demo.exited;
    const out = demo.stdout();
    const err = demo.stderr();
    expect(code, `${err}\n${out}`).toBe(0);
    expect(err).toMatch(/deploy {2}running on deployment-[0-9a-f]{6} \(attempt 1\)/);
    expect(out).toMatch(/flow deploy-example-[0-9a-f]{8} \(deploy-example\) succeeded in/);
    expect(out).toMatch(
      /service {3}http:\/\/127\.0\.0\.1:\d+ {2}\(example-service, release deploy-example-[0-9a-f]{8}/,
    );
    expect(out).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/health → 200 \{"status":"ok"/);
    expect(out).toMatch(
      /watch the bus: mosquitto_sub -h 127\.0\.0\.1 -p \d+ -t 'sheri-demo\/#' -v/,
    );
    expect(out).toMatch(/events on the bus: .*tests\/results ×1 \(6 passed, 0 failed/);
    const root = /its files \(log: demo\.log\) are in (\S+)/.exec(err)![1]!;
    expect(existsSync(root)).toBe(false);
    expect(processesNaming(root)).toEqual([]);
  });

  it('adds an LLM review of the code before the deploy when Claude is at hand', async () => {
    cwd = mkdtempSync(join(tmpdir(), 'sheri-elsewhere-'));
    // The real Anthropic SDK against a local stand-in of the Messages API: no test reaches the API.
    const fake = await FakeLlmServer.start(
      [
        callTools([{ name: 'read_file', input: { path: 'src/app.js' } }]),
        callTools([
          {
            name: 'publish_event',
            input: {
              topic: 'code/review',
              payload: { verdict: 'approve', summary: 'no bug found' },
            },
          },
        ]),
        say('Approve: the handler checks its input and answers every route.'),
      ],
      { apiKey: 'test-key' },
    );
    try {
      demo = startDemo(['--no-tmux', '--json'], cwd, {
        ANTHROPIC_API_KEY: 'test-key',
        ANTHROPIC_BASE_URL: fake.anthropicBaseUrl,
      });
      const code = await demo.exited;
      expect(code, demo.stderr()).toBe(0);
      const report = JSON.parse(demo.stdout()) as Report;
      expect(report.flow.steps.map((step) => [step.id, step.state])).toEqual([
        ['build', 'complete'],
        ['test', 'complete'],
        ['scan', 'complete'],
        ['review', 'complete'],
        ['deploy', 'complete'],
        ['health', 'complete'],
        ['rollback', 'skipped'],
        ['recheck', 'skipped'],
      ]);
      expect(report.agents.map((agent) => agent.role)).toContain('review');
      // The model read the service's code through its tools, in the demo's copy of it.
      const toolResult = JSON.stringify(fake.requests[1]!.body.messages);
      expect(toolResult).toContain('export function createApp');
    } finally {
      await fake.close();
    }
  });

  it('runs the agents in tmux panes of a session it closes at the end', async () => {
    if (!requireTool('tmux')) return;
    cwd = mkdtempSync(join(tmpdir(), 'sheri-elsewhere-'));
    const socket = `sheri-demo-test-${process.pid}`;
    try {
      demo = startDemo(['--tmux'], cwd, { SHERI_TMUX_SOCKET: socket });
      const code = await demo.exited;
      expect(code, demo.stderr()).toBe(0);
      const session = /watch them work: tmux -L \S+ attach -t (sheri-demo-[0-9a-f]{6})/.exec(
        demo.stderr(),
      )![1]!;
      expect(demo.stdout()).toMatch(/flow deploy-example-[0-9a-f]{8} \(deploy-example\) succeeded/);
      // The agents were tmux panes, each a `sheri agent` process of its own.
      // In the order they joined, which is theirs to choose; each says its sandbox as it registered.
      const agentsLine = /^agents: .*$/m.exec(demo.stderr())?.[0] ?? '';
      expect(agentsLine).toMatch(/deployment-[0-9a-f]{6} \(bwrap, network\)/);
      expect(agentsLine).toMatch(/testing-[0-9a-f]{6} \(bwrap\)/);
      expect(agentsLine).toMatch(/security-[0-9a-f]{6} \(bwrap, network, read-only\)/);
      let sessions = '';
      try {
        sessions = execFileSync('tmux', ['-L', socket, 'ls'], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        });
      } catch {
        // No server left at all: nothing left either.
      }
      expect(sessions).not.toContain(session);
      expect(processesNaming(session)).toEqual([]);
    } finally {
      try {
        execFileSync('tmux', ['-L', socket, 'kill-server'], { stdio: 'ignore' });
      } catch {
        // Already gone with its last session.
      }
    }
  });
});
