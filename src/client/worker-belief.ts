// Lease belief (docs/design.md §2): one leased attempt in a worker's hand and the instant until which the
// worker may believe it still holds the lease — first send of the granting (or last extending)
// command + heldMs + leaseMs − margin. The attempt's signal fires then, whatever is in flight.
import type { Clock } from './clock.js';
import type { Deadline, Deadlines } from './deadlines.js';
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

/**
 * One attempt in hand: its lease, its belief end and timers, and how it is settling. Its
 * AbortController is made when first asked for (most handlers never look at their signal, and one
 * per task was a visible share of the SDK's CPU), already aborted with the reason if the attempt was.
 */
export class Attempt {
  task: WorkerTask<unknown> | null = null;
  beliefEnd: number;
  extending = false;
  /** The node said LEASE_LOST: nothing more is sent for it. */
  lost = false;
  /** Released on shutdown or finished: nothing more is sent for it. */
  settled = false;
  /** The node said CANCELLED (docs/workflows.md): no more extends; the ack or nack ends it cancelled. */
  cancelled = false;
  private ctl: AbortController | null = null;
  /** Set once aborted: the reason the signal carries. */
  private abortedWith: { reason: unknown } | null = null;
  private beliefTimer: Deadline | null = null;
  private extendTimer: Deadline | null = null;
  /** The attempt's key (attemptKey), made once: the worker's map sets and deletes it. */
  readonly key: string;

  constructor(
    readonly leased: Lease<unknown>,
    readonly leaseMs: number,
    grantedBy: number,
    private readonly margin: number,
    private readonly clock: Clock,
    /** The worker's timers (one clock timer for all its attempts). */
    private readonly deadlines: Deadlines,
  ) {
    this.beliefEnd = grantedBy + leaseMs - margin;
    this.key = attemptKey(leased);
  }

  get controller(): AbortController {
    if (this.ctl === null) {
      this.ctl = new AbortController();
      if (this.abortedWith !== null) this.ctl.abort(this.abortedWith.reason);
    }
    return this.ctl;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Whether the signal has fired (without making one). */
  get aborted(): boolean {
    return this.abortedWith !== null;
  }

  /** Fires the signal with `reason` (the first reason wins, as with an AbortController). */
  abort(reason: unknown): void {
    if (this.abortedWith !== null) return;
    this.abortedWith = { reason };
    this.ctl?.abort(reason);
  }

  /** Fires the signal at the belief end (now, if it has passed). */
  armBelief(): void {
    if (this.beliefTimer !== null) this.deadlines.cancel(this.beliefTimer);
    this.beliefTimer = null;
    if (this.beliefEnd - this.clock.now() <= 0) this.endBelief();
    else this.beliefTimer = this.deadlines.add(this.beliefEnd, () => this.endBelief());
  }

  private endBelief(): void {
    this.abort(raftqError('LEASE_LOST', `lease belief of task ${this.leased.id} ended`));
  }

  /**
   * Whether the attempt's signal has fired, firing it first if the belief end has passed but its
   * timer has not run yet (a busy event loop): an ended belief stays ended.
   */
  over(): boolean {
    if (this.abortedWith === null && this.clock.now() >= this.beliefEnd) this.armBelief();
    return this.abortedWith !== null;
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
    this.extendTimer = this.deadlines.add(this.clock.now() + Math.max(0, everyMs), () => {
      if (this.settled) return;
      void extend().finally(() => {
        if (!this.settled) this.armExtend(everyMs, extend);
      });
    });
  }

  stopTimers(): void {
    if (this.beliefTimer !== null) this.deadlines.cancel(this.beliefTimer);
    if (this.extendTimer !== null) this.deadlines.cancel(this.extendTimer);
    this.beliefTimer = null;
    this.extendTimer = null;
  }
}
