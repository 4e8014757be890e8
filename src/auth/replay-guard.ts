/**
 * Freshness and replay (PROTOCOL §15.4): a message's timestamp must be within the window of the
 * receiver's clock, and (signer, id) must not have been seen within it. Ids go into 10 s buckets
 * by their signed timestamp, so a check is one lookup; buckets past the window are dropped, and at
 * most `capacity` ids are held — beyond that the oldest bucket goes early and the window shrinks.
 */
const BUCKET_MS = 10_000;

export type Freshness = 'ok' | 'STALE' | 'REPLAYED';

export class ReplayGuard {
  private readonly buckets = new Map<number, Set<string>>();
  private size = 0;
  /** Timestamps before this are stale whatever the window says: their bucket was dropped. */
  private floorMs = -Infinity;
  private expiredAt = -Infinity;

  constructor(
    private readonly windowMs: number,
    private readonly capacity: number,
  ) {}

  check(signer: string, id: string, timestampMs: number, nowMs: number): Freshness {
    if (!Number.isFinite(timestampMs) || Math.abs(nowMs - timestampMs) > this.windowMs)
      return 'STALE';
    if (timestampMs < this.floorMs) return 'STALE';
    this.expire(nowMs);
    const index = Math.floor(timestampMs / BUCKET_MS);
    let bucket = this.buckets.get(index);
    const key = `${signer}\0${id}`;
    if (bucket?.has(key)) return 'REPLAYED';
    if (!bucket) {
      bucket = new Set();
      this.buckets.set(index, bucket);
    }
    bucket.add(key);
    this.size++;
    if (this.size > this.capacity) this.dropOldest();
    return 'ok';
  }

  get held(): number {
    return this.size;
  }

  private expire(nowMs: number): void {
    if (nowMs - this.expiredAt < 1_000) return;
    this.expiredAt = nowMs;
    const oldest = Math.floor((nowMs - this.windowMs) / BUCKET_MS) - 1;
    for (const [index, bucket] of this.buckets) {
      // Map order is insertion order, not time order: look at all (at most window/10 s + 1).
      if (index < oldest) {
        this.size -= bucket.size;
        this.buckets.delete(index);
      }
    }
  }

  private dropOldest(): void {
    const oldest = Math.min(...this.buckets.keys());
    this.size -= this.buckets.get(oldest)!.size;
    this.buckets.delete(oldest);
    this.floorMs = Math.max(this.floorMs, (oldest + 1) * BUCKET_MS);
  }
}
