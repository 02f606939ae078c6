// The store's one serial write queue (group commit): whatever queued while a write was in flight goes
// out as the next single `batch(..., { sync: true })`, so vote and log writes never reorder (docs/faults.md
// P2–P4). After each durable batch `afterBatch` runs (the promise file) before any of its writes
// resolves. The next batch goes to LevelDB while the previous batch's `afterBatch` is still running
// (two files, two fsyncs in parallel), but the `afterBatch` calls run one at a time in batch order and
// each starts only after its own batch is durable: the promise file never gets ahead of LevelDB, and
// writes resolve in order (docs/decisions.md "The promise write overlaps the next batch"). A small
// batch goes *beside* its promise instead (`besideBatch`): the promise record carries the batch, so
// both writes run at once, with no other promise write in flight, and the batch resolves when both
// are durable (docs/decisions.md "The promise record carries a small batch, written beside it"). A
// failed write is fatal (P12): every queued and later write is refused with the failure.
import { performance } from 'node:perf_hooks';
import { StoreFailedError } from './errors.js';
import type { KvOp, KvStore } from './kv.js';

export interface WriteRequest<T> {
  ops: KvOp[];
  /** false: no fsync of its own (a later synced write covers it: LevelDB's log is one sequential file). */
  sync: boolean;
  /** What the caller attached (the store: what a group has promised once this write is durable). */
  tag?: T;
  resolve: () => void;
  reject: (error: Error) => void;
}

export interface WriteQueueOptions<T> {
  /** Upper bound on operations merged into one batch (one request is never split). */
  writeBatchOpsMax: number;
  /** Batches written back to back before the loop yields to the event loop. */
  drainRoundsMax: number;
  /** Runs after each durable batch, before its writes resolve; a failure fails the store. */
  afterBatch(requests: readonly WriteRequest<T>[]): Promise<void>;
  /**
   * For a synced batch of at most `besideBytesMax` bytes (with the unsynced batches before it), with
   * no promise write in flight: the promise write that carries `carried` (those batches' operations and
   * its own, in order), started now, or null (nothing new to promise, or it does not fit: then
   * `afterBatch` runs after the batch as usual).
   */
  besideBatch?(requests: readonly WriteRequest<T>[], carried: readonly KvOp[]): Promise<void> | null;
  besideBytesMax?: number;
  /** A planted bug (tests only): a batch beside its promise carries only itself, not the unsynced before it. */
  plantBesideAfterUnsynced?: boolean;
  /** Called once when a write fails. */
  onFailure?: (error: StoreFailedError) => void;
  onBatchWritten?: (info: { requests: number; ops: number; durationMs: number }) => void;
}

/** Unsynced operations remembered for carrying; more, and no batch goes beside until a synced one. */
const UNSYNCED_OPS_MAX = 1024;

export class WriteQueue<T> {
  private readonly queue: WriteRequest<T>[] = [];
  private writing = false;
  /** The newest batch's `afterBatch` and resolution (each chains on the one before). */
  private finishing: Promise<void> = Promise.resolve();
  private failed: StoreFailedError | null = null;
  /**
   * The operations of the batches written without a sync since the last synced one (commit-only
   * hard states): a crash may take them with the next batch, so a batch beside its promise carries
   * them too, and LevelDB is then never more than the carried operations behind the promise.
   */
  private unsyncedOps: KvOp[] | null = []; // null: too many to carry, until the next synced batch

  constructor(
    private readonly kv: KvStore,
    private readonly o: WriteQueueOptions<T>,
  ) {}

  /** The write failure that stopped the queue, or null. */
  get failure(): StoreFailedError | null {
    return this.failed;
  }

  enqueue(ops: KvOp[], tag?: T, sync = true): Promise<void> {
    if (this.failed !== null) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.queue.push(tag === undefined ? { ops, sync, resolve, reject } : { ops, sync, tag, resolve, reject });
      if (!this.writing) {
        this.writing = true;
        void this.drain();
      }
    });
  }

  private async drain(): Promise<void> {
    let yielded = false;
    try {
      for (let round = 0; this.queue.length > 0 && this.failed === null; round++) {
        if (round === this.o.drainRoundsMax) {
          // A drain that never runs dry (steady load) still yields to the event loop now and then.
          yielded = true;
          setImmediate(() => void this.drain());
          return;
        }
        const requests = this.takeBatch();
        const ops = requests.length === 1 ? requests[0]!.ops : requests.flatMap((r) => r.ops);
        if (this.mayGoBeside(requests, ops)) {
          await this.finishing; // no promise write in flight; earlier writes resolved
          if (this.failed !== null) {
            for (const r of requests) r.reject(this.failed);
            return;
          }
          const carried = this.o.plantBesideAfterUnsynced === true ? ops : [...(this.unsyncedOps ?? []), ...ops];
          const beside = this.o.besideBatch?.(requests, carried) ?? null;
          if (beside !== null) {
            if (!(await this.writeBeside(requests, ops, beside))) return;
            continue;
          }
        }
        const started = performance.now();
        const sync = requests.some((r) => r.sync);
        try {
          if (ops.length > 0) await this.kv.batch(ops, { sync });
        } catch (error) {
          this.failAll(requests, error);
          return;
        }
        this.noteUnsynced(ops, sync);
        const previous = this.finishing;
        this.finishing = this.finish(previous, requests, ops.length, started);
        // At most one batch's `afterBatch` overlaps the next batch's write.
        await previous;
      }
    } finally {
      if (!yielded) this.writing = false;
    }
  }

  /** Remembers what a batch left unsynced (to carry beside the next), or forgets it once synced. */
  private noteUnsynced(ops: readonly KvOp[], sync: boolean): void {
    if (ops.length === 0) return; // nothing reached LevelDB
    if (sync) this.unsyncedOps = [];
    else if (this.unsyncedOps !== null && this.unsyncedOps.length + ops.length <= UNSYNCED_OPS_MAX)
      this.unsyncedOps.push(...ops);
    else this.unsyncedOps = null;
  }

  private mayGoBeside(requests: readonly WriteRequest<T>[], ops: readonly KvOp[]): boolean {
    if (this.o.besideBatch === undefined || ops.length === 0 || !requests.some((r) => r.sync)) return false;
    if (this.unsyncedOps === null) return false;
    const max = this.o.besideBytesMax ?? 0;
    const bytes = opBytes(this.unsyncedOps, max);
    return bytes <= max && bytes + opBytes(ops, max - bytes) <= max;
  }

  /** The batch and its promise at once; its writes resolve when both are durable. False: it failed. */
  private async writeBeside(requests: WriteRequest<T>[], ops: KvOp[], beside: Promise<void>): Promise<boolean> {
    const started = performance.now();
    try {
      await Promise.all([this.kv.batch(ops, { sync: true }), beside]);
    } catch (error) {
      this.failAll(requests, error);
      return false;
    }
    this.unsyncedOps = [];
    this.o.onBatchWritten?.({ requests: requests.length, ops: ops.length, durationMs: performance.now() - started });
    for (const r of requests) r.resolve();
    return true;
  }

  /** After `previous` finished: this batch's `afterBatch`, then its writes resolve. Never rejects. */
  private async finish(
    previous: Promise<void>,
    requests: WriteRequest<T>[],
    ops: number,
    started: number,
  ): Promise<void> {
    await previous;
    if (this.failed !== null) {
      for (const r of requests) r.reject(this.failed);
      return;
    }
    try {
      await this.o.afterBatch(requests);
    } catch (error) {
      this.failAll(requests, error);
      return;
    }
    if (ops > 0) this.o.onBatchWritten?.({ requests: requests.length, ops, durationMs: performance.now() - started });
    for (const r of requests) r.resolve();
  }

  private failAll(requests: readonly WriteRequest<T>[], error: unknown): void {
    const failure = this.fail(error);
    for (const r of [...requests, ...this.queue.splice(0)]) r.reject(failure);
  }

  private takeBatch(): WriteRequest<T>[] {
    let count = 0;
    let ops = 0;
    for (const r of this.queue) {
      if (count > 0 && ops + r.ops.length > this.o.writeBatchOpsMax) break;
      count++;
      ops += r.ops.length;
    }
    return this.queue.splice(0, count);
  }

  private fail(error: unknown): StoreFailedError {
    if (this.failed === null) {
      this.failed = error instanceof StoreFailedError ? error : new StoreFailedError(error);
      try {
        this.o.onFailure?.(this.failed);
      } catch {
        // The callback's own failure must not mask the storage failure.
      }
    }
    return this.failed;
  }
}

/** The bytes of `ops`' keys and values, counted until they pass `max`. */
function opBytes(ops: readonly KvOp[], max: number): number {
  let bytes = 0;
  for (const op of ops) {
    bytes += op.key.byteLength + (op.type === 'put' ? op.value.byteLength : 0);
    if (bytes > max) break;
  }
  return bytes;
}
