// The worker's public types: its options, the task a handler gets, and the handler's context.
import type { DependencyResult } from './flows.js';

export interface WorkerOptions {
  /** Tasks in hand at once (default 1). */
  concurrency?: number;
  /** Lease length asked for (default 30 s). */
  leaseMs?: number;
  /** Safety margin before the lease end, ms (default: the enforced minimum). */
  marginMs?: number;
  /** How long the leader may hold an empty lease request (long poll, default 20 s). */
  holdMsMax?: number;
  /** The cluster's maximum election timeout, for the lease minimum (default 1 s). */
  electionTimeoutMsMax?: number;
  /** @deprecated Renamed `marginMs` (still accepted, with a DeprecationWarning). */
  margin?: number;
  /** @deprecated Renamed `holdMsMax` (still accepted, with a DeprecationWarning). */
  maxHoldMs?: number;
  /** @deprecated Renamed `electionTimeoutMsMax` (still accepted, with a DeprecationWarning). */
  electionTimeoutMaxMs?: number;
  /** Extend interval (default and maximum: (leaseMs − marginMs) / 3). */
  extendEveryMs?: number;
  workerId?: string;
  /** Acks are coalesced for up to this long (default 2 ms) or this many (default 100). */
  ackDelayMs?: number;
  ackBatchMax?: number;
  /**
   * Attempts whose handler returned and whose ack or nack is still in flight with its slot already
   * free for the next task (default: concurrency); past it, a returned handler keeps its slot.
   */
  acksInFlightMax?: number;
  /** Delay before a failed task is retried; undefined: the queue's backoff. */
  retryDelayMs?: (attempts: number, error: unknown) => number | undefined;
  /** Batch handler (worker-batch.ts): tasks per batch and how long a batch waits to fill; `concurrency` is batches at once. */
  batch?: { size: number; waitMs?: number };
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
  /** Limit key and cost, when the task has them. */
  key?: string;
  cost?: number;
  /**
   * Its dependencies (docs/workflows.md) with their states and decoded results, read now (fan-in);
   * [] without any. Not enumerable: the task object stays plain data.
   */
  dependencies(): Promise<DependencyResult[]>;
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
