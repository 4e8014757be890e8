// BullMQ on a local redis-server, the same cases as sheri's: a job that does nothing, a job that
// spawns `sh -c true`; worker concurrency 4, in the bench's process or in one of its own.
import { fork } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { adopt, freePort, hasCommand, now, ROOT, sleep, startProcess } from './lib.mjs';

export const CONCURRENCY = 4;

/** redis-server from the distribution, with its defaults, in a folder of its own. */
export async function startRedis(dir) {
  const binary = hasCommand('redis-server');
  if (!binary) return undefined;
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const proc = startProcess(binary, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir]);
  await proc.waitFor('Ready to accept connections', 15_000);
  return { port, pid: proc.pid, close: () => proc.kill() };
}

let queues = 0;

/**
 * One layout of BullMQ: `processes` 'one' (queue and worker in this process) or 'separate'
 * (the worker forked). `run(kind, n)` submits n jobs at once; `steady(kind, rate, n)` paces them.
 */
export async function startBullmq(redis, processes, kind) {
  const { Queue, Worker } = await import('bullmq');
  const connection = { host: '127.0.0.1', port: redis.port };
  const name = `bench-${++queues}`;
  const queue = new Queue(name, { connection });
  const started = new Map();
  const done = new Map();
  const waiters = new Set();
  const note = (map, id, at) => {
    if (!map.has(id)) map.set(id, at);
    for (const waiter of waiters) waiter();
  };
  let worker;
  let child;
  if (processes === 'one') {
    worker = new Worker(
      name,
      async (job) => {
        note(started, job.data.id, now());
        if (kind === 'true') {
          await new Promise((resolve, reject) =>
            execFile('sh', ['-c', 'true'], (error) => (error ? reject(error) : resolve())),
          );
        }
      },
      { connection, concurrency: CONCURRENCY, removeOnComplete: { count: 0 } },
    );
    worker.on('completed', (job) => note(done, job.data.id, now()));
    await worker.waitUntilReady();
  } else {
    child = adopt(
      fork(
        join(ROOT, 'scripts/bench/bullmq-worker.mjs'),
        [String(redis.port), name, kind, String(CONCURRENCY)],
        {
          stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        },
      ),
    );
    await new Promise((resolve, reject) => {
      child.once('error', reject);
      child.on('message', (message) => {
        if (message.ready) resolve();
        if (message.started) note(started, message.started, message.at);
        if (message.done) note(done, message.done, message.at);
      });
    });
  }
  const until = (check) =>
    new Promise((resolve) => {
      if (check()) return resolve();
      const waiter = () => {
        if (!check()) return;
        waiters.delete(waiter);
        resolve();
      };
      waiters.add(waiter);
    });
  let seq = 0;
  const ids = (n) => Array.from({ length: n }, () => `j${++seq}`);
  return {
    pid: child?.pid ?? process.pid,
    async burst(n) {
      const jobs = ids(n);
      const added = new Map();
      const t0 = now();
      await Promise.all(
        jobs.map((id) => {
          added.set(id, now());
          return queue.add('job', { id });
        }),
      );
      await until(() => jobs.every((id) => done.has(id)));
      const last = Math.max(...jobs.map((id) => done.get(id)));
      const seconds = (last - t0) / 1000;
      return {
        seconds,
        tasksPerS: n / seconds,
        latency: jobs.map((id) => started.get(id) - added.get(id)),
      };
    },
    async steady(rate, n) {
      const jobs = ids(n);
      const added = new Map();
      const t0 = now();
      for (const [i, id] of jobs.entries()) {
        const due = t0 + (i * 1000) / rate;
        while (now() < due) await sleep(Math.max(0, due - now() - 1));
        added.set(id, now());
        void queue.add('job', { id });
      }
      await until(() => jobs.every((id) => done.has(id)));
      return jobs.map((id) => started.get(id) - added.get(id));
    },
    async stop() {
      if (worker) await worker.close();
      if (child) {
        child.send('stop');
        await new Promise((resolve) => child.once('exit', resolve));
      }
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    },
  };
}
