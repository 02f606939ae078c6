// MachineState: the one record every module of the state machine works on. The replicated part is
// exactly what the snapshot holds; the rest is derived (digest sum) or local to this replica
// (events of the current entry, counters for metrics). No module keeps state of its own.

import type { Answer, ErrorDetail, HeaderFilter, Limits, TaskEvent, TaskEventType } from '../protocol/index.js';
import { DEFAULT_LIMITS, asLogIndex, asTaskId, formatId } from '../protocol/index.js';
import type { TokenRecord } from '../protocol/tokens.js';
import { DigestSum, Hasher } from './hash.js';
import { IndexedHeap, TimerHeap } from './heap.js';
import type { AdminJob, CachedAnswer, LimitKey, Queue, Session, Stamp, Task } from './records.js';
import { ScheduleBook } from './schedule-records.js';
import type { SnapshotCow } from './snapshot-cow.js';
import type { SharedLimit } from './shared-records.js';
import { S_LEASED, STATE_NAMES } from './records.js';
import { PayloadStore } from './payloads.js';

/**
 * Limits of the state machine itself (beside the protocol's Limits). Each is a count, `…Max`; when
 * reached, the command that would pass it gets RESOURCE_EXHAUSTED naming it.
 */
export interface MachineLimits extends Limits {
  /** Tasks held, pending and retained terminal ones together: a fresh enqueue beyond it is refused. */
  tasksRetainedMax: number;
  /** Idempotency keys held (live and tombstones), all queues: an enqueue adding a key beyond it is refused. */
  idempotencyKeysMax: number;
  /** Tasks a purge / delete / pause / resume walks per entry; the rest continues at the next entries. */
  adminTasksPerEntryMax: number;
}

export const DEFAULT_MACHINE_LIMITS: Readonly<MachineLimits> = Object.freeze({
  ...DEFAULT_LIMITS,
  tasksRetainedMax: 2 * DEFAULT_LIMITS.tasksMax,
  idempotencyKeysMax: DEFAULT_LIMITS.tasksMax,
  adminTasksPerEntryMax: 10_000,
});

/** The lease and mono delay heaps order by (dueMono, id). */
export function monoLess(a: Task, b: Task): boolean {
  return a.dueMono !== b.dueMono ? a.dueMono < b.dueMono : a.id < b.id;
}

/** The wall delay heap orders by (dueWall, id). */
export function wallLess(a: Task, b: Task): boolean {
  return a.dueWall !== b.dueWall ? a.dueWall < b.dueWall : a.id < b.id;
}

/** Limit keys and queue limiters waiting for tokens or a hold order by (wakeAt, queue, key). */
export function wakeLess(a: LimitKey, b: LimitKey): boolean {
  if (a.wakeAt !== b.wakeAt) return a.wakeAt < b.wakeAt;
  if (a.q.name !== b.q.name) return a.q.name < b.q.name;
  if (a.name === null || b.name === null) return a.name === null && b.name !== null;
  return a.name < b.name;
}

/**
 * Local counters (not replicated, not in snapshots): metrics. Each is a monotonic total since this
 * object was made; a restore does not reset them (it counts nothing either).
 */
export interface MachineCounters {
  /** Entries whose bytes did not decode (applied as no-ops). */
  undecodable: number;
  /** apply() calls with an index at or below the applied index (ignored). */
  stale: number;
  /** Non-assertion exceptions turned into INTERNAL answers (a bug; should stay 0). */
  internalErrors: number;
  /** Entries whose due transitions hit transitionsPerEntryMax (the rest waited). */
  transitionsDeferred: number;
  /** Tasks created (enqueue, dead-letter copies, redrives). */
  enqueued: number;
  /** Tasks acked. */
  completed: number;
  /** Nacks accepted (handler failures; a nack that kills the task counts here and in deadLettered). */
  nacked: number;
  /** Leases that expired (presumed worker deaths). */
  leasesExpired: number;
  /** Tasks that became `dead` (max attempts, max deliveries, nack dead), copied to a DLQ or not. */
  deadLettered: number;
}

export class MachineState {
  // --- replicated (all of it is in the snapshot) ---
  applied = 0;
  mono = 0;
  wall = 0;
  nextTaskId = 1;
  nextSessionId = 1;
  /** The state machine version every replica applies entries with (version.ts; 1: as before versions). */
  activeVersion = 1;
  readonly tasks = new Map<number, Task>();
  readonly queues = new Map<string, Queue>();
  readonly sessions = new Map<string, Session>();
  leaseHeap = new IndexedHeap<Task>(monoLess);
  monoDelay = new IndexedHeap<Task>(monoLess);
  wallDelay = new IndexedHeap<Task>(wallLess);
  ttlTimers = new TimerHeap();
  retentionTimers = new TimerHeap();
  keyTimers = new TimerHeap();
  sessionTimers = new TimerHeap();
  /** Lazy removal of empty limit keys whose bucket is still refilling (limits.ts). */
  limitTimers = new TimerHeap();
  /** Limit keys and queue limiters waiting for tokens or a hold, by (wakeAt, queue, key). */
  wake = new IndexedHeap<LimitKey>(wakeLess);
  nonTerminal = 0;
  /** Admin work in progress, oldest first (jobs.ts). */
  jobs: AdminJob[] = [];
  /** Schedules by (queue, id), and those with a due instant by it (schedules.ts). */
  readonly schedules = new ScheduleBook();
  /** Shared limits by name (shared-limits.ts). */
  readonly shared = new Map<string, SharedLimit>();
  /** Topic bindings (topics.ts): topic → queue → header conditions (null: none). */
  readonly topics = new Map<string, Map<string, HeaderFilter[] | null>>();
  /** Replicated client tokens by id: scrypt hashes and grants, revoked ones as tombstones (tokens.ts). */
  readonly tokens = new Map<string, TokenRecord>();

  // --- derived / local ---
  /** Replicated tokens not revoked (derived from `tokens`). */
  tokensLive = 0;
  /** Idempotency keys held in all queues (derived: the sum of q.keys.size). */
  keyCount = 0;
  /** Queues out of the digest sum until the end of the current entry (see digest.ts mutQueue). */
  dirtyQueues: Queue[] = [];
  /** Session answers cached since the last digest and still cached: hashed into the sum at the next one. */
  readonly pendingAnswers = new Set<CachedAnswer>();
  sum = new DigestSum();
  /** Limit keys and queue limiters (a lane of its own so a raftq-sm/3 digest can still be checked). */
  lsum = new DigestSum();
  /** Snapshots whose task chunks are being taken (an online backup may run beside the node's own). */
  cows: SnapshotCow[] = [];
  readonly h = new Hasher();
  /** The index of the entry being applied (the fencing token of its grants). */
  index = 0;
  /** The Raft term of the entry being applied (0: not given), recorded with each task transition. */
  term = 0;
  events: TaskEvent[] = [];
  /** A task with dependants ended (flows.ts installs it; a no-op until then). */
  onDependencyEnded: (st: MachineState, t: Task) => void = () => undefined;
  /** Tasks whose dependants are being resolved, oldest first (flows.ts: a cascade is a loop, not recursion). */
  depWork: Task[] = [];
  /** Planted bug (tests only; MachineOptions.plantRestoreLosesHeaders). */
  plantRestoreLosesHeaders = false;
  /** Planted bug (tests only; MachineOptions.plantSnapshotShortBin). */
  plantSnapshotShortBin = false;
  /** Tasks per snapshot chunk (MachineOptions.snapshotChunkTasks; 256 by default, hot-path-pin's bytes). */
  snapshotChunkTasks = 256;
  /** The stamp of the tasks created at the current mono and wall (stampOf). */
  stamp: Stamp = { mono: -1, wall: -1 };
  /** Small header objects seen lately, by content: tasks share one (headers are never mutated; enqueue.ts). */
  headersSeen = new Map<string, Record<string, string>>();
  /** The headers sharedHeaders returned last, and their keys: most enqueues repeat them (one map lookup less). */
  lastHeaders: { obj: Record<string, string>; keys: string[] } | null = null;
  readonly counters: MachineCounters = {
    undecodable: 0,
    stale: 0,
    internalErrors: 0,
    transitionsDeferred: 0,
    enqueued: 0,
    completed: 0,
    nacked: 0,
    leasesExpired: 0,
    deadLettered: 0,
  };

  constructor(
    readonly limits: MachineLimits,
    readonly eventsOn: boolean,
    /** The tasks' payload bytes (payloads.ts): where they are is in no digest and no snapshot. */
    public payloads = new PayloadStore(),
  ) {}
}

export function ok<T>(value: T): Answer<T> {
  return { ok: true, value };
}

export function err(code: ErrorDetail['code'], message: string, extra?: Partial<ErrorDetail>): Answer<never> {
  return { ok: false, error: { code, message, ...extra } };
}

/** Lazy expiries run at bucket boundaries (≥ 1 s, docs/design.md §2). */
export function bucket(st: MachineState, t: number): number {
  const b = st.limits.sweepBucketMs;
  return Math.ceil(t / b) * b;
}

export function ev(st: MachineState, t: Task, type: TaskEventType, reason?: string): void {
  if (!st.eventsOn) return;
  const e: TaskEvent = {
    type,
    id: asTaskId(formatId(t.id)),
    queue: t.q.name,
    index: asLogIndex(st.index),
    state: STATE_NAMES[t.state] as TaskEvent['state'],
  };
  if (t.state === S_LEASED) e.token = formatId(t.token);
  if (reason !== undefined) e.reason = reason;
  st.events.push(e);
}

/** Copy bytes out of the entry buffer (a decoded Buffer is a view that would retain the whole entry). */
export function copyBytes(u: Uint8Array): Uint8Array {
  return new Uint8Array(u);
}

/** The enqueue stamp of tasks created now: one object shared by all tasks of the same instant. */
export function stampOf(st: MachineState, mono = st.mono, wall = st.wall): Stamp {
  const s = st.stamp;
  if (s.mono === mono && s.wall === wall) return s;
  return (st.stamp = { mono, wall });
}

const SHARED_HEADERS_MAX = 256;
const SHARED_HEADER_KEYS_MAX = 4;
const SHARED_HEADER_CHARS_MAX = 128;

/**
 * The same headers (often just the SDK's codec header) as an object already held by another task:
 * ≈ 80 bytes less per waiting task. Only small objects, compared by content in insertion order, so
 * what is stored, hashed and snapshotted is the same as before; headers are never mutated.
 * Live enqueues and restores (snapshot.ts) both go through it.
 */
export function sharedHeaders(st: MachineState, headers: Record<string, string>): Record<string, string> {
  const keys = Object.keys(headers);
  if (keys.length > SHARED_HEADER_KEYS_MAX) return headers;
  const last = st.lastHeaders;
  if (last !== null && sameHeaders(last.obj, last.keys, headers, keys)) return last.obj;
  const shared = internHeaders(st, headers, keys);
  if (shared === null) return headers;
  st.lastHeaders = { obj: shared, keys }; // equal content means equal keys in the same order
  return shared;
}

/** Same keys in the same order with the same values (what the content id of internHeaders compares). */
function sameHeaders(a: Record<string, string>, aKeys: string[], b: Record<string, string>, bKeys: string[]): boolean {
  if (aKeys.length !== bKeys.length) return false;
  for (let i = 0; i < aKeys.length; i++) {
    const k = aKeys[i] as string;
    if (bKeys[i] !== k || a[k] !== b[k]) return false;
  }
  return true;
}

/** `keys`' content id, or null when the headers are not shared (a value not a string, or too long). */
function headerId(keys: string[], headers: Record<string, string>): string | null {
  let id = '';
  for (const k of keys) {
    const v = headers[k];
    if (typeof v !== 'string') return null;
    id += `${k}\u0000${v}\u0000`;
  }
  return id.length > SHARED_HEADER_CHARS_MAX ? null : id;
}

/** The shared object with `headers`' content (kept for the next ones if new), or null if not shareable. */
function internHeaders(
  st: MachineState,
  headers: Record<string, string>,
  keys: string[],
): Record<string, string> | null {
  const id = headerId(keys, headers);
  if (id === null) return null;
  const seen = st.headersSeen.get(id);
  if (seen !== undefined) return seen;
  if (st.headersSeen.size >= SHARED_HEADERS_MAX) st.headersSeen.clear();
  st.headersSeen.set(id, headers);
  return headers;
}
