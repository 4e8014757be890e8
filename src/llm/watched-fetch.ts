import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Bytes on the wire, for an inactivity timeout: a fetch that tells the request that started it
 * about every chunk of its response body. The Anthropic SDK swallows the API's `ping` events, so
 * counting parsed events would call a model that is thinking quietly "silent"; counting bytes
 * does not. The listener travels with the request through AsyncLocalStorage, so concurrent
 * requests of one client each hear only their own response.
 */
const listener = new AsyncLocalStorage<() => void>();

export function whileWatching<T>(onActivity: () => void, run: () => Promise<T>): Promise<T> {
  return listener.run(onActivity, run);
}

export const watchedFetch: typeof fetch = async (input, init) => {
  const onActivity = listener.getStore();
  const response = await fetch(input, init);
  if (!onActivity || !response.body) return response;
  onActivity();
  const body = response.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        onActivity();
        controller.enqueue(chunk);
      },
    }),
  );
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
};

/** Calls `onSilence` once no `poke()` came for `ms`; `stop()` before it is garbage. */
export class SilenceWatch {
  private readonly timer: NodeJS.Timeout;
  private done = false;

  constructor(ms: number, onSilence: () => void) {
    this.timer = setTimeout(() => {
      this.done = true;
      onSilence();
    }, ms);
  }

  /** Heard from the server: the silence starts again. */
  poke = (): void => {
    // refresh() would re-arm a timer that already fired.
    if (!this.done) this.timer.refresh();
  };

  stop(): void {
    this.done = true;
    clearTimeout(this.timer);
  }
}
