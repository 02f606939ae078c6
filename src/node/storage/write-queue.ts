// The store's one serial write queue (group commit): whatever queued while a write was in flight goes
// out as the next single `batch(..., { sync: true })`, so vote and log writes never reorder (docs/faults.md
// P2–P4). After each durable batch `afterBatch` runs (the promise file) before any of its writes
// resolves. The next batch goes to LevelDB while the previous batch's `afterBatch` is still running
// (two files, two fsyncs in parallel), but the `afterBatch` calls run one at a time in batch order and
// each starts only after its own batch is durable: the promise file never gets ahead of LevelDB, and
// writes resolve in order (docs/decisions.md "The promise write overlaps the next batch"). A failed
// write is fatal (P12): every queued and later write is refused with the failure.
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
  /** Called once when a write fails. */
  onFailure?: (error: StoreFailedError) => void;
  onBatchWritten?: (info: { requests: number; ops: number; durationMs: number }) => void;
}

export class WriteQueue<T> {
  private readonly queue: WriteRequest<T>[] = [];
  private writing = false;
  /** The newest batch's `afterBatch` and resolution (each chains on the one before). */
  private finishing: Promise<void> = Promise.resolve();
  private failed: StoreFailedError | null = null;

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
        const started = performance.now();
        try {
          if (ops.length > 0) await this.kv.batch(ops, { sync: requests.some((r) => r.sync) });
        } catch (error) {
          this.failAll(requests, error);
          return;
        }
        const previous = this.finishing;
        this.finishing = this.finish(previous, requests, ops.length, started);
        // At most one batch's `afterBatch` overlaps the next batch's write.
        await previous;
      }
    } finally {
      if (!yielded) this.writing = false;
    }
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
