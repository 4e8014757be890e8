import { describe, expect, it } from 'vitest';
import { Queue } from '../../src/dashboard/queue.js';

describe('Queue', () => {
  it('drops the oldest item past its capacity and hands it back', () => {
    const queue = new Queue<number>(3);
    expect([1, 2, 3].map((n) => queue.push(n))).toEqual([undefined, undefined, undefined]);
    expect(queue.push(4)).toBe(1);
    expect(queue.toArray()).toEqual([2, 3, 4]);
    expect([...queue.newestFirst()]).toEqual([4, 3, 2]);
  });

  it('keeps its order across many pushes and shifts (compaction)', () => {
    const queue = new Queue<number>();
    for (let i = 0; i < 5_000; i++) queue.push(i);
    for (let i = 0; i < 4_990; i++) expect(queue.shift()).toBe(i);
    expect(queue.toArray()).toEqual([4990, 4991, 4992, 4993, 4994, 4995, 4996, 4997, 4998, 4999]);
    expect(queue.peek()).toBe(4990);
  });
});
