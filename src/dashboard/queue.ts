/**
 * A first-in first-out queue with O(1) push and shift (an array with a moving head, compacted
 * now and then), optionally bounded: past `capacity`, pushing drops the oldest item. The feed's
 * ring buffer and the dashboard's pruning orders are queues.
 */
export class Queue<T> {
  private items: T[] = [];
  private head = 0;

  constructor(readonly capacity = Infinity) {}

  get size(): number {
    return this.items.length - this.head;
  }

  /** Append; returns the item dropped to stay within capacity, if one was. */
  push(item: T): T | undefined {
    this.items.push(item);
    return this.size > this.capacity ? this.shift() : undefined;
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.items[this.head] as T;
    this.items[this.head] = undefined as T; // let it be collected
    this.head += 1;
    // Compact once the dead prefix is as long as the live part: amortised O(1) per item.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** The oldest item, without removing it. */
  peek(): T | undefined {
    return this.size === 0 ? undefined : this.items[this.head];
  }

  /** Newest first, lazily: a screen reads only as many as it can show. */
  *newestFirst(): Generator<T> {
    for (let i = this.items.length - 1; i >= this.head; i--) yield this.items[i] as T;
  }

  toArray(): T[] {
    return this.items.slice(this.head);
  }
}
