// A worker: keeps up to `concurrency` tasks in hand with long-poll leases, extends them while the
// handler runs, fires the handler's AbortSignal at the lease-belief deadline of DESIGN.md §2, acks
// results in coalesced batches, nacks failures, dead-letters what it cannot decode, and on close
// finishes or releases what it holds.
import { EventEmitter, setMaxListeners } from 'node:events';
import type { LeasedTask } from '../protocol/commands.js';
import { sleep, type Timer } from './clock.js';
import type { Client } from './client.js';
import { decodePayload, userHeaders } from './codec.js';
import { errorFromDetail, LeaseLostError, NonRetryableError, raftqError } from './errors.js';
import { READ_WIRE } from '../protocol/wire-reads.js';
import { asObject } from '../protocol/wire-values.js';
import type { AnswerOf } from '../protocol/wire.js';

/** ρmax of DESIGN.md §2: monotonic clocks agree in rate within 0.1 %. */
export const CLOCK_RATE_BOUND = 0.001;
export const MARGIN_FLOOR_MS = 500;

export interface WorkerOptions {
  /** Tasks in hand at once (default 1). */
  concurrency?: number;
  /** Lease length asked for (default 30 s). */
  leaseMs?: number;
  /** Safety margin before the lease end (default: the enforced minimum). */
  margin?: number;
  /** How long the leader may hold an empty lease request (long poll, default 20 s). */
  maxHoldMs?: number;
  /** The cluster's maximum election timeout, for the lease minimum (default 1 s). */
  electionTimeoutMaxMs?: number;
  /** Extend interval (default and maximum: (leaseMs − margin) / 3). */
  extendEveryMs?: number;
  workerId?: string;
  /** Acks are coalesced for up to this long (default 2 ms) or this many (default 100). */
  ackDelayMs?: number;
  ackBatchMax?: number;
  /** Delay before a failed task is retried; undefined: the queue's backoff. */
  retryDelayMs?: (attempts: number, error: unknown) => number | undefined;
}

export interface WorkerTask<T> {
  id: string;
  queue: string;
  payload: T;
  headers: Record<string, string>;
  priority: number;
  /** Handler failures before this attempt; lease expiries; leases including this one. */
  attempts: number;
  deliveries: number;
  leases: number;
  group?: string;
}

export interface TaskContext {
  /** Fires at the lease-belief deadline, on LEASE_LOST, or on shutdown: stop work then. */
  signal: AbortSignal;
  /** The fencing token: pass it to downstream systems. */
  token: string;
  /** The last checkpoint saved by an earlier attempt (decoded with the codec), if any. */
  checkpoint: unknown;
  /** Extends the lease now, optionally saving progress and a checkpoint for the next attempt. */
  extend(options?: { progress?: number; checkpoint?: unknown }): Promise<void>;
}

export type Handler<T, R> = (task: WorkerTask<T>, ctx: TaskContext) => Promise<R> | R;

interface InHand {
  leased: LeasedTask;
  task: WorkerTask<unknown> | null;
  leaseMs: number;
  beliefEnd: number;
  controller: AbortController;
  beliefTimer: Timer | null;
  extendTimer: Timer | null;
  extending: boolean;
  lost: boolean;
  /** Released on shutdown or finished: nothing more is sent for it. */
  settled: boolean;
}

interface PendingAck {
  item: { id: string; token: string; result?: Uint8Array };
  resolve: () => void;
  reject: (e: unknown) => void;
}

let workerCounter = 0;

export class Worker<T = unknown, R = unknown> extends EventEmitter {
  readonly workerId: string;
  readonly concurrency: number;
  readonly leaseMs: number;
  readonly margin: number;
  readonly maxHoldMs: number;
  readonly extendEveryMs: number;
  private readonly ackDelayMs: number;
  private readonly ackBatchMax: number;
  /** Keyed by attempt (task id and token): a task granted again while its old attempt settles is a second entry. */
  private readonly inHand = new Map<string, InHand>();
  private readonly pollAbort = new AbortController();
  private stopping = false;
  private closing: Promise<void> | null = null;
  private slotWaiter: (() => void) | null = null;
  private drainWaiters: Array<() => void> = [];
  private acks: PendingAck[] = [];
  private ackTimer: Timer | null = null;
  private readonly ackFlights = new Set<Promise<void>>();
  private pollLoop: Promise<void> | null = null;
  private counters = { completed: 0, failed: 0, released: 0, leased: 0 };

  constructor(
    private readonly client: Client,
    readonly queue: string,
    private readonly handler: Handler<T, R>,
    private readonly options: WorkerOptions,
  ) {
    super();
    setMaxListeners(0, this.pollAbort.signal);
    const o = options;
    this.concurrency = intOption(o.concurrency, 1, 'concurrency', 1, client.limits.leaseBatchMax);
    this.leaseMs = intOption(o.leaseMs, 30_000, 'leaseMs', 1, client.limits.leaseMsMax);
    this.maxHoldMs = intOption(o.maxHoldMs, 20_000, 'maxHoldMs', 0, 3_600_000);
    const electionMax = intOption(o.electionTimeoutMaxMs, 1_000, 'electionTimeoutMaxMs', 1, 3_600_000);
    const marginMin = Math.ceil(MARGIN_FLOOR_MS + 2 * CLOCK_RATE_BOUND * (this.leaseMs + this.maxHoldMs));
    this.margin = intOption(o.margin, marginMin, 'margin', 0, Number.MAX_SAFE_INTEGER);
    if (this.margin < marginMin) {
      throw raftqError('INVALID_ARGUMENT', `margin: must be at least ${marginMin} ms for leaseMs ${this.leaseMs}`, {
        field: 'margin',
      });
    }
    const leaseMin = this.margin + 3 * electionMax;
    if (this.leaseMs < leaseMin) {
      throw raftqError('INVALID_ARGUMENT', `leaseMs: must be at least ${leaseMin} ms (margin + 3 × election timeout)`, {
        field: 'leaseMs',
      });
    }
    const extendMax = Math.floor((this.leaseMs - this.margin) / 3);
    this.extendEveryMs = Math.min(
      intOption(o.extendEveryMs, extendMax, 'extendEveryMs', 1, Number.MAX_SAFE_INTEGER),
      extendMax,
    );
    this.ackDelayMs = intOption(o.ackDelayMs, 2, 'ackDelayMs', 0, 60_000);
    this.ackBatchMax = intOption(o.ackBatchMax, 100, 'ackBatchMax', 1, client.limits.ackBatchMax);
    workerCounter += 1;
    this.workerId = o.workerId ?? `w-${workerCounter}-${Math.floor(client.clock.random() * 1e9).toString(36)}`;
  }

  /** Begins leasing (the Client calls this). */
  start(): void {
    this.pollLoop ??= this.poll();
  }

  /** Tasks currently in hand. */
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

  private emitError(err: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  private async poll(): Promise<void> {
    let idleFailures = 0;
    while (!this.stopping) {
      const free = this.concurrency - this.inHand.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => (this.slotWaiter = resolve));
        continue;
      }
      let answer: AnswerOf<'lease'>;
      let firstSentAt: number;
      try {
        const r = await this.client.command(
          { type: 'lease', queue: this.queue, workerId: this.workerId, max: free, leaseMs: this.leaseMs },
          { holdMs: this.maxHoldMs, extra: { maxHoldMs: this.maxHoldMs }, signal: this.pollAbort.signal, lane: 'poll' },
        );
        answer = r.answer;
        firstSentAt = r.firstSentAt;
      } catch (e) {
        if (this.stopping) break;
        this.emitError(e);
        idleFailures += 1;
        await sleep(this.client.clock, Math.min(1_000, 20 * 2 ** Math.min(idleFailures, 6)), this.pollAbort.signal);
        continue;
      }
      const { heldMs, tasks } = answer;
      for (const t of tasks) this.take(t, firstSentAt + heldMs);
      if (tasks.length > 0) idleFailures = 0;
      else if (this.client.clock.now() - firstSentAt < Math.max(1, Math.min(this.maxHoldMs / 2, 100))) {
        // The node did not hold the request: back off instead of spinning.
        idleFailures += 1;
        await sleep(this.client.clock, Math.min(1_000, 20 * 2 ** Math.min(idleFailures, 6)), this.pollAbort.signal);
      }
    }
  }

  /** A leased task: `grantedBy` is first send + heldMs, the earliest the granting entry can exist. */
  private take(leased: LeasedTask, grantedBy: number): void {
    this.counters.leased += 1;
    const leaseMs = leased.leaseMs > 0 ? Math.min(leased.leaseMs, this.leaseMs) : this.leaseMs;
    const h: InHand = {
      leased,
      task: null,
      leaseMs,
      beliefEnd: grantedBy + leaseMs - this.margin,
      controller: new AbortController(),
      beliefTimer: null,
      extendTimer: null,
      extending: false,
      lost: false,
      settled: false,
    };
    this.inHand.set(attemptKey(leased), h);
    if (this.stopping) {
      void this.release(h);
      return;
    }
    this.armBelief(h);
    this.armExtend(h);
    void this.run(h);
  }

  private armBelief(h: InHand): void {
    h.beliefTimer?.cancel();
    const left = h.beliefEnd - this.client.clock.now();
    const fire = (): void => {
      h.controller.abort(raftqError('LEASE_LOST', `lease belief of task ${h.leased.id} ended`));
    };
    if (left <= 0) fire();
    else h.beliefTimer = this.client.clock.setTimer(left, fire);
  }

  /**
   * Whether the attempt's signal has fired, firing it first if the belief end has passed but its
   * timer has not run yet (a busy event loop): an ended belief stays ended.
   */
  private beliefOver(h: InHand): boolean {
    if (!h.controller.signal.aborted && this.client.clock.now() >= h.beliefEnd) this.armBelief(h);
    return h.controller.signal.aborted;
  }

  private armExtend(h: InHand): void {
    h.extendTimer = this.client.clock.setTimer(this.extendEveryMs, () => {
      if (h.settled) return;
      void this.extend(h).finally(() => {
        if (!h.settled) this.armExtend(h);
      });
    });
  }

  private async extend(h: InHand, extra: { progress?: number; checkpoint?: unknown } = {}): Promise<void> {
    if (h.settled || h.lost || (h.extending && extra.progress === undefined && extra.checkpoint === undefined)) return;
    h.extending = true;
    try {
      const cmd: {
        type: 'extend';
        id: string;
        token: string;
        leaseMs: number;
        progress?: number;
        checkpoint?: Uint8Array;
      } = {
        type: 'extend',
        id: h.leased.id,
        token: h.leased.token,
        leaseMs: h.leaseMs,
      };
      if (extra.progress !== undefined) cmd.progress = extra.progress;
      if (extra.checkpoint !== undefined) cmd.checkpoint = this.client.codec.encode(extra.checkpoint);
      const { firstSentAt } = await this.client.command(cmd, {
        idempotent: true,
        timeoutMs: Math.max(1, Math.min(this.extendEveryMs, h.beliefEnd - this.client.clock.now())),
      });
      const belief = firstSentAt + h.leaseMs - this.margin;
      // The signal fires at the belief end whether or not an extend is in flight (DESIGN.md §2).
      if (!this.beliefOver(h) && belief > h.beliefEnd) {
        h.beliefEnd = belief;
        this.armBelief(h);
      }
    } catch (e) {
      if (e instanceof LeaseLostError) {
        h.lost = true;
        h.controller.abort(e);
      }
      if (extra.progress !== undefined || extra.checkpoint !== undefined) throw e;
      if (!(e instanceof LeaseLostError)) this.emitError(e);
    } finally {
      h.extending = false;
    }
  }

  private async run(h: InHand): Promise<void> {
    let task: WorkerTask<T>;
    let checkpoint: unknown;
    let payloadBytes: Uint8Array;
    try {
      // A lease answered from the session cache carries no payload. The fetch stops with the signal:
      // past the belief end the task may already be another worker's.
      payloadBytes = h.leased.payload ?? (await this.fetchPayload(h.leased.id, h.controller.signal));
    } catch (e) {
      // If the fetch fails for another reason (a timeout, a failover), the task is healthy: give it
      // back without counting an attempt.
      if (h.controller.signal.aborted) await this.abandon(h);
      else {
        this.emitError(e);
        await this.release(h);
      }
      return;
    }
    try {
      const payload = decodePayload(payloadBytes, h.leased.headers, this.client.codec) as T;
      task = {
        id: h.leased.id,
        queue: h.leased.queue || this.queue,
        payload,
        headers: userHeaders(h.leased.headers),
        priority: h.leased.priority,
        attempts: h.leased.attempts,
        deliveries: h.leased.deliveries,
        leases: h.leased.leases,
      };
      if (h.leased.group !== undefined) task.group = h.leased.group;
      checkpoint = h.leased.checkpoint === undefined ? undefined : safeDecode(this.client.codec, h.leased.checkpoint);
    } catch (e) {
      // A payload nobody can decode would fail on every attempt: dead-letter it at once.
      const why = `undecodable payload: ${e instanceof Error ? e.message : String(e)}`;
      await this.settle(h, { type: 'nack', dead: true, error: why }, new NonRetryableError(why));
      return;
    }
    if (this.beliefOver(h)) {
      // Granted past its belief end (a slow or retried lease), or the belief ended during the fetch:
      // a handler started now would begin with a fired signal and could never be sure of its lease.
      await this.abandon(h);
      return;
    }
    h.task = task as WorkerTask<unknown>;
    const ctx: TaskContext = {
      signal: h.controller.signal,
      token: h.leased.token,
      checkpoint,
      extend: (o) => this.extend(h, o ?? {}),
    };
    let result: R;
    try {
      result = await this.handler(task, ctx);
    } catch (e) {
      const dead = e instanceof NonRetryableError;
      const msg = (e instanceof Error ? e.message : String(e)) || 'handler failed';
      const delayMs = dead ? undefined : this.options.retryDelayMs?.(task.attempts + 1, e);
      await this.settle(h, { type: 'nack', dead, error: msg, delayMs }, e);
      return;
    }
    await this.settle(h, { type: 'ack', result }, null);
  }

  private async fetchPayload(id: string, signal: AbortSignal): Promise<Uint8Array> {
    const reply = await this.client.query('GetTask', READ_WIRE.GetTask.request.encode({ type: 'task', id }), {
      signal,
    });
    const p = asObject(reply['task'])['payload'];
    if (!(p instanceof Uint8Array)) throw new Error('task has no payload');
    return p;
  }

  /** Acks or nacks (unless the lease is known lost or the task was released), then frees the slot. */
  private async settle(
    h: InHand,
    end:
      { type: 'ack'; result: unknown } | { type: 'nack'; dead: boolean; error: string; delayMs?: number | undefined },
    failure: unknown,
  ): Promise<void> {
    if (h.settled) return;
    // Settled from here on: an extend still in flight must not restart the extend timer.
    h.settled = true;
    this.stopTimers(h);
    try {
      if (h.lost) {
        this.emitError(raftqError('LEASE_LOST', `task ${h.leased.id}: lease lost while the handler ran`));
        return;
      }
      if (end.type === 'ack') {
        const item: PendingAck['item'] = { id: h.leased.id, token: h.leased.token };
        if (end.result !== undefined) item.result = this.client.codec.encode(end.result);
        if (item.result !== undefined && item.result.byteLength > this.client.limits.resultBytesMax) {
          const why = `result of ${item.result.byteLength} bytes exceeds ${this.client.limits.resultBytesMax}`;
          await this.nack(h, { dead: false, error: why });
          this.counters.failed += 1;
          this.emit('failed', h.task, new Error(why));
          return;
        }
        await this.queueAck(item);
        this.counters.completed += 1;
        this.emit('completed', h.task, end.result);
      } else {
        await this.nack(h, end);
        this.counters.failed += 1;
        this.emit('failed', h.task ?? { id: h.leased.id, queue: this.queue }, failure);
      }
    } catch (e) {
      this.emitError(e);
    } finally {
      this.free(h);
    }
  }

  private async nack(h: InHand, end: { dead: boolean; error: string; delayMs?: number | undefined }): Promise<void> {
    const cmd: { type: 'nack'; id: string; token: string; error: string; dead?: boolean; delayMs?: number } = {
      type: 'nack',
      id: h.leased.id,
      token: h.leased.token,
      error: truncate(end.error, this.client.limits.errorBytesMax),
    };
    if (end.dead) cmd.dead = true;
    else if (end.delayMs !== undefined) cmd.delayMs = Math.max(0, Math.floor(end.delayMs));
    await this.client.command(cmd, { idempotent: true });
  }

  private stopTimers(h: InHand): void {
    h.beliefTimer?.cancel();
    h.extendTimer?.cancel();
    h.beliefTimer = null;
    h.extendTimer = null;
  }

  private free(h: InHand): void {
    this.inHand.delete(attemptKey(h.leased));
    const w = this.slotWaiter;
    this.slotWaiter = null;
    w?.();
    if (this.inHand.size === 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const d of waiters) d();
    }
  }

  /**
   * The signal fired before the handler could start (belief over, lease lost, or closing): the
   * handler never runs, the user hears why, and a lease not known lost is given back (the token
   * fences the release if the lease has meanwhile passed to another worker).
   */
  private async abandon(h: InHand): Promise<void> {
    if (h.settled) return;
    const why = h.lost ? 'lease lost' : 'lease belief ended';
    this.emitError(raftqError('LEASE_LOST', `task ${h.leased.id}: ${why} before its handler could start`));
    if (!h.lost) {
      await this.release(h);
      return;
    }
    h.settled = true;
    this.stopTimers(h);
    this.free(h);
  }

  private async release(h: InHand): Promise<void> {
    if (h.settled) return;
    h.settled = true;
    this.stopTimers(h);
    h.controller.abort(raftqError('UNAVAILABLE', 'worker is closing'));
    try {
      await this.client.command(
        { type: 'release', id: h.leased.id, token: h.leased.token },
        { idempotent: true, timeoutMs: 5_000 },
      );
      this.counters.released += 1;
    } catch (e) {
      this.emitError(e);
    } finally {
      this.free(h);
    }
  }

  // ---- coalesced acks ----

  private queueAck(item: PendingAck['item']): Promise<void> {
    return new Promise((resolve, reject) => {
      this.acks.push({ item, resolve, reject });
      if (this.acks.length >= this.ackBatchMax) this.flushAcks();
      else this.ackTimer ??= this.client.clock.setTimer(this.ackDelayMs, () => this.flushAcks());
    });
  }

  private flushAcks(): void {
    this.ackTimer?.cancel();
    this.ackTimer = null;
    while (this.acks.length > 0) {
      const batch = this.acks.splice(0, this.ackBatchMax);
      const flight = this.sendAcks(batch).finally(() => this.ackFlights.delete(flight));
      this.ackFlights.add(flight);
    }
  }

  private async sendAcks(batch: PendingAck[]): Promise<void> {
    try {
      const { answer } = await this.client.command(
        { type: 'ack', items: batch.map((a) => a.item) },
        { idempotent: true },
      );
      const results = answer.results;
      batch.forEach((a, i) => {
        const r = results[i];
        if (results.length === batch.length && r !== undefined && !r.ok) a.reject(errorFromDetail(r.error));
        else a.resolve();
      });
    } catch (e) {
      for (const a of batch) a.reject(e);
    }
  }

  // ---- shutdown ----

  private async shutdown(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.pollAbort.abort();
    const w = this.slotWaiter;
    this.slotWaiter = null;
    w?.();
    if (this.inHand.size > 0) {
      const drained = new Promise<void>((resolve) => this.drainWaiters.push(resolve));
      let timer: Timer | null = null;
      const timedOut = new Promise<void>((resolve) => (timer = this.client.clock.setTimer(timeoutMs, resolve)));
      await Promise.race([drained, timedOut]);
      (timer as Timer | null)?.cancel();
    }
    this.flushAcks();
    await Promise.all([...this.inHand.values()].map((h) => this.release(h)));
    await Promise.all([...this.ackFlights]);
    await this.pollLoop?.catch(() => undefined);
    this.emit('closed');
  }
}

function intOption(v: number | undefined, dflt: number, field: string, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw raftqError('INVALID_ARGUMENT', `${field}: must be an integer in [${min}, ${max}]`, { field });
  }
  return v;
}

function safeDecode(codec: { decode(b: Uint8Array): unknown }, bytes: Uint8Array): unknown {
  try {
    return codec.decode(bytes);
  } catch {
    return bytes;
  }
}

function truncate(s: string, maxBytes: number): string {
  const b = Buffer.from(s, 'utf8');
  return b.byteLength <= maxBytes
    ? s
    : b
        .subarray(0, maxBytes)
        .toString('utf8')
        .replace(/\uFFFD$/, '');
}

function attemptKey(l: { id: string; token: string }): string {
  return `${l.id}/${l.token}`;
}
