import type { TaskRef } from '../protocol/messages.js';

/**
 * Stop this much before the lease as the agent reckons it: the hub's lease runs from when it
 * heard a renewal, the agent's from when it sent one, and the two clocks need not tick alike.
 */
export const LEASE_MARGIN_MS = 500;

interface Held {
  attempt: number;
  leaseMs: number;
  /** performance.now() by which the attempt stops unless a renewal is acknowledged. */
  deadline: number;
}

/**
 * The agent's own reckoning of each lease it holds (PROTOCOL §4.7): a lease runs `lease_ms` from
 * the grant, and again from the sending of each claim, heartbeat or progress that listed the
 * attempt and that the broker acknowledged (PUBACK), less a margin. The hub renews the lease only
 * when it hears such a message, which is after it was sent, so this clock runs out no later than
 * the hub's — an agent cut off from the swarm, or frozen, stops the attempt before the hub can
 * grant it again, or the moment it wakes. Monotonic time: a wall-clock jump changes nothing.
 */
export class LeaseClock {
  private readonly held = new Map<string, Held>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    /** The lease of this attempt ran out: stop it. */
    private readonly onLapse: (taskId: string, attempt: number, leaseMs: number) => void,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** A grant accepted: its lease runs from now (a grant is never older than its arrival). */
  granted(taskId: string, attempt: number, leaseMs: number): void {
    const deadline = this.clock() + leaseMs - margin(leaseMs);
    this.held.set(taskId, { attempt, leaseMs, deadline });
    this.arm();
  }

  /** A message listing `refs`, sent at `sentAt` (this clock), was acknowledged by the broker. */
  renewed(refs: readonly Pick<TaskRef, 'task_id' | 'attempt'>[], sentAt: number): void {
    for (const ref of refs) {
      const entry = this.held.get(ref.task_id);
      if (!entry || entry.attempt !== ref.attempt) continue;
      entry.deadline = Math.max(entry.deadline, sentAt + entry.leaseMs - margin(entry.leaseMs));
    }
    this.arm();
  }

  /** The attempt ended (an outcome, a cancel, a hand-back): its lease no longer matters. */
  ended(taskId: string, attempt: number): void {
    if (this.held.get(taskId)?.attempt === attempt) this.held.delete(taskId);
    this.arm();
  }

  now(): number {
    return this.clock();
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.held.clear();
  }

  /** One timer, at the earliest deadline; also run at once by a process that was stopped. */
  private arm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    let earliest = Infinity;
    for (const entry of this.held.values()) earliest = Math.min(earliest, entry.deadline);
    if (earliest === Infinity) return;
    this.timer = setTimeout(() => this.check(), Math.max(0, earliest - this.clock()));
  }

  private check(): void {
    this.timer = undefined;
    const now = this.clock();
    for (const [taskId, entry] of [...this.held]) {
      if (entry.deadline > now) continue;
      this.held.delete(taskId);
      this.onLapse(taskId, entry.attempt, entry.leaseMs);
    }
    this.arm();
  }
}

/** Short leases (tests) keep most of their length. */
function margin(leaseMs: number): number {
  return Math.min(LEASE_MARGIN_MS, Math.floor(leaseMs / 10));
}
