import type { TaskRecord } from './task-record.js';
import { PRIORITY_RANK } from './task-record.js';

/** A binary heap ordered by `before`; O(log n) push and pop. */
export class Heap<T> {
  private readonly items: T[] = [];

  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    items[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let best = i;
      if (left < items.length && this.before(items[left]!, items[best]!)) best = left;
      if (right < items.length && this.before(items[right]!, items[best]!)) best = right;
      if (best === i) break;
      [items[i], items[best]] = [items[best]!, items[i]!];
      i = best;
    }
    return top;
  }
}

/** Best priority first, then oldest (ledger order `seq`): a requeued task keeps its place. */
function runsBefore(a: TaskRecord, b: TaskRecord): boolean {
  const pa = PRIORITY_RANK[a.priority];
  const pb = PRIORITY_RANK[b.priority];
  return pa !== pb ? pa > pb : a.seq < b.seq;
}

/**
 * The hub's queue of claimable tasks, in memory (PROTOCOL §3.4): one heap per task type, and the
 * tasks waiting out a retry delay in a heap by due time, moved over when due. A task leaves
 * only by being taken, so each entry is its task's one place in the queue.
 */
export class TaskQueue {
  private readonly byType = new Map<string, Heap<TaskRecord>>();
  private readonly delayed = new Heap<TaskRecord>((a, b) => a.notBefore < b.notBefore);
  private count = 0;

  /** Tasks due or not. */
  get size(): number {
    return this.count + this.delayed.size;
  }

  /** When the first delayed task comes due (Infinity: none waits). */
  get nextDueAt(): number {
    return this.delayed.peek()?.notBefore ?? Infinity;
  }

  push(task: TaskRecord, now: number): void {
    if (task.notBefore > now) return this.delayed.push(task);
    let heap = this.byType.get(task.type);
    if (!heap) {
      heap = new Heap(runsBefore);
      this.byType.set(task.type, heap);
    }
    heap.push(task);
    this.count++;
  }

  /** Move the tasks whose retry time has come into their type's heap. */
  promote(now: number): void {
    while ((this.delayed.peek()?.notBefore ?? Infinity) <= now) this.push(this.delayed.pop()!, now);
  }

  /** Whether a task of one of these types is due. */
  hasAny(types: readonly string[]): boolean {
    for (const type of types) if (this.byType.get(type)?.size) return true;
    return false;
  }

  /** Take the best due task of these types: O(types + log n). */
  take(types: readonly string[]): TaskRecord | undefined {
    let best: Heap<TaskRecord> | undefined;
    for (const type of types) {
      const heap = this.byType.get(type);
      const head = heap?.peek();
      if (head && (!best || runsBefore(head, best.peek()!))) best = heap;
    }
    const task = best?.pop();
    if (task) this.count--;
    return task;
  }
}
