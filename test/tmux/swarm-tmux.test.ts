import type { BusRecorder } from '../helpers/bus-recorder.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ORIGIN_ROLES } from '../../src/tmux/layout.js';
import { brokerAnswers } from '../../src/tmux/swarm-watch.js';
import { runSheri } from '../helpers/sheri-process.js';
import { TestSwarm } from '../helpers/swarm.js';
import { TmuxServer, processesMentioning } from '../helpers/tmux-server.js';
import { freePort, requireTool } from '../helpers/tools.js';

/** Nine Node agents on a shared 2-core machine take a while; nothing here asserts timing. */
const SLOW_MS = 120_000;

interface LaunchJson {
  session: string;
  agents: { paneId: string; window: string; role: string; agentId: string }[];
}

function senders(recorder: BusRecorder, local: string): Set<string> {
  return new Set(
    recorder.on(local).map((message) => (message.json as { agent_id: string }).agent_id),
  );
}

describe.skipIf(!requireTool('tmux'))('sheri swarm tmux', () => {
  let tmux: TmuxServer;
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    // Killing the test's tmux server hangs up every pane's process, whatever the test left.
    tmux.kill();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  function newTmux(): TmuxServer {
    tmux = new TmuxServer();
    return tmux;
  }

  it(
    'tiles nine agents 3×3, shows each one its role and its tasks, and swarm down stops them all',
    async () => {
      const server = newTmux();
      const swarm = new TestSwarm();
      cleanups.push(() => swarm.close());
      await swarm.startBroker();
      await swarm.startHub();
      const recorder = await swarm.record();
      cleanups.push(() => recorder.close());

      const launch = await runSheri(
        [
          'swarm',
          'tmux',
          '--no-attach',
          '--json',
          '--broker',
          swarm.brokerUrl,
          '--swarm',
          swarm.swarm,
          '--tmux-socket',
          server.socket,
          '--workspace',
          swarm.dir,
          '--wait',
          String(SLOW_MS / 1000),
        ],
        { cwd: swarm.dir },
      );
      expect(launch.code, launch.stderr).toBe(0);
      expect(launch.stderr).toMatch(/9\/9 agents registered in \d+\.\d s/);
      const report = JSON.parse(launch.stdout) as LaunchJson;
      const session = report.session;

      // Every agent the launcher started announced itself on the bus, with the origin's roles.
      expect(report.agents.map((agent) => agent.role)).toEqual(ORIGIN_ROLES);
      const launched = new Set(report.agents.map((agent) => agent.agentId));
      expect(senders(recorder, 'agents/register')).toEqual(launched);

      // One window of nine panes, three columns by three rows, each pane one agent.
      const panes = server.panes(`=${session}:agents`);
      expect(panes).toHaveLength(9);
      expect(new Set(panes.map((pane) => pane.left)).size).toBe(3);
      expect(new Set(panes.map((pane) => pane.top)).size).toBe(3);
      expect(panes.map((pane) => pane.role)).toEqual(ORIGIN_ROLES);
      for (const pane of panes) {
        const screen = await server.waitForScreen(pane.paneId, 'joined swarm', SLOW_MS);
        expect(screen).toContain(`${pane.agentId} ● joined swarm ${swarm.swarm} as ${pane.role}`);
      }
      expect(server.panes(`=${session}:monitor`)).toHaveLength(1);

      const tasks = [
        swarm.taskAppending('t-test', 'testing.run'),
        swarm.taskAppending('t-deploy', 'deployment.deploy'),
        swarm.taskAppending('t-db', 'database.migrate'),
      ];
      await swarm.submit(tasks);
      await recorder.waitFor(
        () => senders(recorder, 'tasks/complete').size === 3,
        SLOW_MS,
        () => JSON.stringify(recorder.on('tasks/complete').map((message) => message.payload)),
      );
      for (const message of recorder.on('tasks/complete')) {
        const taskId = message.payload.task_id as string;
        const agentId = (message.json as { agent_id: string }).agent_id;
        const type = tasks.find((task) => task.task_id === taskId)!.type;
        const pane = panes.find((candidate) => candidate.agentId === agentId)!;
        const screen = await server.waitForScreen(pane.paneId, `✓ completed ${taskId} in`, SLOW_MS);
        expect(screen).toContain(`▶ claimed ${taskId} (${type}, attempt 1)`);
        expect(screen).toContain('› running 1/1: echo');
      }

      const down = await runSheri([
        'swarm',
        'down',
        '--swarm',
        swarm.swarm,
        '--tmux-socket',
        server.socket,
      ]);
      expect(down.code, down.stderr).toBe(0);
      expect(down.stdout).toMatch(
        /^stopped 9 agents \(.+\), the monitor; closed tmux session sheri-/,
      );
      expect(processesMentioning(swarm.swarm)).toEqual([]);
      expect(server.hasSession(session)).toBe(false);
      // SIGINT, not a kill: each agent said goodbye on the bus.
      await recorder.waitFor(() => senders(recorder, 'agents/shutdown').size === 9, SLOW_MS);
      expect(senders(recorder, 'agents/shutdown')).toEqual(launched);
    },
    SLOW_MS * 3,
  );

  it(
    'starts sheri up itself when no broker answers, and swarm down stops it too',
    async () => {
      const server = newTmux();
      const dir = mkdtempSync(join(tmpdir(), 'sheri-tmux-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const broker = `mqtt://127.0.0.1:${await freePort()}`;
      const name = `up${Math.random().toString(36).slice(2, 8)}`;
      const launch = await runSheri(
        [
          'swarm',
          'tmux',
          '--no-attach',
          '--no-monitor',
          '--agents',
          '2',
          '--roles',
          'testing',
          '--broker',
          broker,
          '--swarm',
          name,
          '--tmux-socket',
          server.socket,
          '--wait',
          String(SLOW_MS / 1000),
        ],
        { cwd: dir },
      );
      expect(launch.code, launch.stderr).toBe(0);
      expect(launch.stdout).toContain(`no broker at ${broker}: started "sheri up" in window "up"`);
      expect(launch.stdout).toMatch(/2\/2 agents registered in/);
      expect(launch.stdout).toContain('up, agents (2 panes, 1×2)');

      // The swarm it started works: its hub grants a task to one of its agents.
      const task = await runSheri(
        ['task', 'submit', '--broker', broker, '--swarm', name, '--type', 'testing.run'].concat([
          '--command',
          'echo hello from the tmux swarm',
          '--wait',
        ]),
        { cwd: dir },
      );
      expect(task.code, task.stderr).toBe(0);
      expect(task.stdout + task.stderr).toContain('hello from the tmux swarm');

      const down = await runSheri([
        'swarm',
        'down',
        '--swarm',
        name,
        '--tmux-socket',
        server.socket,
      ]);
      expect(down.code, down.stderr).toBe(0);
      expect(down.stdout).toContain('stopped 2 agents');
      expect(down.stdout).toContain('sheri up (broker and hub)');
      expect(down.stdout).not.toContain('killed');
      expect(processesMentioning(name)).toEqual([]);
      expect(await brokerAnswers(broker, 1_000)).toBe(false);
    },
    SLOW_MS * 2,
  );

  it(
    'names the panes whose agents never registered, with what they printed',
    async () => {
      const server = newTmux();
      const swarm = new TestSwarm();
      cleanups.push(() => swarm.close());
      await swarm.startBroker();
      // A tmux server whose environment breaks Node: every agent pane fails before joining.
      server.run(['new-session', '-d', '-s', 'placeholder'], {
        ...process.env,
        NODE_OPTIONS: '--require /nonexistent/sheri-test-preload.cjs',
      });
      const launch = await runSheri(
        [
          'swarm',
          'tmux',
          '--no-attach',
          '--no-monitor',
          '--agents',
          '2',
          '--roles',
          'review',
          '--broker',
          swarm.brokerUrl,
          '--swarm',
          swarm.swarm,
          '--tmux-socket',
          server.socket,
          '--wait',
          String(SLOW_MS / 1000),
        ],
        { cwd: swarm.dir },
      );
      expect(launch.code).toBe(3);
      expect(launch.stderr).toContain('only 0/2 agents registered (the others exited)');
      expect(launch.stderr).toMatch(/pane sheri-\S+:agents\.0 review-[0-9a-f]{6} \(exited\)/);
      expect(launch.stderr).toMatch(/pane sheri-\S+:agents\.1 review-[0-9a-f]{6} \(exited\)/);
      expect(launch.stderr).toContain('Cannot find module');
      expect(launch.stderr).toContain(`sheri swarm down --session sheri-${swarm.swarm}`);
    },
    SLOW_MS,
  );
});

describe('sheri swarm on the command line', () => {
  it('teaches swarm tmux, swarm down and the shell script with examples', async () => {
    const help = await runSheri(['swarm', 'tmux', '--help']);
    expect(help.code).toBe(0);
    for (const text of [
      '--agents <n>',
      '--roles <list>',
      '--no-attach',
      '--tmux-socket',
      'sheri swarm down',
      'scripts/start-swarm.sh',
    ])
      expect(help.stdout).toContain(text);
    const down = await runSheri(['swarm', 'down', '--help']);
    expect(down.stdout).toContain('sheri swarm down --session sheri-demo');
  });

  it('refuses an unknown role or no agents before starting anything', async () => {
    const role = await runSheri(['swarm', 'tmux', '--roles', 'testing,astrology', '--no-attach']);
    expect(role.code).toBe(2);
    expect(role.stderr).toContain('--roles: unknown role "astrology"; roles are database,');
    const none = await runSheri(['swarm', 'tmux', '--agents', '0', '--no-attach']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--agents must be at least 1');
  });
});
