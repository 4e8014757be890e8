import type { Logger } from '../logging/logger.js';

/**
 * What a serving command has started so far, stopped in reverse order: at the end, or as soon
 * as a later step fails — so a failed `sheri up` holds no port and leaves no half-made state.
 */
export class Startup {
  private readonly stops: ((failed: boolean) => unknown)[] = [];

  constructor(private readonly logger: Logger) {}

  /** `stop` is told whether the start failed (a data directory then removes what it made). */
  add(stop: (failed: boolean) => unknown): void {
    this.stops.push(stop);
  }

  async stop(failed: boolean): Promise<void> {
    for (const stop of this.stops.splice(0).reverse()) {
      try {
        await stop(failed);
      } catch (error) {
        // One part that will not stop must not keep the others running.
        this.logger.warn({ err: error }, 'could not stop a part cleanly');
      }
    }
  }
}
