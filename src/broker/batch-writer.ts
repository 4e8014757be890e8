import type { Level } from 'level';

/**
 * A write. A put's value may be a function, called only if the put is still to be written when
 * its batch goes out: a value a later delete of its key cancels is never encoded.
 */
export type Op =
  { type: 'put'; key: string; value: Buffer | (() => Buffer) } | { type: 'del'; key: string };

/**
 * Writes to the store in batches, one batch in flight at a time and in order: what is asked for
 * in one turn of the event loop goes in one `db.batch`, and each caller's promise settles when
 * the batch holding its writes is written — as durable as one write each, for a fraction of the
 * cost when a broker carries thousands of messages a second. Within a batch only the last write
 * of a key counts, and a key put and deleted before its batch went out is not written at all.
 */
export class BatchWriter {
  private ops = new Map<string, Op>();
  private done: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  /** Cancels the commit scheduled for the batch being gathered; undefined when none is. */
  private scheduled: (() => void) | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  /** Keys the store holds once the batches handed to it are written. */
  private readonly stored = new Set<string>();

  constructor(
    private readonly db: Level<string, Buffer>,
    /** How long a batch gathers writes after its first (0: to the end of the turn). */
    private readonly holdMs = 0,
  ) {}

  /** A key the store held at start. */
  known(key: string): void {
    this.stored.add(key);
  }

  /** Queue writes; resolves once they are in the store. */
  write(...ops: Op[]): Promise<void> {
    for (const op of ops) {
      if (op.type === 'del' && !this.stored.has(op.key)) this.ops.delete(op.key);
      else this.ops.set(op.key, op);
    }
    const written = new Promise<void>((resolve, reject) => this.done.push({ resolve, reject }));
    if (!this.scheduled) {
      if (this.holdMs > 0) {
        const timer = setTimeout(() => this.commit(), this.holdMs);
        this.scheduled = () => clearTimeout(timer);
      } else {
        const immediate = setImmediate(() => this.commit());
        this.scheduled = () => clearImmediate(immediate);
      }
    }
    return written;
  }

  /** Resolves once everything asked for so far is written (or failed). */
  async idle(): Promise<void> {
    if (this.scheduled) this.commit();
    await this.inFlight.catch(() => undefined);
  }

  private commit(): void {
    this.scheduled?.();
    this.scheduled = undefined;
    const ops = [...this.ops.values()].map((op) =>
      op.type === 'put' && typeof op.value === 'function' ? { ...op, value: op.value() } : op,
    );
    const { done } = this;
    this.ops = new Map();
    this.done = [];
    for (const op of ops) {
      if (op.type === 'put') this.stored.add(op.key);
      else this.stored.delete(op.key);
    }
    this.inFlight = this.inFlight
      .then(() => (ops.length > 0 ? this.db.batch(ops, { valueEncoding: 'buffer' }) : undefined))
      .then(
        () => done.forEach((waiter) => waiter.resolve()),
        (error: unknown) => done.forEach((waiter) => waiter.reject(error)),
      );
  }
}
