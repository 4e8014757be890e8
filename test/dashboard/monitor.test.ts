import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CredentialStore } from '../../src/auth/credential-store.js';
import { EmbeddedBroker } from '../../src/broker/embedded-broker.js';
import { silentLogger } from '../../src/logging/logger.js';
import { waitForComplete } from '../helpers/scenarios.js';
import { runSheri, SHERI_BIN } from '../helpers/sheri-process.js';
import { TestSwarm } from '../helpers/swarm.js';
import { TmuxSession } from '../helpers/tmux.js';
import { requireTool } from '../helpers/tools.js';

// Skips without tmux on a developer's machine; in CI a missing tmux fails the file.
const HAS_TMUX = requireTool('tmux');

/** A row of the tasks table: id, type, state, agent. */
function taskRow(taskId: string, state: string, agent = String.raw`\S+`): RegExp {
  return new RegExp(String.raw`│${taskId} +testing\.run +${state} +${agent} `);
}

describe.skipIf(!HAS_TMUX)('sheri monitor in a terminal', () => {
  let swarm: TestSwarm;
  let tmux: TmuxSession | undefined;
  afterEach(async () => {
    tmux?.close();
    tmux = undefined;
    await swarm.close();
  });

  function monitor(): TmuxSession {
    tmux = TmuxSession.start(
      [
        process.execPath,
        SHERI_BIN,
        'monitor',
        '--broker',
        swarm.brokerUrl,
        '--swarm',
        swarm.swarm,
        '--data-dir',
        swarm.dataDir,
      ],
      { width: 200, height: 50, env: { TERM: 'xterm-256color', LANG: 'C.UTF-8' } },
    );
    return tmux;
  }

  it('shows the agents, a task going from queued to complete, an approval answered with a key, and a task detail', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    await swarm.startHub();
    const deployer = await swarm.startAgent('deployment');
    const screen = monitor();
    // The header says "hub online" once the hub's snapshot is in: from then on, it sees it all.
    await screen.waitFor(
      (text) =>
        text.includes('hub online') &&
        new RegExp(`│${deployer.agentId} +deployment +idle `).test(text),
      'the deployment agent, idle, and the hub online',
    );

    // No testing agent yet: the task waits in the queue, and the dashboard says so.
    await swarm.submit([
      { task_id: 'watched', type: 'testing.run', payload: {}, commands: ['echo watched'] },
    ]);
    await screen.waitFor((text) => taskRow('watched', 'queued', '-').test(text), 'watched queued');
    const tester = await swarm.startAgent('testing', {
      shellPolicies: {
        testing: { allow: ['echo *'], deny: [], ask: ['touch *'], readOnly: false, network: false },
      },
    });
    await screen.waitFor(
      (text) => taskRow('watched', 'complete', tester.agentId).test(text),
      `watched complete on ${tester.agentId}`,
    );
    expect(screen.capture()).toMatch(new RegExp(`│${tester.agentId} +testing +idle `));

    // A command the policy asks about: it waits in the approvals pane until `a` answers it.
    await swarm.submit([
      { task_id: 'asks', type: 'testing.run', payload: {}, commands: ['touch approved.txt'] },
    ]);
    await screen.waitFor(
      (text) =>
        /│asks\.1\.[0-9a-f]{8} +\S+ +touch approved\.txt +rule "touch \*" +\d+m\d\ds left/.test(
          text,
        ),
      'the approval request in the approvals pane',
    );
    expect(existsSync(join(swarm.dir, 'approved.txt'))).toBe(false);
    // No key answers alone: `d` asks to confirm, and escape takes it back.
    screen.sendKeys('d');
    await screen.waitFor(
      (text) =>
        /deny asks\.1\.[0-9a-f]{8} `touch approved\.txt`\? reason \(enter to deny, esc cancels\)/.test(
          text,
        ),
      'the question before a denial',
    );
    screen.sendKeys('Escape');
    await screen.waitFor(
      (text) => /not answered: asks\.1\.[0-9a-f]{8} still waits/.test(text),
      'the denial taken back',
    );
    expect(existsSync(join(swarm.dir, 'approved.txt'))).toBe(false);
    screen.sendKeys('a');
    await screen.waitFor(
      (text) => /approve asks\.1\.[0-9a-f]{8} `touch approved\.txt`\? reason/.test(text),
      'the question before an approval',
    );
    screen.sendKeys('looks fine', 'Enter');
    const after = await screen.waitFor(
      (text) => taskRow('asks', 'complete', tester.agentId).test(text),
      'asks complete after the approval',
    );
    expect(existsSync(join(swarm.dir, 'approved.txt'))).toBe(true);
    expect(after).toMatch(/you approved asks\.1\.[0-9a-f]{8}: touch approved\.txt \(looks fine\)/);
    expect(after).toContain('no command is waiting for approval');
    expect(after).toMatch(/done 2 {2}dead 0 {2}failed attempts 0 since start/);

    // Enter opens the selected task (the newest finished one is on top): the dashboard's view,
    // then the hub's history of it.
    screen.sendKeys('Enter');
    await screen.waitFor(
      (text) =>
        /│task +asks +│/.test(text) &&
        text.includes('history from the hub (submitted by operator)') &&
        new RegExp(`\\d{3}  complete +${tester.agentId} #1`).test(text),
      'the detail of asks with its history from the hub',
    );
    screen.sendKeys('Escape');
    await screen.waitFor((text) => !text.includes('history from the hub'), 'the detail closed');

    screen.sendKeys('q');
    expect(await screen.waitForExit()).toBe(0);
  });

  it('lists an approval requested before it started, from its retained request, and answers it', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    const recorder = await swarm.record();
    await swarm.startAgent('testing', {
      shellPolicies: {
        testing: { allow: [], deny: [], ask: ['touch *'], readOnly: false, network: false },
      },
    });
    await swarm.submit([
      { task_id: 'early', type: 'testing.run', payload: {}, commands: ['touch early.txt'] },
    ]);
    await recorder.waitFor(() => recorder.on('approvals/request').length === 1, 10_000);
    const screen = monitor();
    await screen.waitFor(
      (text) => /│early\.1\.[0-9a-f]{8} +\S+ +touch early\.txt +rule "touch \*"/.test(text),
      'the approval asked before the dashboard started',
    );
    screen.sendKeys('a');
    await screen.waitFor(
      (text) => text.includes('(enter to approve, esc cancels)'),
      'the question',
    );
    screen.sendKeys('Enter');
    await waitForComplete(hub, 1, 10_000);
    expect(existsSync(join(swarm.dir, 'early.txt'))).toBe(true);
    screen.sendKeys('q');
    expect(await screen.waitForExit()).toBe(0);
  });

  it('says when no hub answers, follows the bus anyway, and quits on Ctrl-C', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const screen = monitor();
    await screen.waitFor(
      (text) => text.includes('no hub answered: following the bus only'),
      'the no-hub notice',
    );
    const tester = await swarm.startAgent('testing');
    await screen.waitFor(
      (text) => new RegExp(`│${tester.agentId} +testing +idle `).test(text),
      'the agent, learnt from the bus alone',
    );
    screen.sendKeys('C-c');
    expect(await screen.waitForExit()).toBe(0);
  });

  it('gives the terminal back and ends with exit 3 when its login is refused on reconnecting', async () => {
    swarm = new TestSwarm();
    const first = await swarm.startBroker();
    await swarm.startHub();
    const screen = monitor();
    await screen.waitFor((text) => text.includes('hub online'), 'the hub online');
    // The broker comes back on its port with another credential store: we are not let in again.
    await first.close();
    const other = await EmbeddedBroker.start({
      port: Number(new URL(swarm.brokerUrl).port),
      host: '127.0.0.1',
      logger: silentLogger(),
      auth: CredentialStore.openOrCreate(join(swarm.dir, 'another-store')),
    });
    swarm.onCloseLast(() => other.close());
    expect(await screen.waitForExit(20_000)).toBe(3);
    expect(screen.history()).toMatch(/sheri: the broker at .* refused our login/);
  });
});

describe('sheri monitor without a terminal', () => {
  it('refuses to draw, and points at sheri trace', async () => {
    const { code, stderr } = await runSheri(['monitor']);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(
      'sheri: sheri monitor draws on a terminal, and this is not one; use `sheri trace` to follow the swarm in a pipe or a log',
    );
  });
});
