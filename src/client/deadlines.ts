// Many deadlines on one timer: a min-heap of (time, callback) with a single clock timer armed at the
// earliest. The SDK keeps a deadline per Submit, and a lease-belief end and an extend per task in
// hand; a clock timer each cost more CPU than the rest of their bookkeeping (issue 11). An entry
// fires when its time is due, as its own timer would: entries due together fire in time order, then
// in the order they were added. The timer is cancelled whenever no entry is left, so an idle sweep
// keeps no process alive.
import { IndexedHeap } from '../protocol/indexed-heap.js';
import type { Clock, Timer } from './clock.js';

/** One deadline of a sweep; pass it to `cancel`. */
export interface Deadline {
  readonly at: number;
  /** Its place in the heap; -1 once fired or cancelled. */
  pos: number;
}

interface Entry extends Deadline {
  seq: number;
  fn: () => void;
}

export class Deadlines {
  private readonly heap = new IndexedHeap<Entry>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq));
  private timer: Timer | null = null;
  /** When the armed timer fires (Infinity: none armed). */
  private armedAt = Infinity;
  private seq = 0;

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.heap.size;
  }

  /** Calls `fn` once `at` (on the clock) has come, unless cancelled first. */
  add(at: number, fn: () => void): Deadline {
    const e: Entry = { at, seq: this.seq++, fn, pos: -1 };
    this.heap.push(e);
    if (at < this.armedAt) this.arm();
    return e;
  }

  /** Forgets a deadline that has not fired (a no-op for one that has). */
  cancel(d: Deadline): void {
    if (d.pos < 0) return;
    this.heap.remove(d as Entry);
    if (this.heap.size === 0) this.disarm();
  }

  /** Cancels every deadline. */
  clear(): void {
    while (this.heap.pop() !== undefined);
    this.disarm();
  }

  private arm(): void {
    this.timer?.cancel();
    const top = this.heap.peek();
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
    for (let top = this.heap.peek(); top !== undefined && top.at <= due; top = this.heap.peek()) {
      this.heap.remove(top);
      top.fn();
    }
    // A callback may have added (and armed for) an entry already fired above.
    const top = this.heap.peek();
    if (top === undefined) this.disarm();
    else if (this.timer === null || top.at < this.armedAt) this.arm();
  }
}
