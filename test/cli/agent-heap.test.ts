import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startSheri, type SheriProcess } from '../helpers/sheri-process.js';
import { TestSwarm } from '../helpers/swarm.js';

const REPORTER = fileURLToPath(new URL('../fixtures/report-heap.mjs', import.meta.url));
const MiB = 2 ** 20;

describe("an agent process's heap (src/cli/agent-heap.ts)", () => {
  let swarm: TestSwarm;
  const processes: SheriProcess[] = [];
  afterEach(async () => {
    for (const child of processes.splice(0)) await child.kill('SIGKILL');
    await swarm.close();
  });

  /** Run `sheri <args>` until it prints `ready`, stop it, and read its young generation's size. */
  async function newSpaceOf(name: string, args: string[], ready: string): Promise<number> {
    const report = join(swarm.dir, `${name}-heap.json`);
    const child = startSheri(
      [...args, '--broker', swarm.brokerUrl, '--swarm', swarm.swarm, '--data-dir', swarm.dataDir],
      {
        cwd: swarm.dir,
        env: { NODE_OPTIONS: `--import ${REPORTER}`, SHERI_HEAP_REPORT: report },
      },
    );
    processes.push(child);
    await child.waitForOutput(ready, 20_000);
    await child.kill('SIGTERM');
    expect(existsSync(report), child.output()).toBe(true);
    return (JSON.parse(readFileSync(report, 'utf8')) as { newSpaceBytes: number }).newSpaceBytes;
  }

  it('keeps its young generation small through start-up, where the hub lets V8 grow it to its most', async () => {
    swarm = new TestSwarm();
    await swarm.startBroker();
    const hub = await newSpaceOf('hub', ['hub', '--log-format', 'json'], 'hub ready');
    const agent = await newSpaceOf(
      'agent',
      ['agent', '--role', 'testing', '--workspace', swarm.dir, '--log-format', 'json'],
      'joined swarm',
    );
    // With V8's defaults (the hub) start-up doubles the young generation up to its most, 16 MiB;
    // the agent's (--semi-space-growth-factor=1) stops at 4 MiB.
    expect(hub, `hub: ${hub / MiB} MiB`).toBeGreaterThanOrEqual(8 * MiB);
    expect(agent, `agent: ${agent / MiB} MiB`).toBeLessThanOrEqual(4 * MiB);
  });
});
