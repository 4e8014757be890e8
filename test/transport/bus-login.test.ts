import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { writeCredentialFile } from '../../src/auth/credential-file.js';
import { CredentialStore } from '../../src/auth/credential-store.js';
import { EmbeddedBroker } from '../../src/broker/embedded-broker.js';
import { silentLogger } from '../../src/logging/logger.js';
import { Bus } from '../../src/transport/bus.js';
import type { Logger } from '../../src/logging/logger.js';
import { runSheri, startSheri, type SheriProcess } from '../helpers/sheri-process.js';
import { TestSwarm } from '../helpers/swarm.js';
import { freePort } from '../helpers/tools.js';
import { tempDirs } from '../helpers/temp-dir.js';

const tempDir = tempDirs('sheri-other-hub-');

/** A logger whose lines the test reads. */
function recordingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: pino({ level: 'info' }, { write: (line: string) => lines.push(line) }), lines };
}

describe('a broker that refuses the login', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  /** `sheri …` in the swarm's folder (its data directory, its credentials); killed with it. */
  function inSwarm(args: string[]): SheriProcess {
    const process = startSheri(args, { cwd: swarm.dir });
    swarm.onClose(() => process.kill('SIGKILL'));
    return process;
  }

  it('fails ready() at once with exit 3 and the reason, instead of waiting for a retry mqtt.js never makes', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker(); // with the swarm's credential store: no such user
    const { logger, lines } = recordingLogger();
    const bus = Bus.open({
      url: swarm.brokerUrl,
      swarm: swarm.swarm,
      sender: { agentId: 'intruder', role: 'cli' },
      clientId: 'intruder',
      username: 'intruder',
      password: 'guessed',
      logger,
      maxPayloadBytes: 1_000_000,
    });
    try {
      const outcome = await Promise.race([
        bus.ready().then(
          () => 'connected',
          (error: unknown) => error,
        ),
        new Promise((resolve) => setTimeout(() => resolve('still waiting after 5 s'), 5_000)),
      ]);
      expect(outcome).toMatchObject({
        name: 'SheriError',
        exitCode: 3,
        message: expect.stringContaining('refused our login'),
      });
      // Said by the error alone, not also logged.
      expect(lines.filter((line) => line.includes('refused'))).toEqual([]);
    } finally {
      await bus.destroy();
    }
  });

  it('ends `sheri hub` with exit 3 and one line saying so, not Node’s exit 13 for a wait that can never end', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    // A hub with a data directory of its own: its credentials are not the broker's.
    const elsewhere = tempDir();
    const run = await runSheri(
      ['hub', '--broker', swarm.brokerUrl, '--swarm', swarm.swarm, '--data-dir', elsewhere],
      { cwd: elsewhere, timeoutMs: 20_000 },
    );
    expect(run.timedOut).toBe(false);
    expect(run.code, run.stderr).toBe(3);
    expect(run.stderr).toMatch(/^sheri: the broker at .* refused our login/m);
  });

  it('ends an agent whose credential is revoked while it runs with exit 3 and the reason, not a process left disconnected for ever', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    await swarm.startHub();
    const ref = swarm.store.add('agent', 'box-1', 'testing');
    const file = join(swarm.dir, 'box-1.json');
    writeCredentialFile(file, swarm.store.issue(ref));
    const agent = inSwarm([
      'agent',
      '--role',
      'testing',
      '--broker',
      swarm.brokerUrl,
      '--swarm',
      swarm.swarm,
      '--credentials',
      file,
      '--sandbox',
      'none',
      '--workspace',
      swarm.dir,
    ]);
    await agent.waitForOutput('joined swarm');
    // The embedded broker drops the revoked identity's connection; its reconnection is refused.
    const revoked = await runSheri(['credentials', 'revoke', 'box-1'], { cwd: swarm.dir });
    expect(revoked.code, revoked.stderr).toBe(0);
    const code = await Promise.race([
      agent.exited(),
      new Promise((resolve) => setTimeout(() => resolve('still running after 20 s'), 20_000)),
    ]);
    expect(code, agent.output()).toBe(3);
    expect(agent.output()).toMatch(/^sheri: the broker at .* refused our login/m);
  });

  it('stops only the replica whose login is refused, and ends the process with exit 3 once every replica is', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    await swarm.startHub();
    // Replicas of a local store each have an identity of their own, minted by name: box-1, box-2.
    const agents = inSwarm([
      'agent',
      '--role',
      'testing',
      '--replicas',
      '2',
      '--agent-id',
      'box',
      '--broker',
      swarm.brokerUrl,
      '--swarm',
      swarm.swarm,
      '--sandbox',
      'none',
    ]);
    await agents.waitForOutput('2 agents box-1 … box-2 joined');
    const revoke = async (name: string): Promise<void> => {
      const run = await runSheri(['credentials', 'revoke', name], { cwd: swarm.dir });
      expect(run.code, run.stderr).toBe(0);
    };
    await revoke('box-1');
    await agents.waitForOutput(
      /refused our login .*; box-1 leaves, the other agents of this process stay/,
    );
    await agents.waitForOutput(/"agentId":"box-1".*left swarm/);
    expect(agents.child.exitCode).toBeNull();
    await revoke('box-2');
    const code = await Promise.race([
      agents.exited(),
      new Promise((resolve) => setTimeout(() => resolve('still running after 20 s'), 20_000)),
    ]);
    expect(code, agents.output()).toBe(3);
  });

  it('lets a revoked agent of `sheri up` leave while the swarm and its other agents go on', async () => {
    swarm = new TestSwarm();
    const port = String(await freePort());
    const up = inSwarm([
      'up',
      '--port',
      port,
      '--swarm',
      swarm.swarm,
      '--agents',
      'testing=2',
      '--log-format',
      'json',
    ]);
    await up.waitForOutput('is up on');
    const joined = [...up.output().matchAll(/"agentId":"([^"]+)","event":"joined"/g)].map(
      (match) => match[1]!,
    );
    expect(joined).toHaveLength(2);
    const revoked = await runSheri(['credentials', 'revoke', joined[0]!], { cwd: swarm.dir });
    expect(revoked.code, revoked.stderr).toBe(0);
    await up.waitForOutput(`${joined[0]} leaves, the other agents of this process stay`);
    await up.waitForOutput(new RegExp(`"agentId":"${joined[0]}".*left swarm`));
    expect(up.child.exitCode).toBeNull();
    // The other agent still runs tasks.
    const ran = await runSheri(
      [
        'task',
        'submit',
        '--broker',
        `mqtt://127.0.0.1:${port}`,
        '--swarm',
        swarm.swarm,
        '--type',
        'testing.run',
        '--command',
        'echo still here',
        '--wait',
      ],
      { cwd: swarm.dir, timeoutMs: 30_000 },
    );
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toContain('still here');
  });

  /** The swarm's broker goes, and one comes back on its port with another credential store. */
  async function brokerBackWithAnotherStore(first: EmbeddedBroker): Promise<void> {
    await first.close();
    const other = await EmbeddedBroker.start({
      port: Number(new URL(swarm.brokerUrl).port),
      host: '127.0.0.1',
      logger: silentLogger(),
      auth: CredentialStore.openOrCreate(tempDir()),
    });
    swarm.onCloseLast(() => other.close());
  }

  /** Its exit code, or what it still did after 20 s. */
  function exitWithin20s(process: { exited(): Promise<number | null> }): Promise<unknown> {
    return Promise.race([
      process.exited(),
      new Promise((resolve) => setTimeout(() => resolve('still running after 20 s'), 20_000)),
    ]);
  }

  it('ends `sheri hub` with exit 3 when the broker it reconnects to no longer knows its login', async () => {
    swarm = new TestSwarm();
    const first = await swarm.startBroker();
    const hub = inSwarm(['hub', '--broker', swarm.brokerUrl, '--swarm', swarm.swarm]);
    await hub.waitForOutput('hub ready');
    await brokerBackWithAnotherStore(first);
    expect(await exitWithin20s(hub), hub.output()).toBe(3);
    expect(hub.output()).toMatch(/^sheri: the broker at .* refused our login/m);
  });

  it('ends `sheri trace`, `sheri task submit --wait` and `sheri flow run --wait` with exit 3 when their login is refused on reconnecting, instead of waiting in silence', async () => {
    swarm = new TestSwarm();
    const first = await swarm.startBroker();
    await swarm.startHub();
    const where = ['--broker', swarm.brokerUrl, '--swarm', swarm.swarm];
    const trace = inSwarm(['trace', ...where]);
    await trace.waitForOutput(`tracing ${swarm.swarm}/`);
    // No agent of this role runs: the wait would last for ever.
    const wait = inSwarm([
      'task',
      'submit',
      ...where,
      '--type',
      'deployment.deploy',
      '--command',
      'true',
      '--wait',
    ]);
    await wait.waitForOutput(/published .* to swarm/);
    writeFileSync(
      join(swarm.dir, 'waits.yaml'),
      'name: waits\nsteps:\n  deploy:\n    type: deployment.deploy\n    commands: "true"\n',
    );
    const flow = inSwarm(['flow', 'run', 'waits.yaml', ...where, '--wait']);
    await flow.waitForOutput('queued');
    await brokerBackWithAnotherStore(first);
    expect(await exitWithin20s(trace), trace.output()).toBe(3);
    expect(trace.output()).toMatch(/^sheri: the broker at .* refused our login/m);
    expect(await exitWithin20s(wait), wait.output()).toBe(3);
    expect(wait.output()).toMatch(/refused our login .*; the task goes on \(sheri task show /);
    expect(await exitWithin20s(flow), flow.output()).toBe(3);
    expect(flow.output()).toMatch(/refused our login .*; the flow goes on \(sheri flow show /);
  });
});
