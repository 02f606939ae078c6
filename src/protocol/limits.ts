// Every table and batch has a bound (TigerStyle "put a limit on everything"). The node validates
// against the same limits before proposing; the state machine validates again.

import type { QueueSettings } from './commands.js';

export interface Limits {
  nameBytesMax: number;
  payloadBytesMax: number;
  headersMax: number;
  headerBytesMax: number;
  enqueueBatchMax: number;
  leaseBatchMax: number;
  ackBatchMax: number;
  checkpointBytesMax: number;
  resultBytesMax: number;
  errorBytesMax: number;
  /** Idempotency keys, group names, worker ids. */
  keyBytesMax: number;
  /** Attempt records kept per task (the newest). */
  historyMax: number;
  sessionsMax: number;
  /** Cached answers per session: requests in flight above the floor. */
  sessionOutstandingMax: number;
  sessionTimeoutMsDefault: number;
  sessionTimeoutMsMax: number;
  queuesMax: number;
  /** Non-terminal tasks in the whole state machine. */
  tasksMax: number;
  /** Due transitions run per entry before its commands; the rest waits for the next entry. */
  transitionsPerEntryMax: number;
  /** Lazy removals (retention, idempotency keys, sessions) per entry. */
  sweepPerEntryMax: number;
  leaseMsMax: number;
  delayMsMax: number;
  redriveMax: number;
  /** Commands in one Submit call (the SDK's coalesced batches). */
  submitItemsMax: number;
  /** Lazy expiries run in buckets of this size (≥ 1 s, docs/design.md §2). */
  sweepBucketMs: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  nameBytesMax: 128,
  payloadBytesMax: 1 << 20,
  headersMax: 32,
  headerBytesMax: 8192,
  enqueueBatchMax: 1000,
  leaseBatchMax: 1000,
  ackBatchMax: 1000,
  checkpointBytesMax: 64 * 1024,
  resultBytesMax: 64 * 1024,
  errorBytesMax: 4096,
  keyBytesMax: 256,
  historyMax: 10,
  sessionsMax: 100_000,
  sessionOutstandingMax: 1024,
  sessionTimeoutMsDefault: 60_000,
  sessionTimeoutMsMax: 3_600_000,
  queuesMax: 10_000,
  tasksMax: 20_000_000,
  transitionsPerEntryMax: 2048,
  sweepPerEntryMax: 2048,
  leaseMsMax: 24 * 3_600_000,
  delayMsMax: 400 * 24 * 3_600_000,
  redriveMax: 1000,
  submitItemsMax: 1024,
  sweepBucketMs: 1000,
});

export const DEFAULT_QUEUE_SETTINGS: Readonly<QueueSettings> = Object.freeze({
  leaseMs: 30_000,
  maxAttempts: 5,
  maxDeliveries: 5,
  backoff: Object.freeze({ type: 'exponential', delayMs: 1000, maxDelayMs: 300_000, jitterPct: 20 }),
  deadLetterQueue: null,
  maxLength: null,
  retentionMs: 24 * 3_600_000,
  taskTtlMs: null,
  idempotencyWindowMs: 24 * 3_600_000,
  concurrency: null,
  paused: false,
}) as Readonly<QueueSettings>;
