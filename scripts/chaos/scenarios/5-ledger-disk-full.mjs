// Scenario 5: the disk of the hub's ledger fills up mid-run, then space is freed.
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  atProgress,
  describeLost,
  errorCodes,
  finish,
  sleep,
  startSwarm,
  taskIds,
} from './common.mjs';

export const id = 5;
export const title = 'ledger disk full, then freed';
// Room for the ledger and its WAL, which grows to ~4 MiB before SQLite checkpoints it.
const TMPFS_KIB = 8_192;
export const description = (quick) =>
  `The hub's data dir (its ledger) on a ${TMPFS_KIB} KiB tmpfs (mounted as root). ` +
  `${quick ? 100 : 200} × \`sleep 0.3\` on 4 agents × 2: the first half submitted; at 25 % of ` +
  'all done the tmpfs is filled to the last byte with a filler file; the second half is ' +
  'submitted; 5 s later the filler is deleted. If the hub has died by then it is started again ' +
  '(to count what a restart recovers). Pass: 0 lost, and the hub process never exited.';

export const variants = () => [{ label: '' }];

/** Write until ENOSPC, in ever smaller pieces, so not even a page is left. */
function fill(path) {
  const fd = openSync(path, 'w');
  let written = 0;
  try {
    for (const size of [1 << 16, 1 << 12, 512, 1]) {
      const chunk = Buffer.alloc(size, 0x5a);
      for (;;) {
        try {
          written += writeSync(fd, chunk);
        } catch (error) {
          if (error.code === 'ENOSPC') break;
          throw error;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

export async function run(ctx) {
  if (process.getuid?.() !== 0) return { skipped: 'needs root to mount a tmpfs' };
  const total = ctx.quick ? 100 : 200;
  const swarm = await startSwarm(ctx, { agents: 4, hubOnTmpfs: TMPFS_KIB });
  const ids = taskIds('s5', total);
  const half = Math.floor(total / 2);
  const t0 = Date.now();
  await swarm.submit(ids.slice(0, half).map((taskId) => swarm.task(taskId)));
  await atProgress(swarm, total, 0.25, ctx.limitMs, () => !swarm.hub.alive());
  if (!swarm.hub.alive())
    throw new Error(`the hub died before the disk was filled; see ${swarm.hub.logPath}`);
  const filler = join(swarm.tmpfs, 'filler');
  const filled = fill(filler);
  await swarm.submit(ids.slice(half).map((taskId) => swarm.task(taskId)));
  await sleep(5_000);
  const firstHub = swarm.hub;
  const diedWhileFull = !firstHub.alive();
  rmSync(filler);
  const notes = [`filler ${Math.round(filled / 1024)} KiB`];
  if (!firstHub.alive()) {
    const { code, signal } = await firstHub.exited;
    notes.push(
      `hub exited (${signal ?? `code ${code}`}) ${diedWhileFull ? 'while the disk was full' : ''}: ` +
        (swarm.logLines(firstHub, /FULL|full|uncaught|fatal/i, 2).join(' / ') || 'no log line'),
    );
    await swarm.startHub();
  }
  // What is not finished a minute after the space came back is taken as lost.
  const outcome = await finish(swarm, ids, t0, { ...ctx, limitMs: 60_000 });
  const hubExits = swarm.hubs.filter((hub) => !hub.alive()).length;
  const pass = outcome.settled && outcome.lost === 0 && hubExits === 0;
  if (!pass) notes.push(describeLost(outcome), `errors on the bus: ${errorCodes(swarm)}`);
  return {
    outcome,
    criterion: `lost ${outcome.lost}; hub exits ${hubExits}`,
    pass,
    notes,
  };
}
