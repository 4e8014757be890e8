import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FlowSubmit } from '../../src/protocol/flow-messages.js';
import type { Hub } from '../../src/tasks/hub.js';
import {
  copyExampleService,
  DEPLOY_FLOW,
  deployFlow,
  flowEnded,
  submitFlow,
} from '../helpers/flows.js';
import { waitUntil } from '../helpers/scenarios.js';
import { runSheri, startSheri } from '../helpers/sheri-process.js';
import { TestSwarm } from '../helpers/swarm.js';

const ROLES = ['deployment', 'testing', 'security', 'monitoring'];

/** The swarm the deploy flow needs, its agents working in a copy of examples/service. */
async function deploySwarm(
  swarm: TestSwarm,
  workspace = copyExampleService(swarm),
): Promise<{ hub: Hub; workspace: string }> {
  await swarm.startBroker();
  const hub = await swarm.startHub();
  for (const role of ROLES) await swarm.startAgent(role, {}, 1, workspace);
  return { hub, workspace };
}

function cliFlags(swarm: TestSwarm): string[] {
  return ['--broker', swarm.brokerUrl, '--swarm', swarm.swarm, '--data-dir', swarm.dataDir];
}

/** The agent that ran each attempt of a task, from the ledger's history. */
function grantsOf(hub: Hub, taskId: string): string[] {
  return hub.ledger
    .history(taskId)
    .filter((event) => event.kind === 'assigned')
    .map((event) => event.agentId ?? '?');
}

describe('flows across roles (issue 11)', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  it('runs the deploy flow with `sheri flow run --wait`, each step on an agent of its role, and the service answers', async () => {
    swarm = new TestSwarm();
    const { hub } = await deploySwarm(swarm);
    const run = await runSheri(
      ['flow', 'run', DEPLOY_FLOW, '--var', 'version=3.1.4', '--wait', ...cliFlags(swarm)],
      { cwd: swarm.dir },
    );
    expect(run.code, run.stderr).toBe(0);
    const flowId = /submitted flow (\S+)/.exec(run.stderr)![1]!;
    expect(run.stdout).toContain(`flow ${flowId} (deploy-example) succeeded`);
    for (const [step, role] of [
      ['build', 'deployment'],
      ['test', 'testing'],
      ['scan', 'security'],
      ['deploy', 'deployment'],
      ['health', 'monitoring'],
    ]) {
      expect(grantsOf(hub, `${flowId}.${step}`)).toEqual([
        expect.stringMatching(new RegExp(`^${role}-`)),
      ]);
    }
    // Not needed, so never made into tasks.
    expect(hub.ledger.get(`${flowId}.rollback`)).toBeUndefined();
    const listed = await runSheri(['flows', ...cliFlags(swarm)], { cwd: swarm.dir });
    expect(listed.stdout).toMatch(new RegExp(`^${flowId} +succeeded +5/7 `, 'm'));
    const url = /service\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(run.stdout)![1]!;
    const health = await fetch(`${url}/health`);
    expect(await health.json()).toEqual({ status: 'ok', version: '3.1.4', release: flowId });
  });

  it('never deploys a build whose tests fail: exit 1, naming the step and showing the failing test', async () => {
    swarm = new TestSwarm();
    const workspace = copyExampleService(swarm);
    // A real bug: the greeting loses its comma.
    const app = join(workspace, 'src/app.js');
    writeFileSync(
      app,
      readFileSync(app, 'utf8').replace('`${greeting}, ${name}!`', '`${greeting} ${name}`'),
    );
    const { hub } = await deploySwarm(swarm, workspace);
    const run = await runSheri(['flow', 'run', DEPLOY_FLOW, '--wait', ...cliFlags(swarm)], {
      cwd: swarm.dir,
    });
    expect(run.code).toBe(1);
    const flowId = /submitted flow (\S+)/.exec(run.stderr)![1]!;
    expect(run.stdout).toMatch(/flow \S+ \(deploy-example\) failed/);
    expect(run.stdout).toContain('step test failed: command 1/1 `npm test` exited 1');
    expect(run.stdout).toContain('not ok 1 - the service');
    expect(run.stdout).toContain('greets in the language asked');
    expect(run.stdout).toMatch(/'Bonjour Ada'/);
    expect(run.stdout).toContain('step deploy skipped: needs test, which failed');
    expect(hub.ledger.get(`${flowId}.deploy`)).toBeUndefined();
    expect(hub.flows.engine.store.get(flowId)?.state).toBe('failed');
  });

  it('rolls back when the health check fails after deploy, and the previous release answers', async () => {
    swarm = new TestSwarm();
    const { hub, workspace } = await deploySwarm(swarm);
    const alerts = await swarm.record('monitoring/#');
    await submitFlow(swarm, { ...deployFlow({ version: '1.0.0' }), flow_id: 'good-1' });
    expect(await flowEnded(hub, 'good-1')).toBe('succeeded');
    // The next release ships broken data: its tests pass (they bring their own), its health fails.
    writeFileSync(join(workspace, 'data/greetings.json'), '{}\n');
    await submitFlow(swarm, { ...deployFlow({ version: '2.0.0' }), flow_id: 'bad-2' });
    expect(await flowEnded(hub, 'bad-2')).toBe('failed');
    const view = hub.flows.engine.view('bad-2')!;
    expect(Object.fromEntries(view.steps.map((step) => [step.id, step.state]))).toEqual({
      build: 'complete',
      test: 'complete',
      scan: 'complete',
      deploy: 'complete',
      health: 'failed',
      rollback: 'complete',
      recheck: 'complete',
    });
    const rollback = hub.ledger.get('bad-2.rollback')!.result as {
      outputs: Record<string, string>;
    };
    expect(rollback.outputs).toMatchObject({ release: 'good-1', from: 'bad-2' });
    const answer = await fetch(`${rollback.outputs.url}/health`);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ status: 'ok', version: '1.0.0', release: 'good-1' });
    // The broken release's server was stopped once the previous one answered again.
    const deployed = (hub.ledger.get('bad-2.deploy')!.result as { outputs: Record<string, string> })
      .outputs.url!;
    await expect(fetch(`${deployed}/health`)).rejects.toThrow();
    await alerts.waitFor(() => alerts.on('monitoring/alerts').length > 0, 5_000);
    const alert = alerts.on('monitoring/alerts')[0]!;
    expect(alert.payload).toMatchObject({
      severity: 'critical',
      status: 503,
      task_id: 'bad-2.health',
    });
  });

  it('runs two flows at once on one swarm without either touching the other', async () => {
    swarm = new TestSwarm();
    const root = join(swarm.dir, 'work');
    copyExampleService(swarm, 'work/a');
    copyExampleService(swarm, 'work/b');
    const { hub } = await deploySwarm(swarm, root);
    // Each in its own folder of the agents' workspace, its service under its own name.
    const inFolder = (flow: FlowSubmit, folder: string): FlowSubmit => ({
      ...flow,
      steps: flow.steps.map((step) => ({
        ...step,
        workspace: folder,
        ...(step.service ? { service: { ...step.service, name: `svc-${folder}` } } : {}),
      })),
    });
    await Promise.all([
      submitFlow(swarm, inFolder({ ...deployFlow({ version: '1.1.1' }), flow_id: 'two-a' }, 'a')),
      submitFlow(swarm, inFolder({ ...deployFlow({ version: '2.2.2' }), flow_id: 'two-b' }, 'b')),
    ]);
    expect(await flowEnded(hub, 'two-a')).toBe('succeeded');
    expect(await flowEnded(hub, 'two-b')).toBe('succeeded');
    for (const [flowId, version] of [
      ['two-a', '1.1.1'],
      ['two-b', '2.2.2'],
    ] as const) {
      const url = (
        hub.ledger.get(`${flowId}.deploy`)!.result as { outputs: Record<string, string> }
      ).outputs.url!;
      // Each health check asked its own flow's service, and both are still up.
      expect(hub.ledger.get(`${flowId}.health`)!.spec.http_check?.url).toBe(`${url}/health`);
      expect(await (await fetch(`${url}/health`)).json()).toEqual({
        status: 'ok',
        version,
        release: flowId,
      });
      // Each step started after its own flow's needs ended, never waiting on the other flow.
      for (const step of ['test', 'scan']) {
        const started = hub.ledger
          .history(`${flowId}.${step}`)
          .find((e) => e.kind === 'assigned')!.at;
        const built = hub.ledger.get(`${flowId}.build`)!.updatedAt;
        expect(started).toBeGreaterThanOrEqual(built);
      }
    }
  });

  it('finishes a flow whose hub is killed with kill -9 mid-run and started again', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const workspace = copyExampleService(swarm);
    const hubArgs = ['hub', ...cliFlags(swarm), '--log-format', 'json'];
    let hubProcess = startSheri(hubArgs, { cwd: swarm.dir });
    await hubProcess.waitForOutput('hub ready');
    for (const role of ROLES) await swarm.startAgent(role, {}, 1, workspace);
    const bus = await swarm.record('tasks/complete');
    await submitFlow(swarm, { ...deployFlow(), flow_id: 'survivor' });
    // Killed once the build is recorded and the next steps are running.
    await bus.waitFor(() => bus.distinct('tasks/complete').has('survivor.build'), 30_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    hubProcess.child.kill('SIGKILL');
    await hubProcess.exited();
    hubProcess = startSheri(hubArgs, { cwd: swarm.dir });
    swarm.onClose(() => hubProcess.kill());
    await hubProcess.waitForOutput('hub ready');
    const show = async (): Promise<{
      state: string;
      steps: { id: string; state: string; attempt: number }[];
    }> => {
      const run = await runSheri(['flow', 'show', 'survivor', '--json', ...cliFlags(swarm)], {
        cwd: swarm.dir,
      });
      return JSON.parse(run.stdout) as {
        state: string;
        steps: { id: string; state: string; attempt: number }[];
      };
    };
    let detail = await show();
    const deadline = Date.now() + 30_000;
    while (detail.state === 'running' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      detail = await show();
    }
    expect(detail.state).toBe('succeeded');
    // Each step ran once: the kill cost no attempt.
    expect(
      detail.steps.filter((s) => s.state === 'complete').map((s) => [s.id, s.attempt]),
    ).toEqual([
      ['build', 1],
      ['test', 1],
      ['scan', 1],
      ['deploy', 1],
      ['health', 1],
    ]);
  });

  it('cancels a flow: its running step is stopped on its agent, and nothing after it starts', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    const agent = await swarm.startAgent('testing');
    const flow: FlowSubmit = {
      flow_id: 'cancel-me',
      name: 'cancel-me',
      vars: {},
      steps: [
        { id: 'slow', type: 'testing.run', payload: {}, needs: [], commands: ['sleep 31'] },
        {
          id: 'after',
          type: 'testing.run',
          payload: {},
          needs: ['slow'],
          commands: ['echo never'],
        },
      ],
    };
    const progress = await swarm.record('tasks/progress');
    await submitFlow(swarm, flow);
    await progress.waitFor(
      () =>
        progress.on('tasks/progress').some((m) => m.payload.message === 'running 1/1: sleep 31'),
      15_000,
    );
    const sleeping = (): boolean => {
      try {
        return execFileSync('pgrep', ['-f', '^sleep 31$'], { encoding: 'utf8' }).trim().length > 0;
      } catch {
        return false;
      }
    };
    await waitUntil(sleeping, 5_000);
    const run = await runSheri(
      ['flow', 'cancel', 'cancel-me', '--reason', 'not today', ...cliFlags(swarm)],
      { cwd: swarm.dir },
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('canceled flow cancel-me: 1 queued or running step(s) stopped');
    // The cancel reached the agent: its sandboxed command is gone, long before its 31 s.
    await waitUntil(
      () => !sleeping(),
      10_000,
      () => 'sleep 31 still runs',
    );
    expect(hub.ledger.get('cancel-me.slow')).toMatchObject({
      state: 'dead',
      lastError: 'canceled: flow cancel-me canceled by operator: not today',
    });
    expect(hub.ledger.get('cancel-me.after')).toBeUndefined();
    expect(hub.flows.engine.view('cancel-me')).toMatchObject({
      state: 'canceled',
      steps: [
        { id: 'slow', state: 'canceled' },
        { id: 'after', state: 'canceled' },
      ],
    });
    // The agent's slot is free again: it takes the next task.
    await swarm.submit([swarm.taskAppending('next-one', 'testing.run')]);
    await waitUntil(() => hub.ledger.get('next-one')?.state === 'complete', 15_000);
    expect(swarm.executions().map((e) => e.agentId)).toEqual([agent.agentId]);
  });

  /**
   * A swarm of one testing agent whose workspace script sets the output `name` to `value`, and a
   * flow `id` whose step `use` runs `command` (which renders that output) after `make` set it.
   */
  async function flowOfAnOutput(
    id: string,
    value: string,
    command: string,
    overrides: Parameters<TestSwarm['startAgent']>[1] = {},
  ): Promise<{ hub: Hub; workspace: string }> {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub();
    const workspace = join(swarm.dir, 'ws');
    copyExampleService(swarm, 'ws');
    await swarm.startAgent('testing', overrides, 1, workspace);
    writeFileSync(
      join(workspace, 'scripts/evil.mjs'),
      `import { setOutput } from './outputs.mjs';\nsetOutput('name', ${JSON.stringify(value)});\n`,
    );
    const pkg = JSON.parse(readFileSync(join(workspace, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    pkg.scripts['test:evil'] = 'node scripts/evil.mjs';
    writeFileSync(join(workspace, 'package.json'), JSON.stringify(pkg));
    await submitFlow(swarm, {
      flow_id: id,
      name: id,
      vars: {},
      steps: [
        {
          id: 'make',
          type: 'testing.run',
          payload: {},
          needs: [],
          commands: ['npm run test:evil'],
        },
        { id: 'use', type: 'testing.run', payload: {}, needs: ['make'], commands: [command] },
      ],
    });
    return { hub, workspace };
  }

  it('passes a step output full of shell syntax to the next step as one word, never as code', async () => {
    // A script of the workspace sets an output that would run `touch pwned` if spliced as code.
    const { hub, workspace } = await flowOfAnOutput(
      'quoting',
      "'; touch pwned; echo '$(touch pwned2)`touch pwned3`",
      'echo got ${{ steps.make.outputs.name }}',
    );
    expect(await flowEnded(hub, 'quoting')).toBe('succeeded');
    const used = hub.ledger.get('quoting.use')!.result as { commands: { stdout: string }[] };
    expect(used.commands[0]!.stdout).toBe(
      "got '; touch pwned; echo '$(touch pwned2)`touch pwned3`\n",
    );
    for (const file of ['pwned', 'pwned2', 'pwned3']) {
      expect(() => readFileSync(join(workspace, file))).toThrow();
    }
  });

  it('refuses a step output beginning with "-" in a later command, where one word is still read as an option', async () => {
    // `sort --output=pwned package.json` writes a file the flow's author never named; the
    // role's policy allows every command here, as an operator's own may.
    const { hub, workspace } = await flowOfAnOutput(
      'options',
      '--output=pwned',
      'sort ${{ steps.make.outputs.name }} package.json',
      {
        shellPolicies: {
          testing: { allow: ['*'], deny: [], ask: [], readOnly: false, network: false },
        },
      },
    );
    expect(await flowEnded(hub, 'options')).toBe('failed');
    expect(hub.ledger.get('options.use')).toBeUndefined();
    expect(() => readFileSync(join(workspace, 'pwned'))).toThrow();
    const shown = await runSheri(['flow', 'show', 'options', ...cliFlags(swarm)], {
      cwd: swarm.dir,
    });
    expect(shown.stdout).toContain(
      'steps.make.outputs.name begins with "-" ("--output=pwned"): a step\'s output is refused in a command',
    );
  });
});
