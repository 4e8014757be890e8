import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { startMosquitto } from '../helpers/mosquitto.js';
import { DEFAULTS } from '../../src/config/defaults.js';
import { TestSwarm } from '../helpers/swarm.js';
import { requireTool } from '../helpers/tools.js';
import { runMixedScenario, waitForComplete } from '../helpers/scenarios.js';

const run = promisify(execFile);
const haveMosquitto =
  requireTool('mosquitto') && requireTool('mosquitto_pub') && requireTool('mosquitto_sub');

describe.skipIf(!haveMosquitto)('against a real mosquitto', () => {
  let swarm: TestSwarm;
  afterEach(async () => swarm.close());

  it('runs 200 mixed tasks exactly once each on mosquitto, so nothing depends on aedes', async () => {
    swarm = new TestSwarm();
    const mosquitto = await startMosquitto(swarm.dir);
    swarm.onClose(() => mosquitto.stop());
    swarm.useBroker(mosquitto.url);
    await runMixedScenario(swarm);
  });

  it('runs a task published by hand with mosquitto_pub in the origin shape, traced by mosquitto_sub, on a swarm that does not sign', async () => {
    swarm = new TestSwarm();
    const mosquitto = await startMosquitto(swarm.dir);
    swarm.onClose(() => mosquitto.stop());
    swarm.useBroker(mosquitto.url);
    // A message written by hand carries no signature: only a swarm with signing off takes it
    // (security.signing false, PROTOCOL §15.4); with signing on it is refused (signed-mosquitto).
    const unsigned = { security: { ...DEFAULTS.security, signing: false } };
    const hub = await swarm.startHub(unsigned);
    await swarm.startAgent('testing', unsigned);

    const trace = spawn('mosquitto_sub', [
      '-p',
      String(mosquitto.port),
      '-h',
      '127.0.0.1',
      '-t',
      `${swarm.swarm}/tasks/#`,
      '-v',
    ]);
    swarm.onClose(async () => void trace.kill());
    let traced = '';
    trace.stdout.on('data', (chunk: Buffer) => (traced += chunk.toString()));
    // mosquitto_sub has subscribed once it is connected; a retained probe shows when.
    await run('mosquitto_pub', [
      '-p',
      String(mosquitto.port),
      '-t',
      `${swarm.swarm}/tasks/probe`,
      '-m',
      'probe',
      '-r',
    ]);
    while (!traced.includes('probe')) await new Promise((resolve) => setTimeout(resolve, 20));

    const origin = {
      id: 'm1',
      timestamp: '2026-02-22T19:00:00Z',
      agent_id: 'cli',
      payload: {
        task_id: 't1',
        type: 'testing.run',
        payload: { suite: 'unit' },
        commands: [`echo "$SHERI_TASK_ID $SHERI_AGENT_ID" >> "${swarm.executionLog}"`],
      },
    };
    await run('mosquitto_pub', [
      '-p',
      String(mosquitto.port),
      '-q',
      '1',
      '-t',
      `${swarm.swarm}/tasks/new`,
      '-m',
      JSON.stringify(origin),
    ]);
    await waitForComplete(hub, 1, 20_000);
    while (!traced.includes(`${swarm.swarm}/tasks/complete`))
      await new Promise((resolve) => setTimeout(resolve, 20));

    expect(swarm.executions().map((e) => e.taskId)).toEqual(['t1']);
    const topics = traced
      .split('\n')
      .map((line) => line.split(' ')[0])
      .filter((topic) =>
        ['new', 'assigned/', 'complete'].some((name) =>
          topic?.startsWith(`${swarm.swarm}/tasks/${name}`),
        ),
      );
    expect(topics).toEqual([
      `${swarm.swarm}/tasks/new`,
      expect.stringMatching(`^${swarm.swarm}/tasks/assigned/testing-`),
      `${swarm.swarm}/tasks/complete`,
    ]);
    expect(hub.ledger.get('t1')?.spec.payload).toEqual({ suite: 'unit' });
  });
});
