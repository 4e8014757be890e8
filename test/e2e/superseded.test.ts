import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startSheri, type SheriProcess } from '../helpers/sheri-process.js';
import { waitUntil } from '../helpers/scenarios.js';
import { TestSwarm } from '../helpers/swarm.js';

/** The process and every process under it (a frozen machine, not one process). */
function processTree(pid: number): number[] {
  const children = (parent: number): number[] => {
    let out = '';
    try {
      out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(parent)], { encoding: 'utf8' });
    } catch {
      return []; // ps exits 1 when there are none
    }
    const pids = out.split('\n').map(Number).filter(Boolean);
    return pids.flatMap((child) => [child, ...children(child)]);
  };
  return [pid, ...children(pid)];
}

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone already
    }
  }
}

describe('a superseded attempt', () => {
  let swarm: TestSwarm;
  const processes: SheriProcess[] = [];
  let frozen: number[] = [];
  afterEach(async () => {
    signalAll(frozen, 'SIGCONT');
    frozen = [];
    for (const child of processes.splice(0)) await child.kill('SIGKILL');
    await swarm.close();
  });

  it('is killed at once when its frozen agent wakes after the task was granted to another, so its side effect runs once to the end', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await swarm.startHub({ leaseMs: 3_000 });
    const recorder = await swarm.record();
    writeFileSync(join(swarm.dir, 'sheri.config.json'), JSON.stringify({ heartbeatMs: 500 }));
    const victim = startSheri(
      [
        'agent',
        '--role',
        'testing',
        '--agent-id',
        'frozen',
        '--broker',
        swarm.brokerUrl,
        '--swarm',
        swarm.swarm,
        '--log-format',
        'json',
        '--workspace',
        swarm.dir,
      ],
      { cwd: swarm.dir },
    );
    processes.push(victim);
    await victim.waitForOutput('joined swarm');
    const effects = join(swarm.dir, 'effects.log');
    const lines = (): string[] =>
      existsSync(effects) ? readFileSync(effects, 'utf8').split('\n').filter(Boolean) : [];
    await swarm.submit([
      {
        task_id: 'once',
        type: 'testing.run',
        payload: {},
        commands: [
          `echo "start $SHERI_AGENT_ID" >> ${effects}; sleep 8; echo "done $SHERI_AGENT_ID" >> ${effects}`,
        ],
      },
    ]);
    await waitUntil(
      () => lines().includes('start frozen'),
      15_000,
      () => victim.output(),
    );
    await swarm.startAgent('testing', { heartbeatMs: 500 }, 1, swarm.dir, 'rescuer');

    frozen = processTree(victim.child.pid!);
    signalAll(frozen, 'SIGSTOP');
    await recorder.waitFor(
      () => recorder.on('tasks/assigned').some((m) => m.payload.attempt === 2),
      15_000,
      () => JSON.stringify(hub.ledger.history('once')),
    );
    // The hub told the old holder (its message waits in the frozen agent's socket).
    expect(recorder.on('tasks/cancel/frozen').map((m) => m.payload)).toMatchObject([
      { task_id: 'once', attempt: 1, reason: expect.stringContaining('superseded') },
    ]);
    await waitUntil(() => lines().includes('start rescuer'), 15_000);
    signalAll(frozen, 'SIGCONT');
    frozen = [];

    await waitUntil(
      () => hub.ledger.get('once')?.state === 'complete',
      20_000,
      () => JSON.stringify(hub.ledger.history('once')),
    );
    await victim.waitForOutput(/canceled once \(attempt 1\)/);
    // Attempt 1 had 3 s of its sleep left at the wake; attempt 2 ended after it would have.
    expect(lines()).toEqual(['start frozen', 'start rescuer', 'done rescuer']);
    expect(hub.ledger.get('once')).toMatchObject({ attempt: 2, agentId: 'rescuer' });
  });
});
