// Binary heaps of the state machine: IndexedHeap (src/protocol/indexed-heap.ts; a task is ready,
// delayed or leased, never two of them) and TimerHeap, a lazy heap of timers.

export { IndexedHeap, type Positioned } from '../protocol/indexed-heap.js';

/** A timer entry of a lazy heap: `at` (log time), then a stable key that breaks ties. */
export interface Timer {
  at: number;
  key: string | number;
}

function timerLess(a: Timer, b: Timer): boolean {
  if (a.at !== b.at) return a.at < b.at;
  if (typeof a.key === typeof b.key) return a.key < b.key;
  return typeof a.key === 'number';
}

/** Sorts timer entries into canonical (at, key) order, in place. */
export function sortTimers(entries: Timer[]): Timer[] {
  return entries.sort((a, b) => (timerLess(a, b) ? -1 : timerLess(b, a) ? 1 : 0));
}

/**
 * A min-heap of timers whose entries may go stale (the owner re-checks on pop). Pop order depends
 * only on (at, key), so a heap rebuilt from the same entries pops identically.
 */
export class TimerHeap {
  private items: Timer[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): Timer | undefined {
    return this.items[0];
  }

  push(t: Timer): void {
    const items = this.items;
    let i = items.length;
    items.push(t);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p] as Timer;
      if (!timerLess(t, parent)) break;
      items[i] = parent;
      i = p;
    }
    items[i] = t;
  }

  pop(): Timer | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    let i = 0;
    const n = items.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && timerLess(items[r] as Timer, items[l] as Timer)) c = r;
      const child = items[c] as Timer;
      if (!timerLess(child, last)) break;
      items[i] = child;
      i = c;
    }
    items[i] = last;
    return top;
  }

  /** A copy of the entries in heap order, for snapshots (sortTimers orders them; entries never change in place). */
  entries(): Timer[] {
    return [...this.items];
  }

  static from(entries: Timer[]): TimerHeap {
    const h = new TimerHeap();
    for (const e of entries) h.push(e);
    return h;
  }
}
