// Batch handlers (issue 13): `client.worker(queue, async (tasks) => results, { batch: { size, waitMs } })`.
// A batch is made of ordinary attempts: the worker leases up to `size` tasks per batch, each task's
// attempt (lease belief, extends, ack / nack / release, fencing) runs exactly as for a one-task
// handler, and this adapter gathers the attempts into one call of the batch handler and hands each
// attempt its own result. So every task is acked or nacked on its own: an Error in the results fails
// just that task (NonRetryableError dead-letters it, RateLimitedError releases it and holds its key),
// a throw fails them all.
import type { Clock, Timer } from './clock.js';
import { raftqError } from './errors.js';
import type { Handler, TaskContext, WorkerTask } from './worker-types.js';

export interface BatchOptions {
  /** Tasks per batch at most (1..1000). */
  size: number;
  /** How long a batch waits to fill up after its first task arrives (ms, default 0: what arrived together). */
  waitMs?: number;
}

export interface BatchContext {
  /** Fires when the first of the batch's task signals fires (its lease is in doubt, or shutdown). */
  signal: AbortSignal;
  /** Each task's own context (token, checkpoint, extend), in the order of the tasks. */
  contexts: TaskContext[];
}

/** One result per task, in order: a value acks it, an Error fails it. Nothing (undefined) acks them all. */
export type BatchResult<R> = ReadonlyArray<R | Error> | undefined | void;

export type BatchHandler<T, R> = (
  tasks: WorkerTask<T>[],
  ctx: BatchContext,
) => Promise<BatchResult<R>> | BatchResult<R>;

interface Pending<T, R> {
  task: WorkerTask<T>;
  ctx: TaskContext;
  resolve(r: R): void;
  reject(e: unknown): void;
}

/** Checks the batch option: size in [1, max], waitMs ≥ 0. */
export function checkBatch(b: unknown, max: number): Required<BatchOptions> {
  const o = (typeof b === 'object' && b !== null ? b : {}) as Record<string, unknown>;
  const size = o['size'];
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1 || size > max)
    throw raftqError('INVALID_ARGUMENT', `batch.size: must be an integer in [1, ${max}]`, { field: 'batch.size' });
  const waitMs = o['waitMs'] ?? 0;
  if (typeof waitMs !== 'number' || !Number.isSafeInteger(waitMs) || waitMs < 0 || waitMs > 3_600_000)
    throw raftqError('INVALID_ARGUMENT', 'batch.waitMs: must be an integer in [0, 3600000]', { field: 'batch.waitMs' });
  for (const k of Object.keys(o)) {
    if (k !== 'size' && k !== 'waitMs')
      throw raftqError('INVALID_ARGUMENT', `batch.${k}: unknown batch option (size, waitMs)`, { field: `batch.${k}` });
  }
  return { size, waitMs };
}

/** A one-task handler that gathers tasks into batches of the batch handler. */
export function batchAdapter<T, R>(
  handler: BatchHandler<T, R>,
  batch: Required<BatchOptions>,
  clock: Clock,
): Handler<T, R> {
  let pending: Pending<T, R>[] = [];
  let timer: Timer | null = null;
  const flush = (): void => {
    timer?.cancel();
    timer = null;
    const run = pending;
    pending = [];
    if (run.length > 0) void runBatch(handler, run);
  };
  return (task, ctx) =>
    new Promise<R>((resolve, reject) => {
      pending.push({ task, ctx, resolve, reject });
      if (pending.length >= batch.size) flush();
      // Tasks of one lease answer start in the same turn: the batch takes them all before it runs.
      else timer ??= clock.setTimer(batch.waitMs, flush);
    });
}

async function runBatch<T, R>(handler: BatchHandler<T, R>, run: Pending<T, R>[]): Promise<void> {
  const contexts = run.map((p) => p.ctx);
  const ctx: BatchContext = { signal: AbortSignal.any(contexts.map((c) => c.signal)), contexts };
  let results: BatchResult<R>;
  try {
    results = await handler(
      run.map((p) => p.task),
      ctx,
    );
  } catch (e) {
    for (const p of run) p.reject(e);
    return;
  }
  if (results === undefined) {
    for (const p of run) p.resolve(undefined as R);
    return;
  }
  if (!Array.isArray(results) || results.length !== run.length) {
    const n = Array.isArray(results) ? results.length : typeof results;
    const e = new Error(`batch handler returned ${n} results for ${run.length} tasks`);
    for (const p of run) p.reject(e);
    return;
  }
  run.forEach((p, i) => {
    const r = (results as ReadonlyArray<R | Error>)[i];
    if (r instanceof Error) p.reject(r);
    else p.resolve(r as R);
  });
}
