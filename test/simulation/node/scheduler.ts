// Virtual time for the node simulation: one binary heap of (time, seq) events drives every node,
// disk, link and client. After each event the promise callbacks it started run to completion
// (one setImmediate turn: nothing else runs on the real event loop), so a seed replays exactly.
import { EventHeap } from '../heap.js';

export interface Scheduled {
  t: number;
  seq: number;
  fn: () => void;
  live: boolean;
}

/** Lets every queued promise callback run. No time passes on any simulated clock. */
export function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

export class Scheduler {
  /** True (simulated) time in ms. Clocks of nodes and clients are functions of it. */
  now = 0;
  events = 0;
  private seq = 0;
  private readonly heap = new EventHeap<Scheduled>();

  at(t: number, fn: () => void): Scheduled {
    const ev: Scheduled = { t: Math.max(t, this.now), seq: this.seq++, fn, live: true };
    this.heap.push(ev);
    return ev;
  }

  after(dt: number, fn: () => void): Scheduled {
    return this.at(this.now + Math.max(0, dt), fn);
  }

  cancel(ev: Scheduled | null | undefined): void {
    if (ev) ev.live = false;
  }

  /**
   * Runs events up to `until` (inclusive); `afterEach` runs after each event once its promise
   * callbacks settled, and may return true to stop early.
   */
  async runUntil(until: number, afterEach: () => boolean): Promise<boolean> {
    for (;;) {
      const ev = this.heap.pop();
      if (ev === undefined) break;
      if (ev.t > until) {
        this.heap.push(ev);
        break;
      }
      if (!ev.live) continue;
      this.now = ev.t;
      this.events++;
      ev.fn();
      await settle();
      if (afterEach()) return true;
    }
    this.now = Math.max(this.now, until);
    return false;
  }
}
