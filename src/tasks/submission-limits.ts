import type { SecurityConfig } from '../config/load.js';

interface Bucket {
  tasks: number;
  bytes: number;
  at: number;
}

/** Idle identities' buckets kept at most; a full bucket carries no state worth keeping. */
const MAX_BUCKETS = 10_000;

/**
 * Per-identity rate of `tasks/new` (PROTOCOL §15.5): two token buckets, tasks and bytes, that
 * refill at the configured rates up to their bursts. O(1) per submission.
 */
export class SubmissionLimits {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly limits: SecurityConfig['rateLimit']) {}

  /** Why this submission is over the sender's rate (nothing is taken then), or undefined. */
  take(sender: string, bytes: number, now: number): string | undefined {
    const { tasksPerSecond, taskBurst, bytesPerSecond, byteBurst } = this.limits;
    const bucket = this.refill(sender, now);
    if (bucket.tasks < 1) {
      return `${sender} submits more than ${tasksPerSecond} tasks a second (bursts of ${taskBurst}; security.rateLimit in sheri.config.json)`;
    }
    if (bytes > byteBurst || bucket.bytes < bytes) {
      return `${sender} submits more than ${bytesPerSecond} bytes of tasks a second (bursts of ${byteBurst}; security.rateLimit in sheri.config.json)`;
    }
    bucket.tasks -= 1;
    bucket.bytes -= bytes;
    return undefined;
  }

  private refill(sender: string, now: number): Bucket {
    const { tasksPerSecond, taskBurst, bytesPerSecond, byteBurst } = this.limits;
    let bucket = this.buckets.get(sender);
    if (!bucket) {
      if (this.buckets.size >= MAX_BUCKETS) this.dropFull(now);
      bucket = { tasks: taskBurst, bytes: byteBurst, at: now };
      this.buckets.set(sender, bucket);
      return bucket;
    }
    const seconds = Math.max(0, now - bucket.at) / 1000;
    bucket.tasks = Math.min(taskBurst, bucket.tasks + seconds * tasksPerSecond);
    bucket.bytes = Math.min(byteBurst, bucket.bytes + seconds * bytesPerSecond);
    bucket.at = now;
    return bucket;
  }

  private dropFull(now: number): void {
    for (const [sender] of this.buckets) {
      const bucket = this.refill(sender, now);
      if (bucket.tasks >= this.limits.taskBurst && bucket.bytes >= this.limits.byteBurst) {
        this.buckets.delete(sender);
      }
    }
    // Every identity busy at once: forget the oldest rather than grow without bound.
    if (this.buckets.size >= MAX_BUCKETS) this.buckets.delete(this.buckets.keys().next().value!);
  }
}
