// A worker: keeps up to `concurrency` handlers running with long-poll leases (worker-poller.ts), runs
// the handler of each under its lease-belief signal of docs/design.md §2 (worker-belief.ts,
// worker-attempt.ts), acks results in coalesced batches (worker-acks.ts), and on close finishes or
// releases what it holds. This module holds the options, the slots and the shutdown.
//
// A slot is freed when its handler returns: the ack (or nack) then travels in the background, fenced
// by its token, while the slot leases the next task. At most `acksInFlightMax` attempts wait for their
// ack that way; past that, a returned handler keeps its slot until an ack answers.
import { EventEmitter, setMaxListeners } from 'node:events';
import type { Timer } from './clock.js';
import type { Client } from './client.js';
import type { Queue } from './queue.js';
import type { Lease } from './queue-leases.js';
import { Deadlines } from './deadlines.js';
import { AckBatcher } from './worker-acks.js';
import { AttemptRunner, type AttemptHost, type WorkerCounters } from './worker-attempt.js';
import { Attempt } from './worker-belief.js';
import { intOption, LeaseBounds } from './worker-bounds.js';
import { pollLeases, Pulse, type PollHost } from './worker-poller.js';
import type { Handler, WorkerOptions } from './worker-types.js';
import { batchAdapter, checkBatch, type BatchHandler } from './worker-batch.js';

export { CLOCK_RATE_BOUND, MARGIN_FLOOR_MS } from './worker-belief.js';
export type { Handler, TaskContext, WorkerOptions, WorkerTask } from './worker-types.js';
export type { BatchContext, BatchHandler, BatchOptions, BatchResult } from './worker-batch.js';
/** The options of a batch worker: `batch` is required. */
export type BatchWorkerOptions = WorkerOptions & { batch: { size: number; waitMs?: number } };

let workerCounter = 0;

export class Worker<T = unknown, R = unknown> extends EventEmitter implements AttemptHost, PollHost {
  readonly workerId: string;
  readonly concurrency: number;
  readonly holdMsMax: number;
  /** Lease, margin and extend interval, from the options and the election timeout (worker-bounds.ts). */
  private readonly bounds: LeaseBounds;
  readonly acksInFlightMax: number;
  readonly acks: AckBatcher;
  /** The queue's low-level consumer API (docs/sdk.md "Leasing by hand"): every lease, ack, nack, extend and release. */
  readonly api: Queue<unknown>;
  readonly slotPulse = new Pulse();
  readonly counters: WorkerCounters = { completed: 0, failed: 0, released: 0, leased: 0 };
  /**
   * Every attempt not yet settled, its ack in flight included. Keyed by attempt (task id and token): a
   * task granted again while its old attempt settles is a second entry.
   */
  private readonly inHand = new Map<string, Attempt>();
  /** The attempts holding a slot: leased, running, or returned while the acks in flight are at the cap. */
  private readonly slotHolders = new Set<Attempt>();
  /** Attempts whose slot was freed while their ack or nack is in flight (at most acksInFlightMax). */
  private detached = 0;
  /** Returned attempts over the cap, oldest first: each frees its slot when an ack answers. */
  private readonly overCap: Attempt[] = [];
  /** The background acks and nacks of returned handlers, until each attempt is over. */
  private readonly settling = new Set<Promise<void>>();
  private readonly pollAbort = new AbortController();
  /** The belief ends and extends of every attempt in hand, on one clock timer. */
  private readonly deadlines: Deadlines;
  private readonly runner: AttemptRunner<T, R>;
  private stopped = false;
  private closing: Promise<void> | null = null;
  private drainWaiters: Array<() => void> = [];
  private pollLoop: Promise<void> | null = null;

  constructor(
    readonly client: Client,
    readonly queue: string,
    handler: Handler<T, R>,
    options: WorkerOptions,
  ) {
    super();
    setMaxListeners(0, this.pollAbort.signal);
    const o = options;
    this.api = client.queue(queue);
    this.deadlines = new Deadlines(client.clock);
    const batch = o.batch === undefined ? null : checkBatch(o.batch, client.limits.leaseBatchMax);
    // A batch worker holds `concurrency` batches of up to batch.size tasks: that many slots.
    const batches = intOption(o.concurrency, 1, 'concurrency', 1, client.limits.leaseBatchMax);
    this.concurrency = batch === null ? batches : Math.min(client.limits.leaseBatchMax, batches * batch.size);
    this.bounds = LeaseBounds.of(o, client.limits.leaseMsMax, () => client.electionTimeoutMsMax);
    this.holdMsMax = this.bounds.holdMsMax;
    const ackDelayMs = intOption(o.ackDelayMs, 2, 'ackDelayMs', 0, 60_000);
    const ackBatchMax = intOption(o.ackBatchMax, 100, 'ackBatchMax', 1, client.limits.ackBatchMax);
    this.acksInFlightMax = intOption(o.acksInFlightMax, this.concurrency, 'acksInFlightMax', 0, 1_000_000);
    this.acks = new AckBatcher(this.api, client.clock, ackDelayMs, ackBatchMax);
    const run = batch === null ? handler : batchAdapter(handler as unknown as BatchHandler<T, R>, batch, client.clock);
    this.runner = new AttemptRunner(this, run, o.retryDelayMs);
    workerCounter += 1;
    this.workerId = o.workerId ?? `w-${workerCounter}-${Math.floor(client.clock.random() * 1e9).toString(36)}`;
  }

  /** Begins leasing (the Client calls this). */
  start(): void {
    this.pollLoop ??= pollLeases(this);
  }

  /**
   * The election timeout the lease bound is for (ms): the `electionTimeoutMsMax` option when given,
   * else the largest the nodes report in their status (1 s until one did).
   */
  get electionTimeoutMsMax(): number {
    return this.bounds.electionTimeoutMsMax;
  }

  /** The lease asked for: `leaseMs`, or longer if the election timeout reported needs it. */
  get leaseMs(): number {
    return this.bounds.current().leaseMs;
  }

  get marginMs(): number {
    return this.bounds.current().marginMs;
  }

  get extendEveryMs(): number {
    return this.bounds.current().extendEveryMs;
  }

  /** Tasks currently in hand: running, or returned with their ack or nack not yet answered. */
  /** @deprecated Renamed `marginMs`. */
  get margin(): number {
    return this.marginMs;
  }

  /** @deprecated Renamed `holdMsMax`. */
  get maxHoldMs(): number {
    return this.holdMsMax;
  }

  get active(): number {
    return this.inHand.size;
  }

  get stats(): { completed: number; failed: number; released: number; leased: number } {
    return { ...this.counters };
  }

  /**
   * Stops leasing, waits up to timeoutMs (default 10 s) for running handlers to finish and their
   * acks to go out, then aborts and releases whatever is still in hand.
   */
  close(options: { timeoutMs?: number } = {}): Promise<void> {
    this.closing ??= this.shutdown(options.timeoutMs ?? 10_000);
    return this.closing;
  }

  // ---- hosting the poller and the attempts ----

  get stopping(): boolean {
    return this.stopped;
  }

  get pollSignal(): AbortSignal {
    return this.pollAbort.signal;
  }

  emitError(err: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  freeSlots(): number {
    return this.concurrency - this.slotHolders.size;
  }

  /** A leased task: its `grantedBy` is first send + heldMs, the earliest the granting entry can exist. */
  take(lease: Lease<unknown>): void {
    this.counters.leased += 1;
    const leaseMs = lease.leaseMs > 0 ? Math.min(lease.leaseMs, this.leaseMs) : this.leaseMs;
    const a = new Attempt(lease, leaseMs, lease.grantedBy, this.marginMs, this.client.clock, this.deadlines);
    this.inHand.set(a.key, a);
    this.slotHolders.add(a);
    if (this.stopped) void this.runner.release(a);
    else this.runner.start(a);
  }

  /**
   * The handler returned and `settling` acks or nacks it: the slot is freed now if the acks in flight
   * are under the cap, else when an ack answers; the attempt is over when `settling` is.
   */
  detach(a: Attempt, settling: Promise<void>): void {
    if (this.detached < this.acksInFlightMax) {
      this.detached += 1;
      this.freeSlot(a);
    } else {
      this.overCap.push(a);
    }
    const over = settling.finally(() => {
      if (this.slotHolders.has(a)) {
        const i = this.overCap.indexOf(a);
        if (i >= 0) this.overCap.splice(i, 1);
      } else {
        this.detached -= 1;
        const next = this.overCap.shift();
        if (next !== undefined) {
          this.detached += 1;
          this.freeSlot(next);
        }
      }
      this.free(a);
      this.settling.delete(over);
    });
    this.settling.add(over);
  }

  /** The attempt is over: it leaves the hand and frees its slot if it still holds one. */
  free(a: Attempt): void {
    this.inHand.delete(a.key);
    this.freeSlot(a);
    if (this.inHand.size === 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const d of waiters) d();
    }
  }

  private freeSlot(a: Attempt): void {
    if (this.slotHolders.delete(a)) this.slotPulse.fire();
  }

  // ---- shutdown ----

  private async shutdown(timeoutMs: number): Promise<void> {
    this.stopped = true;
    this.pollAbort.abort();
    this.slotPulse.fire();
    if (this.inHand.size > 0) {
      const drained = new Promise<void>((resolve) => this.drainWaiters.push(resolve));
      let timer: Timer | null = null;
      const timedOut = new Promise<void>((resolve) => (timer = this.client.clock.setTimer(timeoutMs, resolve)));
      await Promise.race([drained, timedOut]);
      (timer as Timer | null)?.cancel();
    }
    this.acks.flush();
    await Promise.all([...this.inHand.values()].map((a) => this.runner.release(a)));
    await this.acks.drained();
    await Promise.all([...this.settling]);
    await this.pollLoop?.catch(() => undefined);
    this.emit('closed');
  }
}
