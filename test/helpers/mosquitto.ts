import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { freePort } from './tools.js';

export interface Mosquitto {
  url: string;
  port: number;
  process: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * A real mosquitto on a free port. `max_queued_messages` is raised because mosquitto silently
 * drops QoS 1 messages past it (default 1000) — a burst of 500 grants to 20 agents would hit it.
 */
export async function startMosquitto(
  dir: string,
  port?: number,
  /** false: mosquitto's default, nothing kept across a restart (no sessions, no retained). */
  persistence = true,
): Promise<Mosquitto> {
  const chosen = port ?? (await freePort());
  const conf = join(dir, `mosquitto-${chosen}.conf`);
  writeFileSync(
    conf,
    [
      `listener ${chosen} 127.0.0.1`,
      'allow_anonymous true',
      `persistence ${persistence}`,
      `persistence_location ${dir}/`,
      'max_queued_messages 100000',
      'max_inflight_messages 0',
      '',
    ].join('\n'),
  );
  const child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await waitForPort(chosen, child, () => stderr);
  return {
    url: `mqtt://127.0.0.1:${chosen}`,
    port: chosen,
    process: child,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await once(child, 'exit');
    },
  };
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited ${child.exitCode}: ${log()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`mosquitto did not listen on ${port}: ${log()}`);
}
