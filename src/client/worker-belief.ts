// Lease belief (docs/design.md §2): one leased attempt in a worker's hand and the instant until which the
// worker may believe it still holds the lease — first send of the granting (or last extending)
// command + heldMs + leaseMs − margin. The attempt's signal fires then, whatever is in flight.
import type { Clock, Timer } from './clock.js';
import { raftqError } from './errors.js';
import type { Lease } from './queue-leases.js';
import type { WorkerTask } from './worker-types.js';

/** ρmax of docs/design.md §2: monotonic clocks agree in rate within 0.1 %. */
export const CLOCK_RATE_BOUND = 0.001;
export const MARGIN_FLOOR_MS = 500;

/** The smallest safe margin for a lease of `leaseMs` requested with up to `maxHoldMs` of hold. */
export function marginMinMs(leaseMs: number, maxHoldMs: number): number {
  return Math.ceil(MARGIN_FLOOR_MS + 2 * CLOCK_RATE_BOUND * (leaseMs + maxHoldMs));
}

/** A task and token, as the key of one attempt (a task leased again is another attempt). */
export function attemptKey(l: { id: string; token: string }): string {
  return `${l.id}/${l.token}`;
}

/** One attempt in hand: its lease, its belief end and timers, and how it is settling. */
export class Attempt {
  readonly controller = new AbortController();
  task: WorkerTask<unknown> | null = null;
  beliefEnd: number;
  extending = false;
  /** The node said LEASE_LOST: nothing more is sent for it. */
  lost = false;
  /** Released on shutdown or finished: nothing more is sent for it. */
  settled = false;
  /** The node said CANCELLED (docs/workflows.md): no more extends; the ack or nack ends it cancelled. */
  cancelled = false;
  private beliefTimer: Timer | null = null;
  private extendTimer: Timer | null = null;

  constructor(
    readonly leased: Lease<unknown>,
    readonly leaseMs: number,
    grantedBy: number,
    private readonly margin: number,
    private readonly clock: Clock,
  ) {
    this.beliefEnd = grantedBy + leaseMs - margin;
  }

  get key(): string {
    return attemptKey(this.leased);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Fires the signal at the belief end (now, if it has passed). */
  armBelief(): void {
    this.beliefTimer?.cancel();
    const left = this.beliefEnd - this.clock.now();
    const fire = (): void => {
      this.controller.abort(raftqError('LEASE_LOST', `lease belief of task ${this.leased.id} ended`));
    };
    if (left <= 0) fire();
    else this.beliefTimer = this.clock.setTimer(left, fire);
  }

  /**
   * Whether the attempt's signal has fired, firing it first if the belief end has passed but its
   * timer has not run yet (a busy event loop): an ended belief stays ended.
   */
  over(): boolean {
    if (!this.controller.signal.aborted && this.clock.now() >= this.beliefEnd) this.armBelief();
    return this.controller.signal.aborted;
  }

  /** An extend first sent at `firstSentAt` succeeded: the belief moves on, unless it already ended. */
  extended(firstSentAt: number): void {
    const belief = firstSentAt + this.leaseMs - this.margin;
    // The signal fires at the belief end whether or not an extend is in flight (docs/design.md §2).
    if (!this.over() && belief > this.beliefEnd) {
      this.beliefEnd = belief;
      this.armBelief();
    }
  }

  /** Runs `extend` every `everyMs` until the attempt settles. */
  armExtend(everyMs: number, extend: () => Promise<void>): void {
    this.extendTimer = this.clock.setTimer(everyMs, () => {
      if (this.settled) return;
      void extend().finally(() => {
        if (!this.settled) this.armExtend(everyMs, extend);
      });
    });
  }

  stopTimers(): void {
    this.beliefTimer?.cancel();
    this.extendTimer?.cancel();
    this.beliefTimer = null;
    this.extendTimer = null;
  }
}
