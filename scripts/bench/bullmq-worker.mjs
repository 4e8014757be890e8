#!/usr/bin/env node
// A BullMQ worker in a process of its own, for the bench's "separate processes" rows: it runs
// each job (nothing, or `sh -c true`), tells the parent when each started, and when it is ready.
import { execFile } from 'node:child_process';
import { Worker } from 'bullmq';

const [port, queue, kind, concurrency] = process.argv.slice(2);
const now = () => performance.timeOrigin + performance.now();
const worker = new Worker(
  queue,
  async (job) => {
    process.send?.({ started: job.data.id, at: now() });
    if (kind === 'true') {
      await new Promise((resolve, reject) =>
        execFile('sh', ['-c', 'true'], (error) => (error ? reject(error) : resolve())),
      );
    }
  },
  {
    connection: { host: '127.0.0.1', port: Number(port) },
    concurrency: Number(concurrency),
    removeOnComplete: { count: 0 },
  },
);
worker.on('completed', (job) => process.send?.({ done: job.data.id, at: now() }));
await worker.waitUntilReady();
process.send?.({ ready: true });
process.on('message', async (message) => {
  if (message === 'stop') {
    await worker.close();
    process.exit(0);
  }
});
