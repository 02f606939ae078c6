// The state machine's vocabulary (docs/design.md §3): the entry envelope, every command, every answer,
// and the reads. Plain data, msgpackr-encodable. Task ids and fencing tokens are decimal strings on
// the wire (docs/design.md §1.3); both are below 2^53.

import type { LogIndex, TaskId } from './ids.js';
import type { ErrorDetail } from './errors.js';
import type { ScheduleCommand, ScheduleQuery } from './schedules.js';
import type { StoryStep } from './story.js';
import type { TokenCommand } from './tokens.js';
import type { SharedLimitCommand, SharedLimitQuery } from './shared-limits.js';

export const ENVELOPE_VERSION = 1;

/** One client command inside an entry. Sessionless commands have `session` null. */
export interface SessionCommand {
  /** Session id (from `openSession`), or null for a sessionless command. */
  session: string | null;
  /** Per-session sequence number, ≥ 1; 0 when sessionless. */
  seq: number;
  /** The lowest sequence number the client still awaits (docs/design.md §1.5); answers below it are dropped. */
  floor?: number;
  cmd: Command;
}

/** What a Raft Normal entry carries: stamps set by the leader when it created the entry (docs/design.md §2). */
export interface Envelope {
  v: number;
  /** Lease clock: monotonic, every duration is measured on it. */
  mono: number;
  /** Calendar clock: only absolute `runAt` instants and human timestamps. */
  wall: number;
  cmds: SessionCommand[];
}

export type BackoffType = 'fixed' | 'exponential';

export interface Backoff {
  type: BackoffType;
  delayMs: number;
  /** Cap for exponential backoff. */
  maxDelayMs: number;
  /** Deterministic jitter: up to this percentage of the delay is subtracted, derived from (task id, attempt). */
  jitterPct: number;
}

export interface QueueSettings {
  leaseMs: number;
  /** Handler failures (nacks) before the task is dead-lettered. */
  maxAttempts: number;
  /** Lease expiries (presumed worker deaths) before the task is dead-lettered. */
  maxDeliveries: number;
  backoff: Backoff;
  /** Target queue for dead letters; null: tasks just end `dead` here. */
  deadLetterQueue: string | null;
  /** Non-terminal tasks the queue holds at most; null: unbounded (the global limit still applies). */
  maxLength: number | null;
  /** How long terminal tasks stay readable (mono ms) before retention removes them. */
  retentionMs: number;
  /** Never-started tasks older than this (mono ms) become `expired`; null: never. */
  taskTtlMs: number | null;
  /** Window in which an idempotency key deduplicates (mono ms, from the first enqueue). */
  idempotencyWindowMs: number;
  /** Leased tasks at most at once; null: unbounded. */
  concurrency: number | null;
  paused: boolean;
  /** Queue-wide rate in cost units (token bucket on mono); absent or null: none. */
  rate?: RateLimit | null;
  /** Limits every limit key gets unless `keys` overrides them (tasks without a key are exempt). */
  keyLimits?: KeyLimits;
  /** Per-key overrides of `keyLimits`, by key. */
  keys?: Record<string, KeyLimits>;
  /** Tasks waiting or delayed at most; null or absent: unbounded (maxLength still applies). */
  maxWaiting?: number | null;
  /** At maxWaiting (queue or key): refuse the enqueue (default) or dead-letter the oldest waiting task. */
  overflow?: 'refuse' | 'dropOldest';
  /** The shared limit this queue's tasks also count against (shared-limits.ts); absent or null: none. */
  sharedLimit?: string | null;
}

/** A token bucket: `limit` cost units per `intervalMs` of mono time, holding at most `burst` (default `limit`). */
export interface RateLimit {
  limit: number;
  intervalMs: number;
  burst?: number;
}

/** Limits of one limit key. Concurrency is in cost units leased at once; weight is its fair share. */
export interface KeyLimits {
  concurrency?: number | null;
  rate?: RateLimit | null;
  /** Fair-scheduling weight, 1..1000 (default 1). */
  weight?: number;
  /** Tasks of the key waiting or delayed at most (the queue's `overflow` policy applies). */
  maxWaiting?: number | null;
}

/**
 * A partial settings object; `backoff` is itself partial and merged field by field; `keys` is merged
 * key by key (a key set to null loses its override).
 */
export type QueueSettingsPatch = Omit<Partial<QueueSettings>, 'backoff' | 'keys'> & {
  backoff?: Partial<Backoff>;
  keys?: Record<string, KeyLimits | null>;
};

export interface TaskSpec {
  payload: Uint8Array;
  headers?: Record<string, string>;
  /** Higher goes first; integer. */
  priority?: number;
  /** Relative delay on the mono clock. Exclusive with runAt. */
  delayMs?: number;
  /** Absolute calendar instant (wall ms). Exclusive with delayMs. */
  runAt?: number;
  idempotencyKey?: string;
  /** Strict FIFO group within the queue. */
  group?: string;
  /** Never-started tasks expire after this (overrides the queue's taskTtlMs). */
  ttlMs?: number;
  maxAttempts?: number;
  maxDeliveries?: number;
  leaseMs?: number;
  /** Limit key (a tenant, an API host): per-key limits and fair scheduling between keys. */
  key?: string;
  /** Units this task counts against concurrency and rate limits (default 1). */
  cost?: number;
  /** A deduplication mode for this enqueue (exclusive with idempotencyKey). */
  dedup?: DedupSpec;
  /**
   * A custom task id ('invoice-42'), unique in the queue while its task is retained: a second enqueue
   * with it returns the first task. Exclusive with idempotencyKey and dedup.
   */
  id?: string;
  /** This task's retry backoff, field by field over the queue's; a nack's delayMs overrides both. */
  backoff?: Partial<Backoff>;
  /** Tasks that must complete first (docs/workflows.md): it waits in `waiting-children` till then. */
  dependsOn?: DependencySpec[];
}

/** A dependency edge as enqueued: an existing task's id and what its failure does (default `fail`). */
export interface DependencySpec {
  id: string;
  policy?: DependencyPolicy;
}

/** A task of a flow (docs/workflows.md) and the children it waits for; `policy`: its edge to its parent. */
export interface FlowNodeSpec {
  queue: string;
  task: TaskSpec;
  policy?: DependencyPolicy;
  children?: FlowNodeSpec[];
}

/** A binding's header condition: the header equals `equals`, or starts with `prefix` (exactly one). */
export interface HeaderFilter {
  header: string;
  equals?: string;
  prefix?: string;
}

/**
 * Deduplication by `key` within the queue: `active` — a second enqueue returns the first task while
 * it is not terminal (at most `windowMs`); `throttle` — at most one task per key per `windowMs`;
 * `debounce` — a second enqueue within `windowMs` of the last replaces the waiting task's payload and
 * its delay / runAt (keep-last); if that task is already running, a new task is kept as the next.
 * `windowMs` defaults to the queue's idempotencyWindowMs.
 */
export interface DedupSpec {
  key: string;
  mode: 'active' | 'throttle' | 'debounce';
  windowMs?: number;
}

export interface AckItem {
  id: string;
  token: string;
  result?: Uint8Array;
  /** The lease's holder secret (docs/security.md): required when the grant carried one. */
  secret?: string;
}

export type Command =
  | { type: 'openSession'; timeoutMs?: number }
  | { type: 'keepAlive' }
  | { type: 'closeSession' }
  | { type: 'advanceTime' }
  | { type: 'createQueue'; queue: string; settings?: QueueSettingsPatch }
  | { type: 'configureQueue'; queue: string; settings: QueueSettingsPatch }
  | { type: 'pauseQueue'; queue: string }
  | { type: 'resumeQueue'; queue: string }
  | { type: 'purgeQueue'; queue: string }
  | { type: 'deleteQueue'; queue: string; force?: boolean }
  | { type: 'enqueue'; queue: string; tasks: TaskSpec[] }
  | {
      type: 'lease';
      queue: string;
      workerId: string;
      max: number;
      leaseMs?: number;
      /** Holder secret drawn by the node (never by the client), kept with each granted task (lease-secret.ts). */
      secret?: string;
    }
  | {
      type: 'extend';
      id: string;
      token: string;
      /** The lease's holder secret; required when the grant carried one. */
      secret?: string;
      leaseMs?: number;
      /** Free-form progress (0..100 or a counter), shown by reads. */
      progress?: number;
      /** Small state the next attempt receives; size-capped. */
      checkpoint?: Uint8Array;
    }
  | { type: 'ack'; items: AckItem[] }
  | {
      type: 'nack';
      id: string;
      token: string;
      secret?: string;
      error?: string;
      /** Retry after this delay (0: now) instead of the queue's backoff. */
      delayMs?: number;
      /** Dead-letter now, whatever the attempts left. */
      dead?: boolean;
    }
  | {
      type: 'release';
      id: string;
      token: string;
      secret?: string;
      /** The handler was rate limited: hold the task's limit key back this long (mono ms). */
      holdMs?: number;
    }
  | {
      type: 'cancel';
      id: string;
      /**
       * A leased task too: mark it cancel-requested (docs/workflows.md). Without it a leased task is
       * refused as before, so logs written before workflows apply unchanged.
       */
      running?: boolean;
    }
  | { type: 'promote'; id: string }
  | { type: 'update'; id: string; priority?: number; payload?: Uint8Array; runAt?: number; delayMs?: number }
  | {
      type: 'redrive';
      /** A dead-letter queue (its waiting dead letters go back) or a source queue (its `dead` tasks go back). */
      queue: string;
      ids?: string[];
      /** Target queue instead of each task's source queue. */
      toQueue?: string;
      max?: number;
    }
  | ScheduleCommand
  | SharedLimitCommand
  // Workflows and fan-out (docs/workflows.md).
  | { type: 'flow'; root: FlowNodeSpec }
  | { type: 'cancelFlow'; id: string }
  | { type: 'bindTopic'; topic: string; queue: string; filter?: HeaderFilter[] }
  | { type: 'unbindTopic'; topic: string; queue: string }
  | { type: 'publish'; topic: string; task: TaskSpec }
  // State machine versions (src/statemachine/version.ts): proposed by the admin port only.
  | { type: 'activateVersion'; version: number }
  // Replicated client tokens (tokens.ts, docs/security.md).
  | TokenCommand;

export type CommandType = Command['type'];
export type CommandOf<T extends CommandType> = Extract<Command, { type: T }>;

export type Ok<T = unknown> = { ok: true; value: T };
export type Err = { ok: false; error: ErrorDetail };
export type Answer<T = unknown> = Ok<T> | Err;

/** One answer per command of an entry, in order. */
export interface CommandAnswer {
  session: string | null;
  seq: number;
  answer: Answer;
}

export type TaskState =
  'waiting' | 'delayed' | 'leased' | 'completed' | 'dead' | 'cancelled' | 'expired' | 'waiting-children';
export const TASK_STATES: readonly TaskState[] = [
  'waiting',
  'delayed',
  'leased',
  'completed',
  'dead',
  'cancelled',
  'expired',
  'waiting-children',
];
export const TERMINAL_STATES: readonly TaskState[] = ['completed', 'dead', 'cancelled', 'expired'];

/** How an attempt (one lease) ended. */
export type AttemptEnd = 'acked' | 'nacked' | 'released' | 'lease_expired' | 'cancelled';

export interface AttemptRecord {
  token: string;
  workerId: string;
  /** mono / wall stamps of the granting entry. */
  leasedMono: number;
  leasedWall: number;
  /** null while the attempt is running. */
  end: AttemptEnd | null;
  endedMono: number | null;
  error: string | null;
  /**
   * The task's story (issue 15): the Raft term of the granting entry (whose index is the token), and
   * the log index and term of the entry that ended the attempt. Absent where not recorded.
   */
  leasedTerm?: number;
  endedIndex?: number;
  endedTerm?: number;
}

export interface EnqueueItemAnswer {
  /** The task kept: the new one, or the earlier one it was deduplicated to. */
  id: string;
  deduplicated: boolean;
  /** debounce: the earlier task's payload and delay were replaced by this enqueue's. */
  replaced?: boolean;
  /** throttle: refused within the window; `id` is the window's task. */
  throttled?: boolean;
}

export interface LeasedTask {
  id: string;
  queue: string;
  token: string;
  /** Omitted in answers cached for session retries (docs/design.md §1.5): read the task by id. */
  payload?: Uint8Array;
  headers: Record<string, string>;
  priority: number;
  /** Deadline on the mono clock. */
  deadlineMono: number;
  leaseMs: number;
  /** Handler failures so far, lease expiries so far, leases granted so far (this one included). */
  attempts: number;
  deliveries: number;
  leases: number;
  checkpoint?: Uint8Array;
  group?: string;
  /** Limit key and cost, when the task has them. */
  key?: string;
  cost?: number;
  /** The holder secret of this grant: only in the grantee's answer (never in reads or events). */
  secret?: string;
}

export interface NackAnswer {
  state: TaskState;
  /** When it becomes ready again (mono), for a delayed retry. */
  runAtMono?: number;
  deadLetterId?: string;
}

export interface TaskView {
  id: string;
  queue: string;
  state: TaskState;
  payload: Uint8Array;
  headers: Record<string, string>;
  priority: number;
  group?: string;
  idempotencyKey?: string;
  /** Limit key and cost (absent: none, 1). */
  key?: string;
  cost?: number;
  /** The custom id it was enqueued with, while it names this task. */
  customId?: string;
  attempts: number;
  deliveries: number;
  leases: number;
  maxAttempts: number;
  maxDeliveries: number;
  enqueuedMono: number;
  enqueuedWall: number;
  /** Delayed: when it becomes ready, on the clock named. */
  runAt?: { clock: 'mono' | 'wall'; at: number };
  lease?: { token: string; workerId: string; deadlineMono: number; expired: boolean };
  progress?: number;
  checkpoint?: Uint8Array;
  result?: Uint8Array;
  lastError?: string;
  /** Terminal: why (`purged`, `deleted`, `max_attempts`, ...), and when (mono). */
  reason?: string;
  endedMono?: number;
  history: AttemptRecord[];
  deadLetterOf?: { id: string; queue: string; reason: string; history: AttemptRecord[] };
  deadLetterId?: string;
  redrivenFrom?: string;
  /** Log index and term of the entry that created the task, and of the one that ended it (issue 15). */
  enqueuedIndex?: number;
  enqueuedTerm?: number;
  endedIndex?: number;
  endedTerm?: number;
  /** Leased, and its cancel requested: its attempt's end makes it `cancelled` (docs/workflows.md). */
  cancelRequested?: boolean;
  /** Its dependencies (docs/workflows.md): each one's edge policy and, once it ended, its end state. */
  dependsOn?: DependencyView[];
  /** The tasks that depend on it. */
  dependants?: string[];
  /** The root task of the flow it was created in. */
  flow?: string;
  /** Its story, every transition in log order (issue 15): reads of one task only, not list pages. */
  story?: StoryStep[];
}

/** What a dependency does to its dependant when it fails (cancelled, expired and dead count as failing). */
export type DependencyPolicy = 'fail' | 'ignore' | 'remove';

export interface DependencyView {
  id: string;
  policy: DependencyPolicy;
  /** The state the dependency ended in; absent while it has not. */
  ended?: TaskState;
  /** A failure dropped this edge (policy `remove`). */
  removed?: boolean;
}

export interface QueueStats {
  queue: string;
  counts: Record<TaskState, number>;
  /** Age (mono ms at asOf) of the oldest waiting task, or null. */
  oldestWaitingAgeMs: number | null;
  totals: {
    enqueued: number;
    completed: number;
    dead: number;
    cancelled: number;
    expired: number;
    failed: number;
    leaseExpired: number;
    removedByRetention: number;
  };
  settings: QueueSettings;
}

export type ReadQuery =
  | { type: 'task'; id: string }
  | { type: 'list'; queue: string; state: TaskState; cursor?: string; limit?: number }
  | { type: 'deadLetters'; queue: string; cursor?: string; limit?: number }
  | { type: 'stats'; queue: string }
  | { type: 'queues' }
  | { type: 'session'; session: string }
  | { type: 'keys'; queue: string; cursor?: string; limit?: number }
  | ScheduleQuery
  | SharedLimitQuery;

export interface AsOf {
  index: number;
  mono: number;
  wall: number;
}

export type ReadAnswer = { asOf: AsOf; answer: Answer };

/** Usage of one limit key (`keys` read); `key` '' stands for the tasks without a key. */
export interface KeyUsage {
  key: string;
  /** Tasks leased now and the cost units they hold. */
  leased: number;
  inUse: number;
  /** Tasks waiting or delayed. */
  waiting: number;
  weight: number;
  concurrency: number | null;
  /** Whole cost units in the bucket now (null: no rate limit). */
  tokens: number | null;
  /** Held back (rate limited by a handler) until this mono instant, or null. */
  heldUntilMono: number | null;
}

export interface KeyPage {
  items: KeyUsage[];
  nextCursor: string | null;
}

export interface ListPage {
  items: TaskView[];
  /** Opaque cursor for the next page, or null at the end. */
  nextCursor: string | null;
}

export type TaskEventType =
  | 'enqueued'
  | 'leased'
  | 'extended'
  | 'completed'
  | 'failed'
  | 'released'
  | 'lease_expired'
  | 'delayed'
  | 'ready'
  | 'dead'
  | 'cancelled'
  | 'expired'
  | 'updated'
  | 'removed';

export interface TaskEvent {
  type: TaskEventType;
  id: TaskId;
  queue: string;
  /** The entry whose application produced the event. */
  index: LogIndex;
  /** The state after the event. */
  state: TaskState;
  token?: string;
  reason?: string;
}
