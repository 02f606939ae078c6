// The worker's attempt runner: for one leased attempt (a `queue.lease` Lease, payload decoded), runs the
// handler under the lease-belief signal, extends the lease meanwhile, and settles the attempt — ack
// (batched), nack, dead-letter, release or abandon. An ack or nack goes out in the background (the
// worker frees the slot at once, within its cap of acks in flight); the token fences it.
import type { Client } from './client.js';
import type { Queue } from './queue.js';
import type { ExtendOptions, Lease, NackOptions, ReleaseOptions } from './queue-leases.js';
import { CancelledError, LeaseLostError, NonRetryableError, RateLimitedError, raftqError } from './errors.js';
import { traceAttempt } from './tracing.js';
import { readDependencies, type DependencyResult } from './flows.js';
import type { AckBatcher, AckEntry } from './worker-acks.js';
import type { Attempt } from './worker-belief.js';
import type { Handler, TaskContext, WorkerOptions, WorkerTask } from './worker-types.js';

export interface WorkerCounters {
  completed: number;
  failed: number;
  released: number;
  leased: number;
}

/** What the runner needs of its worker. */
export interface AttemptHost {
  readonly client: Client;
  readonly queue: string;
  /** The queue's low-level consumer API: every ack, nack, extend and release goes through it. */
  readonly api: Queue<unknown>;
  readonly extendEveryMs: number;
  readonly acks: AckBatcher;
  readonly counters: WorkerCounters;
  emitError(e: unknown): void;
  emit(event: 'completed' | 'failed', task: unknown, detail: unknown): void;
  /** The attempt is over: its slot is free. */
  free(a: Attempt): void;
  /** The handler returned and `settling` acks or nacks it: the slot may go to the next task now. */
  detach(a: Attempt, settling: Promise<void>): void;
}

type End =
  { type: 'ack'; result: unknown } | { type: 'nack'; dead: boolean; error: string; delayMs?: number | undefined };

export class AttemptRunner<T, R> {
  constructor(
    private readonly host: AttemptHost,
    private readonly handler: Handler<T, R>,
    private readonly retryDelayMs: WorkerOptions['retryDelayMs'],
  ) {}

  /** Arms the belief and extend timers and runs the handler. */
  start(a: Attempt): void {
    a.armBelief();
    a.armExtend(this.host.extendEveryMs, () => this.extend(a));
    void this.run(a);
  }

  async extend(a: Attempt, extra: { progress?: number; checkpoint?: unknown } = {}): Promise<void> {
    const explicit = extra.progress !== undefined || extra.checkpoint !== undefined;
    // An explicit extend (progress, checkpoint) of a cancelled task says so: the handler should stop.
    if (a.cancelled && explicit) throw a.signal.reason;
    if (a.settled || a.lost || a.cancelled || (a.extending && !explicit)) return;
    a.extending = true;
    const client = this.host.client;
    try {
      const o: ExtendOptions = { leaseMs: a.leaseMs };
      if (extra.progress !== undefined) o.progress = extra.progress;
      if (extra.checkpoint !== undefined) o.checkpoint = extra.checkpoint;
      const { sentAt } = await this.host.api.extend(a.leased.id, a.leased.token, o, {
        timeoutMs: Math.max(1, Math.min(this.host.extendEveryMs, a.beliefEnd - client.clock.now())),
      });
      a.extended(sentAt);
    } catch (e) {
      if (e instanceof LeaseLostError) {
        a.lost = true;
        a.abort(e);
      }
      // The task's cancel was requested: the signal fires with the CancelledError (reason
      // `cancelled`); whatever the handler then does, its ack or nack ends the task cancelled.
      if (e instanceof CancelledError) {
        a.cancelled = true;
        a.abort(e);
      }
      if (explicit) throw e;
      if (!(e instanceof LeaseLostError) && !(e instanceof CancelledError)) this.host.emitError(e);
    } finally {
      a.extending = false;
    }
  }

  private async run(a: Attempt): Promise<void> {
    const prepared = this.prepare(a);
    if (prepared === null) return;
    const { task, checkpoint } = prepared;
    if (a.over()) {
      // Granted past its belief end (a slow or retried lease), or the belief ended during the fetch:
      // a handler started now would begin with a fired signal and could never be sure of its lease.
      await this.abandon(a);
      return;
    }
    a.task = task as WorkerTask<unknown>;
    // The signal is made when the handler first reads it (worker-belief.ts).
    const ctx: TaskContext = {
      get signal() {
        return a.signal;
      },
      token: a.leased.token,
      checkpoint,
      extend: (o) => this.extend(a, o ?? {}),
    };
    let result: R;
    try {
      result = await traceAttempt(task, ctx.token, () => this.handler(task, ctx));
    } catch (e) {
      // A 429 downstream: back without counting an attempt; the broker holds the task's limit key back.
      if (e instanceof RateLimitedError) return this.release(a, Math.max(1, Math.ceil(e.retryAfterMs)));
      const dead = e instanceof NonRetryableError;
      const msg = (e instanceof Error ? e.message : String(e)) || 'handler failed';
      const delayMs = dead ? undefined : this.retryDelayMs?.(task.attempts + 1, e);
      this.settle(a, { type: 'nack', dead, error: msg, delayMs }, e);
      return;
    }
    this.settle(a, { type: 'ack', result }, null);
  }

  /**
   * The task as the handler gets it, or null when the attempt is settled instead (released or
   * dead-lettered in the background). Synchronous: no promise and turn per task before the handler.
   */
  private prepare(a: Attempt): { task: WorkerTask<T>; checkpoint: unknown } | null {
    const l = a.leased;
    // A lease answered from the session cache carries no payload: `lease` read it by id, stopping at
    // the belief end (past it the task may already be another worker's).
    if (l.payloadReadError !== undefined) {
      // If the read failed for another reason (a timeout, a failover), the task is healthy: give it
      // back without counting an attempt.
      if (a.aborted) void this.abandon(a);
      else {
        this.host.emitError(l.payloadReadError);
        void this.release(a);
      }
      return null;
    }
    if (l.payloadError !== undefined) {
      // A payload nobody can decode would fail on every attempt: dead-letter it at once.
      const why = `undecodable payload: ${l.payloadError}`;
      this.settle(a, { type: 'nack', dead: true, error: why }, new NonRetryableError(why));
      return null;
    }
    return {
      task: new LeasedWorkerTask<T>(l as Lease<T>, this.host.queue, this.host.client),
      checkpoint: l.checkpoint,
    };
  }

  /**
   * Acks or nacks in the background (unless the lease is known lost or the task was released): the
   * handler has returned, so nothing more runs under this lease and its slot can take the next task.
   */
  private settle(a: Attempt, end: End, failure: unknown): void {
    if (a.settled) return;
    // Settled from here on: an extend still in flight must not restart the extend timer.
    a.settled = true;
    a.stopTimers();
    if (a.lost) {
      this.host.emitError(raftqError('LEASE_LOST', `task ${a.leased.id}: lease lost while the handler ran`));
      this.host.free(a);
      return;
    }
    this.host.detach(a, end.type === 'ack' ? this.ack(a, end.result) : this.fail(a, end, failure));
  }

  /** The ack of a returned handler, its outcome reported; never rejects. Not async: one frame less per task. */
  private ack(a: Attempt, result: unknown): Promise<void> {
    let sent: Promise<void>;
    try {
      sent = this.complete(a, result);
    } catch (e) {
      // The result could not be encoded (the codec threw).
      this.host.emitError(e);
      return Promise.resolve();
    }
    return sent.then(undefined, (e: unknown) => this.host.emitError(e));
  }

  /** The nack of a failed handler, its outcome reported; never rejects. */
  private async fail(a: Attempt, end: End & { type: 'nack' }, failure: unknown): Promise<void> {
    try {
      await this.nack(a, end);
      this.host.counters.failed += 1;
      this.host.emit('failed', a.task ?? { id: a.leased.id, queue: this.host.queue }, failure);
    } catch (e) {
      this.host.emitError(e);
    }
  }

  /** The handler's result, acked (batched) — or nacked when it is too large to store. Not async: one frame less per task. */
  private complete(a: Attempt, result: unknown): Promise<void> {
    const client = this.host.client;
    const item: AckEntry = { id: a.leased.id, token: a.leased.token };
    if (result !== undefined) item.resultBytes = client.codec.encode(result);
    if (item.resultBytes !== undefined && item.resultBytes.byteLength > client.limits.resultBytesMax) {
      return this.tooLarge(a, item.resultBytes.byteLength);
    }
    return this.host.acks.add(item).then(() => {
      this.host.counters.completed += 1;
      this.host.emit('completed', a.task, result);
    });
  }

  private async tooLarge(a: Attempt, bytes: number): Promise<void> {
    const why = `result of ${bytes} bytes exceeds ${this.host.client.limits.resultBytesMax}`;
    await this.nack(a, { dead: false, error: why });
    this.host.counters.failed += 1;
    this.host.emit('failed', a.task, new Error(why));
  }

  private async nack(a: Attempt, end: { dead: boolean; error: string; delayMs?: number | undefined }): Promise<void> {
    const o: NackOptions = { error: truncate(end.error, this.host.client.limits.errorBytesMax) };
    if (end.dead) o.deadLetter = true;
    else if (end.delayMs !== undefined) o.delayMs = Math.max(0, Math.floor(end.delayMs));
    await this.host.api.nack(a.leased.id, a.leased.token, o);
  }

  /**
   * The signal fired before the handler could start (belief over, lease lost, or closing): the
   * handler never runs, the user hears why, and a lease not known lost is given back (the token
   * fences the release if the lease has meanwhile passed to another worker).
   */
  private async abandon(a: Attempt): Promise<void> {
    if (a.settled) return;
    const why = a.lost ? 'lease lost' : 'lease belief ended';
    this.host.emitError(raftqError('LEASE_LOST', `task ${a.leased.id}: ${why} before its handler could start`));
    if (!a.lost) {
      await this.release(a);
      return;
    }
    a.settled = true;
    a.stopTimers();
    this.host.free(a);
  }

  /** Gives the lease back (closing, a task that cannot start, or rate limited: `holdMs`), then frees the slot. */
  async release(a: Attempt, holdMs?: number): Promise<void> {
    if (a.settled) return;
    a.settled = true;
    a.stopTimers();
    a.abort(raftqError('UNAVAILABLE', 'worker is closing'));
    try {
      const o: ReleaseOptions = { timeoutMs: 5_000 };
      if (holdMs !== undefined) o.holdKeyMs = holdMs;
      await this.host.api.release(a.leased.id, a.leased.token, o);
      this.host.counters.released += 1;
    } catch (e) {
      this.host.emitError(e);
    } finally {
      this.host.free(a);
    }
  }
}

/**
 * A leased task as its handler gets it: the lease's fields as own enumerable properties, and
 * `dependencies()` on the prototype (not an own property defined per task: that was a visible share
 * of a worker's CPU). The client is a private field: not enumerable, not in a spread or JSON. Its data
 * fields are WorkerTask's, declared by the interface below (so none is an own property until set).
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- the fields, without class field definitions
interface LeasedWorkerTask<T> extends Omit<WorkerTask<T>, 'dependencies'> {}
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- see the interface above
class LeasedWorkerTask<T> {
  readonly #client: Client;

  constructor(l: Lease<T>, queue: string, client: Client) {
    this.id = l.id;
    this.queue = l.queue || queue;
    this.payload = l.payload;
    this.headers = l.headers;
    this.priority = l.priority;
    this.attempts = l.attempts;
    this.deliveries = l.deliveries;
    this.leases = l.leases;
    if (l.group !== undefined) this.group = l.group;
    if (l.key !== undefined) this.key = l.key;
    if (l.cost !== undefined) this.cost = l.cost;
    this.#client = client;
  }

  dependencies(): Promise<DependencyResult[]> {
    return readDependencies(this.#client, this.id);
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
