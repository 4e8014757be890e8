import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';

/*
 * A model-supplied regular expression runs in a worker thread, never on the agent's event loop:
 * V8's backtracking engine takes exponential time on patterns like (a+)+$, and one such match
 * froze a whole `sheri up` process (hub, broker and every agent). The worker has a time budget for
 * the whole search; when it runs out the worker is terminated, which interrupts a match in
 * progress (V8 checks for termination while backtracking; test/tools/regex-worker.test.ts).
 * The worker only computes on strings it is sent: the files are opened and read by the caller,
 * so terminating it never leaks a descriptor.
 */

/**
 * Runs as CommonJS in the worker (eval). Answers each request with { ok, value | error }; before
 * each text of a batch it stores the text's index in `progress`, so a terminated match can be
 * named.
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const pattern = new RegExp(workerData.source, workerData.flags);
const glob = workerData.glob === undefined ? undefined : new RegExp(workerData.glob);
const progress = new Int32Array(workerData.progress);
parentPort.on('message', (request) => {
  try {
    if (request.op === 'filter') {
      const kept = [];
      request.paths.forEach((path, index) => {
        if (!glob || glob.test(path)) kept.push(index);
      });
      parentPort.postMessage({ ok: true, value: kept });
      return;
    }
    const hits = [];
    for (let file = 0; file < request.texts.length && hits.length < request.max; file++) {
      Atomics.store(progress, 0, file);
      const lines = request.texts[file].split('\\n');
      for (let index = 0; index < lines.length && hits.length < request.max; index++) {
        if (pattern.test(lines[index])) {
          hits.push({ file, line: index + 1, text: lines[index].slice(0, 500) });
        }
      }
    }
    parentPort.postMessage({ ok: true, value: hits });
  } catch (error) {
    parentPort.postMessage({ ok: false, error: String(error && error.message || error) });
  }
});
`;

/** A worker's heap stays small: a search sends it a batch of a few MiB at a time. */
const RESOURCE_LIMITS = { maxOldGenerationSizeMb: 128, maxYoungGenerationSizeMb: 16 };

export interface LineHit {
  /** Index of the text in the batch given to match(). */
  file: number;
  line: number;
  text: string;
}

/** The search ran out of time: the worker was terminated in the middle of a match. */
export class PatternTooSlow extends Error {
  override readonly name = 'PatternTooSlow';
  /**
   * @param file index, in the batch given to match(), of the text being matched when time ran
   *   out (undefined when it ran out in filter()).
   */
  constructor(
    readonly limitMs: number,
    readonly file?: number,
  ) {
    super(`the pattern took more than ${limitMs} ms`);
  }
}

export interface RegexWorkerOptions {
  /** Source and flags of an expression already compiled once by the caller (so it is valid). */
  source: string;
  flags: string;
  /** Source of the glob's expression (globToRegExp), matched against paths in the worker too. */
  glob?: string;
  /** Time the worker may spend on this search in total, start-up included. */
  timeLimitMs: number;
  signal: AbortSignal;
}

type Reply = { ok: true; value: unknown } | { ok: false; error: string };

/** One search's worker: one request at a time, each bounded by what is left of the budget. */
export class RegexWorker {
  private remainingMs: number;
  private dead: Error | undefined;

  private constructor(
    private readonly worker: Worker,
    private readonly options: RegexWorkerOptions,
    private readonly progress: Int32Array,
  ) {
    this.remainingMs = options.timeLimitMs;
  }

  static start(options: RegexWorkerOptions): RegexWorker {
    const progress = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { source: options.source, flags: options.flags, glob: options.glob, progress },
      resourceLimits: RESOURCE_LIMITS,
    });
    return new RegexWorker(worker, options, new Int32Array(progress));
  }

  /** The indexes of `paths` that match the glob (all of them without one). */
  async filter(paths: string[]): Promise<number[]> {
    return (await this.request({ op: 'filter', paths })) as number[];
  }

  /** The first `max` lines of `texts`, in order, that match the pattern. */
  async match(texts: string[], max: number): Promise<LineHit[]> {
    return (await this.request({ op: 'match', texts, max })) as LineHit[];
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private request(
    message: { op: 'filter'; paths: string[] } | { op: 'match'; texts: string[]; max: number },
  ): Promise<unknown> {
    if (this.dead) return Promise.reject(this.dead);
    const { worker, options } = this;
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const settle = (error: Error | undefined, value?: unknown) => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        options.signal.removeEventListener('abort', onAbort);
        this.remainingMs -= performance.now() - started;
        if (error) {
          this.dead = error;
          void worker.terminate();
          reject(error);
        } else resolve(value);
      };
      const onMessage = (reply: Reply) => {
        if (reply.ok) settle(undefined, reply.value);
        else settle(new Error(`the pattern failed: ${reply.error}`));
      };
      const onError = (error: Error) => settle(new Error(`the pattern failed: ${error.message}`));
      const onExit = () => settle(new Error('the search worker stopped unexpectedly'));
      const onAbort = () => settle(new Error('the search was cancelled'));
      const timer = setTimeout(
        () => {
          const file = message.op === 'match' ? Atomics.load(this.progress, 0) : undefined;
          settle(new PatternTooSlow(options.timeLimitMs, file));
        },
        Math.max(0, this.remainingMs),
      );
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      if (options.signal.aborted) onAbort();
      else options.signal.addEventListener('abort', onAbort, { once: true });
      if (!this.dead) worker.postMessage(message);
    });
  }
}
