import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Bus } from '../../src/transport/bus.js';
import type { Logger } from '../../src/logging/logger.js';
import { runSheri } from '../helpers/sheri-process.js';
import { TestSwarm } from '../helpers/swarm.js';
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
});
