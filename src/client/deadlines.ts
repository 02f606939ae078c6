// Many deadlines on one timer: a min-heap of (time, callback) with a single clock timer armed at the
// earliest. The SDK keeps a deadline per Submit, and a lease-belief end and an extend per task in
// hand; a clock timer each cost more CPU than the rest of their bookkeeping (issue 11). An entry
// fires when its time is due, as its own timer would: entries due together fire in time order, then
// in the order they were added. The timer is cancelled whenever no entry is left, so an idle sweep
// keeps no process alive.
import type { Clock, Timer } from './clock.js';

/** One deadline of a sweep; pass it to `cancel`. */
export interface Deadline {
  readonly at: number;
  /** Its place in the heap; -1 once fired or cancelled. */
  index: number;
}

interface Entry extends Deadline {
  seq: number;
  fn: () => void;
}

export class Deadlines {
  private readonly heap: Entry[] = [];
  private timer: Timer | null = null;
  /** When the armed timer fires (Infinity: none armed). */
  private armedAt = Infinity;
  private seq = 0;

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.heap.length;
  }

  /** Calls `fn` once `at` (on the clock) has come, unless cancelled first. */
  add(at: number, fn: () => void): Deadline {
    const e: Entry = { at, seq: this.seq++, fn, index: this.heap.length };
    this.heap.push(e);
    this.up(e.index);
    if (at < this.armedAt) this.arm();
    return e;
  }

  /** Forgets a deadline that has not fired (a no-op for one that has). */
  cancel(d: Deadline): void {
    const i = d.index;
    if (i < 0) return;
    this.removeAt(i);
    if (this.heap.length === 0) this.disarm();
  }

  /** Cancels every deadline. */
  clear(): void {
    for (const e of this.heap) e.index = -1;
    this.heap.length = 0;
    this.disarm();
  }

  private arm(): void {
    this.timer?.cancel();
    const top = this.heap[0];
    if (top === undefined) {
      this.timer = null;
      this.armedAt = Infinity;
      return;
    }
    this.armedAt = top.at;
    this.timer = this.clock.setTimer(top.at - this.clock.now(), () => this.fire());
  }

  private disarm(): void {
    this.timer?.cancel();
    this.timer = null;
    this.armedAt = Infinity;
  }

  /** The timer came: everything due by then fires (a timer may run a little before `now` says so). */
  private fire(): void {
    const due = Math.max(this.armedAt, this.clock.now());
    this.timer = null;
    this.armedAt = Infinity;
    for (let top = this.heap[0]; top !== undefined && top.at <= due; top = this.heap[0]) {
      this.removeAt(0);
      top.fn();
    }
    // A callback may have added (and armed for) an entry already fired above.
    const top = this.heap[0];
    if (top === undefined) this.disarm();
    else if (this.timer === null || top.at < this.armedAt) this.arm();
  }

  private removeAt(i: number): void {
    const heap = this.heap;
    const gone = heap[i] as Entry;
    gone.index = -1;
    const last = heap.pop() as Entry;
    if (i === heap.length) return;
    heap[i] = last;
    last.index = i;
    this.down(i);
    this.up(last.index);
  }

  private less(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private up(i: number): void {
    const heap = this.heap;
    const e = heap[i] as Entry;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p] as Entry;
      if (!this.less(e, parent)) break;
      heap[i] = parent;
      parent.index = i;
      i = p;
    }
    heap[i] = e;
    e.index = i;
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const e = heap[i] as Entry;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.less(heap[r] as Entry, heap[l] as Entry) ? r : l;
      const child = heap[c] as Entry;
      if (!this.less(child, e)) break;
      heap[i] = child;
      child.index = i;
      i = c;
    }
    heap[i] = e;
    e.index = i;
  }
}
