// Per-node and per-client clocks over the scheduler's true time. A monotonic clock has its own
// origin and a constant rate (drift); a node's wall clock has an offset that can jump. Timers are
// armed on the local clock and fire when it reaches the deadline (rates are constant per life, so
// the true delay is ms / rate).
import type { Clock, Timer } from '../../../src/client/clock.js';
import type { Timers } from '../../../src/node/driver.js';
import type { ClockSource } from '../../../src/node/log-clock.js';
import type { Rng } from '../../../src/raft/rng.js';
import type { Scheduled, Scheduler } from './scheduler.js';

/** ρmax of docs/design.md §2. */
export const RHO = 0.001;

export class MonoClock {
  private readonly t0: number;

  constructor(
    private readonly sched: Scheduler,
    readonly rate: number,
    private readonly origin: number,
  ) {
    this.t0 = sched.now;
  }

  now(): number {
    return this.origin + this.rate * (this.sched.now - this.t0);
  }

  /** The true time at which this clock reads `local`. */
  trueAt(local: number): number {
    return this.t0 + (local - this.origin) / this.rate;
  }

  trueDelay(localMs: number): number {
    return Math.max(0, localMs) / this.rate;
  }
}

/** Epoch of the simulated calendar (2026-01-01). */
export const WALL_EPOCH = 1_767_225_600_000;

/** One node life's clocks and timers; `alive` turns false at a crash so old timers never fire. */
export class NodeClock implements ClockSource, Timers {
  wallOffset: number;
  alive = true;
  /** Planted bug for the checker's own test: the lease clock reads the wall clock. */
  monoFromWall = false;

  constructor(
    private readonly sched: Scheduler,
    readonly mono: MonoClock,
    wallOffset: number,
  ) {
    this.wallOffset = wallOffset;
  }

  monoMs(): number {
    return this.monoFromWall ? this.wallMs() - WALL_EPOCH : this.mono.now();
  }

  wallMs(): number {
    return WALL_EPOCH + this.sched.now + this.wallOffset;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    return this.sched.after(this.mono.trueDelay(ms), () => {
      if (this.alive) fn();
    });
  }

  clearTimeout(handle: unknown): void {
    this.sched.cancel(handle as Scheduled);
  }
}

/** The SDK's Clock for one simulated client process. */
export class ClientClock implements Clock {
  constructor(
    private readonly sched: Scheduler,
    readonly mono: MonoClock,
    private readonly rng: Rng,
  ) {}

  now(): number {
    return this.mono.now();
  }

  setTimer(ms: number, fn: () => void): Timer {
    const ev = this.sched.after(this.mono.trueDelay(ms), fn);
    return { cancel: () => this.sched.cancel(ev) };
  }

  random(): number {
    return this.rng.float();
  }

  /**
   * After this turn: a later event at the same instant (its promise callbacks settled first). A
   * bound property: the coalescer calls it detached.
   */
  readonly immediate = (fn: () => void): void => {
    this.sched.after(0, fn);
  };
}

/**
 * The Clock of one node life's client service: the life's monotonic clock and its timers (silent
 * after a crash), and the scheduler's turn. The service reads no real time.
 */
export function serviceClock(sched: Scheduler, clock: NodeClock, rng: Rng): Clock {
  return {
    now: () => clock.monoMs(),
    setTimer(ms: number, fn: () => void): Timer {
      const handle = clock.setTimeout(fn, ms);
      return { cancel: () => clock.clearTimeout(handle) };
    },
    random: () => rng.float(),
    immediate: (fn) => {
      sched.after(0, () => {
        if (clock.alive) fn();
      });
    },
  };
}

/** A rate within the bound: any two clocks drawn here differ in rate by at most `rho`. */
export function driftRate(rng: Rng, rho: number): number {
  // A third of the clocks sit at an extreme of the allowed band.
  const u = rng.chance(0.33) ? (rng.chance(0.5) ? 0 : 1) : rng.float();
  return 1 - rho / 2 + u * rho;
}
