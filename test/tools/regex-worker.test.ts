import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { PatternTooSlow, RegexWorker } from '../../src/tools/regex-worker.js';

const CATASTROPHIC = { source: '(a+)+$', text: `${'a'.repeat(50_000)}!` };
let worker: RegexWorker | undefined;

afterEach(async () => {
  await worker?.close();
  worker = undefined;
});

function start(source: string, timeLimitMs: number, signal = new AbortController().signal) {
  worker = RegexWorker.start({ source, flags: '', timeLimitMs, signal });
  return worker;
}

describe('the regex worker', () => {
  it("lets Node's worker.terminate() interrupt a catastrophically backtracking match", async () => {
    const raw = new Worker(
      `const { parentPort } = require('node:worker_threads');
      parentPort.on('message', (m) => {
        parentPort.postMessage('matching');
        parentPort.postMessage(new RegExp(m.source).test(m.text));
      });`,
      { eval: true },
    );
    const replies: unknown[] = [];
    const matching = new Promise<void>((resolve) =>
      raw.on('message', (reply: unknown) => {
        replies.push(reply);
        if (reply === 'matching') resolve();
      }),
    );
    raw.postMessage(CATASTROPHIC);
    await matching;
    expect(await raw.terminate()).toBe(1);
    expect(replies).toEqual(['matching']); // the match never finished
  });

  it('rejects a match that outlives the time limit with PatternTooSlow, and its thread ends', async () => {
    const matcher = start(CATASTROPHIC.source, 300);
    const slow = matcher.match(['fine', CATASTROPHIC.text], 10);
    await expect(slow).rejects.toBeInstanceOf(PatternTooSlow);
    await expect(slow).rejects.toMatchObject({ file: 1 }); // the second text was running
    await expect(matcher.match(['aaa'], 10)).rejects.toBeInstanceOf(PatternTooSlow);
    await matcher.close();
  });

  it('answers line matches and glob filters', async () => {
    worker = RegexWorker.start({
      source: 'lease',
      flags: 'i',
      glob: '\\.ts$',
      timeLimitMs: 5_000,
      signal: new AbortController().signal,
    });
    expect(await worker.match(['one\nrenewLease()', 'none', 'LEASE'], 10)).toEqual([
      { file: 0, line: 2, text: 'renewLease()' },
      { file: 2, line: 1, text: 'LEASE' },
    ]);
    expect(await worker.match(['lease\nlease', 'lease'], 2)).toHaveLength(2);
    expect(await worker.filter(['a.ts', 'b.md', 'c/d.ts'])).toEqual([0, 2]);
  });

  it('stops a running match when the task is cancelled', async () => {
    const controller = new AbortController();
    const matcher = start(CATASTROPHIC.source, 60_000, controller.signal);
    const pending = matcher.match([CATASTROPHIC.text], 10);
    controller.abort();
    await expect(pending).rejects.toThrow('the search was cancelled');
  });
});
