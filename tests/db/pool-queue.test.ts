/**
 * The driver's queues (postgres.js src/queue.js, patched in patches/postgres@3.4.9.patch):
 * the pool keeps its connections in them (open, busy, full) and its waiting queries, and
 * moves a connection between them for every query it runs. Under steady load the busy
 * queue never empties; before the patch every shift left a slot behind that was never
 * reclaimed, and every move scanned them all (thousands per query after a few seconds).
 *
 * The queue copies the array it starts from with `slice`, so an Array subclass given
 * as that array is what the queue keeps: its indexOf records how long the queue's
 * array is whenever a connection is looked for.
 */
import { describe, expect, test } from 'bun:test';

type Q<T> = { length: number; push(x: T): T; shift(): T | undefined; remove(x: T): T | null };

// The module's own path: the package exports only its entry point, and the file has no types.
const QUEUE_MODULE = '../../node_modules/postgres/src/queue.js';
const { default: Queue } = (await import(QUEUE_MODULE)) as { default: <T>(initial: T[]) => Q<T> };

class Watched<T> extends Array<T> {
  static longest = 0;
  static scanned = 0;
  override indexOf(x: T, from = 0): number {
    Watched.longest = Math.max(Watched.longest, this.length);
    const at = super.indexOf(x, from);
    Watched.scanned += (at === -1 ? this.length : at + 1) - from;
    return at;
  }
}

const watched = <T>(items: T[]): Q<T> => {
  Watched.longest = 0;
  Watched.scanned = 0;
  return Queue<T>(Watched.from(items));
};

describe('the pool queue', () => {
  test('a queue that never empties keeps its array short, and a move scans only the queued', () => {
    const live = Array.from({ length: 10 }, (_, i) => ({ id: i }));
    const busy = watched(live);
    const cycles = 100_000;
    for (let i = 0; i < cycles; i++) {
      // What the pool does to a busy connection given one more query: shift it, then move
      // it back (remove from its queue, where it no longer is, and push).
      const c = busy.shift()!;
      expect(busy.remove(c)).toBeNull();
      busy.push(c);
    }
    expect(busy.length).toBe(live.length);
    expect(Watched.longest).toBeLessThan(2100);
    expect(Watched.scanned / cycles).toBeLessThanOrEqual(live.length);
  });

  test('keeps first-in first-out order through shifts, removals and compaction', () => {
    const q = watched<number>([]);
    const model: number[] = [];
    let next = 0;
    for (let i = 0; i < 20_000; i++) {
      const op = i % 7;
      if (op < 3 || model.length === 0) {
        q.push(next);
        model.push(next++);
      } else if (op < 6) {
        expect(q.shift()).toBe(model.shift()!);
      } else {
        const victim = model[(i * 31) % model.length]!;
        expect(q.remove(victim)).toBe(victim);
        model.splice(model.indexOf(victim), 1);
        expect(q.remove(victim)).toBeNull();
      }
      expect(q.length).toBe(model.length);
    }
    while (model.length) expect(q.shift()).toBe(model.shift()!);
    expect(q.length).toBe(0);
  });

  test('shifting an empty queue gives nothing and leaves it empty', () => {
    const q = watched<string>([]);
    expect(q.shift()).toBeUndefined();
    expect(q.shift()).toBeUndefined();
    expect(q.length).toBe(0);
    q.push('a');
    expect(q.length).toBe(1);
    expect(q.shift()).toBe('a');
    expect(q.length).toBe(0);
  });
});
