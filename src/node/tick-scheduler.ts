// The driver's Raft clock. While anything is in flight it ticks every tickMs, exactly as a plain timer
// would. While the node is idle it sleeps until the next tick that can do anything (a heartbeat, an
// election, a lease coming due), so an idle cluster wakes a few times a second instead of 20.
//
// Ticks that went by during a sleep are credited before each message is stepped, so the core sees
// ticks and messages in the order they happened. The tick that does something is always the timer's.
// A stalled loop credits at most the ticks it planned, as a late timer always did: time lost in a
// stall does not pile up into elections or check-quorum rounds fired back to back.
import { assert } from '../protocol/assert.js';
import type { Timers } from './driver-types.js';

/** The longest sleep, in ticks: the identity report and other per-tick chores still run about once a second. */
export const IDLE_TICKS_MAX = 20;

export interface TickSchedulerDeps {
  clock: { monoMs(): number };
  timers: Timers;
  tickMs: number;
  /** Runs n ≥ 1 Raft ticks and the driver's per-tick chores. */
  onTicks(n: number): void;
  /** Ticks (≥ 1) until the next one that can do anything; 1 while anything is in flight. */
  horizon(): number;
}

export class TickScheduler {
  /** Ticks are credited up to this instant; the next ones fall at creditAt + k·tickMs. */
  private creditAt = 0;
  /** Ticks the armed timer covers, counted from creditAt. */
  private planned = 0;
  private fireAt = Infinity;
  private handle: unknown = null;
  private stopped = true;

  constructor(private readonly d: TickSchedulerDeps) {}

  start(): void {
    this.stopped = false;
    this.creditAt = this.d.clock.monoMs();
    this.arm(1);
  }

  stop(): void {
    this.stopped = true;
    if (this.handle !== null) this.d.timers.clearTimeout(this.handle);
    this.handle = null;
    this.fireAt = Infinity;
  }

  /** Before a message is stepped during a sleep: the whole ticks that went by so far, short of the planned one. */
  catchUp(): void {
    if (this.stopped || this.planned <= 1) return;
    const n = Math.min(this.planned - 1, Math.floor((this.d.clock.monoMs() - this.creditAt) / this.d.tickMs));
    if (n <= 0) return;
    this.creditAt += n * this.d.tickMs;
    this.planned -= n;
    this.d.onTicks(n);
  }

  /** After the driver's loop settles: sleep longer when idle, wake sooner when not. */
  replan(): void {
    if (this.stopped) return;
    this.catchUp();
    const k = this.sleepTicks();
    if (this.creditAt + k * this.d.tickMs !== this.fireAt) this.arm(k);
  }

  private sleepTicks(): number {
    return Math.min(IDLE_TICKS_MAX, Math.max(1, Math.floor(this.d.horizon())));
  }

  private arm(k: number): void {
    assert(k >= 1, 'tick scheduler: a sleep of no ticks');
    if (this.handle !== null) this.d.timers.clearTimeout(this.handle);
    this.planned = k;
    this.fireAt = this.creditAt + k * this.d.tickMs;
    const delay = Math.max(0, this.fireAt - this.d.clock.monoMs());
    this.handle = this.d.timers.setTimeout(this.fire, delay);
  }

  private readonly fire = (): void => {
    this.handle = null;
    this.fireAt = Infinity;
    if (this.stopped) return;
    // All the planned ticks, however late the timer: the next ones count from now.
    const n = this.planned;
    this.planned = 0;
    this.creditAt = this.d.clock.monoMs();
    this.d.onTicks(n);
    if (this.handle === null && !this.stopped) this.arm(this.sleepTicks());
  };
}
