// The state machine's records, laid out for memory: a waiting task with no options but headers is
// one small object (options live in `x`, lease and ending fields in `run`, both made on demand; its
// enqueue stamp is shared with its entry's tasks) whose payload bytes live in a slab shared with
// thousands of tasks (payloads.ts). One object per waiting task is what the garbage collector marks
// in a backlog (issue 11 target D).

import type { Backoff, QueueSettings, TaskState } from '../protocol/index.js';
import type { Positioned } from './heap.js';
import { IndexedHeap } from './heap.js';
import { Hasher } from './hash.js';
import type { Story } from './story.js';
import { NO_SLAB, type Slab } from './payloads.js';

export const S_WAITING = 0;
export const S_DELAYED = 1;
export const S_LEASED = 2;
export const S_COMPLETED = 3;
export const S_DEAD = 4;
export const S_CANCELLED = 5;
export const S_EXPIRED = 6;
/** Waiting for its dependencies to complete (flows.ts): pending, never leasable, in no heap. */
export const S_WAITING_CHILDREN = 7;
export const STATE_NAMES: readonly TaskState[] = [
  'waiting',
  'delayed',
  'leased',
  'completed',
  'dead',
  'cancelled',
  'expired',
  'waiting-children',
];
export const STATE_CODES: Readonly<Record<TaskState, number>> = {
  waiting: 0,
  delayed: 1,
  leased: 2,
  completed: 3,
  dead: 4,
  cancelled: 5,
  expired: 6,
  'waiting-children': 7,
};

export function isTerminal(state: number): boolean {
  return state >= S_COMPLETED && state <= S_EXPIRED;
}

/** One lease of a task and how it ended. `answer` is what a repeated ack/nack/release returns. */
export interface Attempt {
  token: number;
  worker: string;
  leasedMono: number;
  leasedWall: number;
  end: string | null;
  endedMono: number | null;
  error: string | null;
  answer: unknown;
  /**
   * The task's story (issue 15): the term of the granting entry (its index is the token) and the
   * index and term of the entry that ended the attempt. Absent in attempts recorded before.
   */
  leasedTerm?: number;
  endedIndex?: number | null;
  endedTerm?: number | null;
}

export interface DeadLetterOf {
  id: number;
  queue: string;
  reason: string;
  history: Attempt[];
}

/**
 * Fields most tasks never use. A waiting task with a TTL has one of these, so the fields such a task
 * or a lease cycle sets live on the object (one hidden class) and the rest in `RareExtra`, made when
 * one of them is first set: 104 bytes a task instead of 232 (1,000,000 waiting tasks: 122 MiB less).
 * Reads and writes look the same either way (accessors on the prototype, below).
 */
export class TaskExtra {
  /** The idempotency key. */
  key: string | undefined = undefined;
  ttlAt: number | undefined = undefined;
  maxAttempts: number | undefined = undefined;
  leaseMs: number | undefined = undefined;
  /** Delayed on the wall clock (an absolute runAt) rather than on mono. */
  wallDue = false;
  /** Limit key (limits.ts); undefined: the queue's unkeyed tasks (key ''). */
  limitKey: string | undefined = undefined;
  /** Not replicated: the LimitKey of limitKey while it lives (limits.ts keyOf's cache; snapshots skip it). */
  lk: LimitKey | undefined = undefined;
  /** The current lease's holder secret (lease-secret.ts); cleared when the attempt ends. */
  leaseSecret: string | undefined = undefined;
  /** The rest, made when one of them is first set to a value. */
  rare: RareExtra | undefined = undefined;
  declare group: string | undefined;
  declare maxDeliveries: number | undefined;
  declare progress: number | undefined;
  declare checkpoint: Uint8Array | undefined;
  declare result: Uint8Array | undefined;
  declare lastError: string | undefined;
  declare deadLetterOf: DeadLetterOf | undefined;
  declare deadLetterId: number | undefined;
  declare redrivenFrom: number | undefined;
  declare redrivenTo: number | undefined;
  /** Cost in limit units; undefined: 1. */
  declare cost: number | undefined;
  /** This task's backoff over the queue's, field by field (issue 13); undefined: the queue's. */
  declare backoff: Partial<Backoff> | undefined;
  /** Leased and asked to stop (cancel.ts): its attempt's end makes it `cancelled`. */
  declare cancelReq: boolean | undefined;
  /** Its dependencies, in the order given (flows.ts). */
  declare deps: DepEdge[] | undefined;
  /** Ids of the tasks that depend on it, in creation order (flows.ts). */
  declare dependants: number[] | undefined;
  /** The root task of the flow it was created in (flows.ts). */
  declare flow: number | undefined;
  /** The topic whose publish created it (state machine version 2 on, version.ts). */
  declare topic: string | undefined;
}

/** TaskExtra's seldom-used fields (see there). */
class RareExtra {
  group: string | undefined = undefined;
  maxDeliveries: number | undefined = undefined;
  progress: number | undefined = undefined;
  checkpoint: Uint8Array | undefined = undefined;
  result: Uint8Array | undefined = undefined;
  lastError: string | undefined = undefined;
  deadLetterOf: DeadLetterOf | undefined = undefined;
  deadLetterId: number | undefined = undefined;
  redrivenFrom: number | undefined = undefined;
  redrivenTo: number | undefined = undefined;
  cost: number | undefined = undefined;
  backoff: Partial<Backoff> | undefined = undefined;
  cancelReq: boolean | undefined = undefined;
  deps: DepEdge[] | undefined = undefined;
  dependants: number[] | undefined = undefined;
  flow: number | undefined = undefined;
  topic: string | undefined = undefined;
}

for (const name of Object.keys(new RareExtra()) as (keyof RareExtra)[]) {
  Object.defineProperty(TaskExtra.prototype, name, {
    get(this: TaskExtra): unknown {
      return this.rare?.[name];
    },
    set(this: TaskExtra, value: unknown): void {
      if (value === undefined && this.rare === undefined) return;
      const rare = (this.rare ??= new RareExtra()) as unknown as Record<string, unknown>;
      rare[name] = value;
    },
  });
}

/**
 * Never written: the extra record of a task that has headers and nothing else in `x` (hashed and
 * snapshotted as a TaskExtra with its defaults, as when headers lived in `x`).
 */
export const NO_EXTRA: Readonly<TaskExtra> = Object.freeze(new TaskExtra());

/**
 * The replicated fields of TaskExtra in their snapshot order (the order of the class before the
 * split: snapshot bytes depend on it). `lk` is a cache and `rare` a container, neither replicated.
 * `headers` lives on the task itself (see Task.headers) but is written and hashed in this record.
 */
export const EXTRA_FIELDS = [
  'headers',
  'group',
  'key',
  'ttlAt',
  'maxAttempts',
  'maxDeliveries',
  'leaseMs',
  'wallDue',
  'progress',
  'checkpoint',
  'result',
  'lastError',
  'deadLetterOf',
  'deadLetterId',
  'redrivenFrom',
  'redrivenTo',
  'limitKey',
  'cost',
  'backoff',
  'cancelReq',
  'deps',
  'dependants',
  'flow',
  'leaseSecret',
  'topic',
] as const satisfies readonly (keyof TaskExtra | 'headers')[];

/** Failure policies of a dependency edge (flows.ts). */
export const P_FAIL = 0;
export const P_IGNORE = 1;
export const P_REMOVE = 2;

/**
 * One dependency edge: the task depended on, the edge's failure policy, and once that task ended
 * the state it ended in (-1 while pending); `removed`: a failure dropped the edge (policy remove).
 */
export interface DepEdge {
  id: number;
  policy: number;
  end: number;
  removed: boolean;
}

/**
 * The machine's clocks when a task was enqueued. One object per applied entry, shared by the tasks
 * it creates: a wall-clock millisecond is no small integer, so a field of its own on every task was
 * a boxed number, one more object per waiting task for the garbage collector to mark (D).
 */
export interface Stamp {
  readonly mono: number;
  readonly wall: number;
}

export class Task implements Positioned {
  pos = -1;
  state = S_WAITING;
  /** Handler failures, lease expiries, leases granted. */
  attempts = 0;
  deliveries = 0;
  leases = 0;
  /** Leased: the lease deadline. Delayed on mono: its runAt. Else 0 (terminal: kept as it was). */
  dueMono = 0;
  /** Delayed on wall (x.wallDue): its absolute runAt. Else 0. At most one of the two is non-zero. */
  dueWall = 0;
  /** The current (or last) lease's fencing token: the granting entry's index. */
  token = 0;
  /** The queue's task list, in id order (intrusive, so no per-task Set entry). */
  qprev: Task | null = null;
  qnext: Task | null = null;
  x: TaskExtra | undefined = undefined;
  /**
   * Headers (the SDK sends its codec header with every byte payload; trace context too), shared
   * between tasks when equal (enqueue.ts). On the task, not in `x`, so a waiting task with headers
   * and no options is one object beside its payload; hashed and snapshotted as part of `x`'s record.
   */
  headers: Record<string, string> | undefined = undefined;
  /** Lease and ending fields (the accessors below), made when the task is first leased or ended. */
  run: RunFields | undefined = undefined;
  /** Log index and term of the entry that created the task (issue 15). */
  enqIndex: number | undefined = undefined;
  enqTerm: number | undefined = undefined;
  /** The task's hash as currently added to the digest sum (so a change subtracts it without re-hashing). */
  ha = 0;
  hb = 0;
  /** Where its payload bytes are (MachineState.payloads: put, view, release). */
  slab: Slab = NO_SLAB;
  off = 0;
  len = 0;

  constructor(
    readonly id: number,
    readonly q: Queue,
    /** Hash of the payload bytes, so a task re-hashes without reading its payload. */
    public ph: number,
    public priority: number,
    /** When it was enqueued, shared with the tasks of the same entry (see Stamp). */
    readonly at: Stamp,
  ) {}

  get enqMono(): number {
    return this.at.mono;
  }

  get enqWall(): number {
    return this.at.wall;
  }

  extra(): TaskExtra {
    if (this.x === undefined) this.x = new TaskExtra();
    return this.x;
  }

  // RunFields' fields, one accessor each: a shared getter over a variable name was one megamorphic
  // keyed load for all of them, on every hash of every task (2 % of a follower's time under B).
  get worker(): string | undefined {
    return this.run?.worker;
  }
  set worker(v: string | undefined) {
    if (v !== undefined || this.run !== undefined) this.runFields().worker = v;
  }
  get leaseMsCur(): number | undefined {
    return this.run?.leaseMsCur;
  }
  set leaseMsCur(v: number | undefined) {
    if (v !== undefined || this.run !== undefined) this.runFields().leaseMsCur = v;
  }
  get history(): Attempt[] | undefined {
    return this.run?.history;
  }
  set history(v: Attempt[] | undefined) {
    if (v !== undefined || this.run !== undefined) this.runFields().history = v;
  }
  get reason(): string | undefined {
    return this.run?.reason;
  }
  set reason(v: string | undefined) {
    if (v !== undefined || this.run !== undefined) this.runFields().reason = v;
  }
  get endedMono(): number | undefined {
    return this.run?.endedMono;
  }
  set endedMono(v: number | undefined) {
    if (v !== undefined || this.run !== undefined) this.runFields().endedMono = v;
  }
  /** Retention removes the terminal task at this (bucketed) mono instant. */
  get removeAt(): number | undefined {
    return this.run?.removeAt;
  }
  set removeAt(v: number | undefined) {
    if (v !== undefined || this.run !== undefined) this.runFields().removeAt = v;
  }
  /** Log index and term of the entry that ended the task (issue 15). */
  get endedIndex(): number | undefined {
    return this.run?.endedIndex;
  }
  set endedIndex(v: number | undefined) {
    if (v !== undefined || this.run !== undefined) this.runFields().endedIndex = v;
  }
  get endedTerm(): number | undefined {
    return this.run?.endedTerm;
  }
  set endedTerm(v: number | undefined) {
    if (v !== undefined || this.run !== undefined) this.runFields().endedTerm = v;
  }
  /** The rest of its story (story.ts): transitions beyond creation, attempts and the end. */
  get story(): Story | undefined {
    return this.run?.story;
  }
  set story(v: Story | undefined) {
    if (v !== undefined || this.run !== undefined) this.runFields().story = v;
  }

  private runFields(): RunFields {
    return (this.run ??= new RunFields());
  }
}

/**
 * Task's lease and ending fields. A waiting task (most of a backlog) never has them: 72 bytes less a
 * task on the task itself (D: 1,000,000 waiting), for one small object per task that runs.
 */
class RunFields {
  worker: string | undefined = undefined;
  leaseMsCur: number | undefined = undefined;
  history: Attempt[] | undefined = undefined;
  reason: string | undefined = undefined;
  endedMono: number | undefined = undefined;
  removeAt: number | undefined = undefined;
  endedIndex: number | undefined = undefined;
  endedTerm: number | undefined = undefined;
  story: Story | undefined = undefined;
}

export interface Group {
  tasks: Task[];
  head: number;
}

export interface KeyEntry {
  id: number;
  expiresAt: number;
}

export const TOTALS = [
  'enqueued',
  'completed',
  'dead',
  'cancelled',
  'expired',
  'failed',
  'leaseExpired',
  'removedByRetention',
] as const;
export type TotalName = (typeof TOTALS)[number];
export const T_ENQUEUED = 0;
export const T_COMPLETED = 1;
export const T_DEAD = 2;
export const T_CANCELLED = 3;
export const T_EXPIRED = 4;
export const T_FAILED = 5;
export const T_LEASE_EXPIRED = 6;
export const T_REMOVED = 7;

function readyLess(a: Task, b: Task): boolean {
  return a.priority !== b.priority ? a.priority > b.priority : a.id < b.id;
}

export const W_NONE = 0;
export const W_SCHED = 1;
export const W_WAKE = 2;

/** The fair scheduler orders eligible keys by virtual time, then name. */
function schedLess(a: LimitKey, b: LimitKey): boolean {
  return a.vtime !== b.vtime ? a.vtime < b.vtime : (a.name as string) < (b.name as string);
}

/**
 * One limit key of a queue (limits.ts), or with `name` null the queue's own limiter. Its ready
 * tasks (priority desc, id asc) sit in `ready`; the key itself sits in at most one heap (`where`):
 * its queue's scheduler (eligible), the global wake heap (waiting for tokens or a hold), or none.
 * Replicated: vtime, tokens, tokensAt, heldUntil, where, wakeAt. Derived: the counts.
 */
export class LimitKey implements Positioned {
  pos = -1;
  where = W_NONE;
  wakeAt = 0;
  readonly ready = new IndexedHeap<Task>(readyLess);
  /** Cost units leased now, tasks leased now, tasks waiting or delayed. */
  inUse = 0;
  leased = 0;
  pending = 0;
  /** Virtual time: the next start tag of this key (a key); of the last grant (the queue's limiter). */
  vtime = 0;
  /** Bucket content in cost units × intervalMs, as of tokensAt; -1: full. */
  tokens = -1;
  tokensAt = 0;
  heldUntil = 0;
  /** The record's hash as currently added to the limits digest sum. */
  a = 0;
  b = 0;
  /** Hasher state after the constant prefix (tag, queue, name); 0, 0 until first hashed. */
  pa = 0;
  pb = 0;
  /** Removed from its queue (tasks' cached references to it are stale). */
  gone = false;

  constructor(
    readonly q: Queue,
    readonly name: string | null,
  ) {}
}

export class Queue {
  /** Limit keys with pending or leased tasks (or a bucket still refilling), by name; '' for unkeyed tasks. */
  readonly lkeys = new Map<string, LimitKey>();
  /** Eligible keys (ready, within limits), by (vtime, name). */
  readonly sched = new IndexedHeap<LimitKey>(schedLess);
  /** The queue's own limiter: cost in use, queue bucket, the scheduler's virtual time. */
  readonly lim: LimitKey = new LimitKey(this, null);
  /** The key of the tasks without one: kept for the queue's life (the common case pays no lookups). */
  readonly k0: LimitKey = new LimitKey(this, '');
  first: Task | null = null;
  last: Task | null = null;
  readonly counts: number[] = [0, 0, 0, 0, 0, 0, 0, 0];
  readonly totals: number[] = [0, 0, 0, 0, 0, 0, 0, 0];
  readonly groups = new Map<string, Group>();
  readonly keys = new Map<string, KeyEntry>();
  settingsA = 0;
  settingsB = 0;
  /** Out of the digest sum until the end of the current entry (see digest.ts mutQueue). */
  dirty = false;
  /** A delete is in progress (jobs.ts): the queue takes no commands; it goes when its job ends. */
  deleting = false;
  /** A pause / resume is re-parking its delayed tasks (jobs.ts): either heap membership is valid. */
  reparking = false;

  constructor(
    readonly name: string,
    public settings: QueueSettings,
  ) {
    this.hashSettings();
    this.lkeys.set('', this.k0);
  }

  hashSettings(): void {
    const h = new Hasher().value(this.settings);
    this.settingsA = h.a;
    this.settingsB = h.b;
  }

  nonTerminal(): number {
    const c = this.counts;
    return (
      (c[S_WAITING] as number) + (c[S_DELAYED] as number) + (c[S_LEASED] as number) + (c[S_WAITING_CHILDREN] as number)
    );
  }

  append(t: Task): void {
    t.qprev = this.last;
    if (this.last === null) this.first = t;
    else this.last.qnext = t;
    this.last = t;
  }

  unlink(t: Task): void {
    if (t.qprev === null) this.first = t.qnext;
    else t.qprev.qnext = t.qnext;
    if (t.qnext === null) this.last = t.qprev;
    else t.qnext.qprev = t.qprev;
    t.qprev = null;
    t.qnext = null;
  }
}

/** A cached session answer; its hash enters the digest sum lazily (digest.ts flushDigest). */
export interface CachedAnswer {
  answer: unknown;
  /** Its hash, valid while `h` is H_IN_SUM. */
  a: number;
  b: number;
  h: AnswerHash;
  readonly s: Session;
  readonly seq: number;
}

/** Where a cached answer's hash is: not yet hashed (pending), in the digest sum, or dropped. */
export const H_PENDING = 0;
export const H_IN_SUM = 1;
export const H_DROPPED = 2;
export type AnswerHash = typeof H_PENDING | typeof H_IN_SUM | typeof H_DROPPED;

export class Session {
  readonly answers = new Map<number, CachedAnswer>();
  floor = 0;
  /** Hash of the fields below plus all cached answers, as currently added to the digest. */
  a = 0;
  b = 0;

  constructor(
    readonly id: string,
    readonly timeoutMs: number,
    public lastMono: number,
  ) {}
}

export type JobKind = 'purge' | 'delete-cancel' | 'delete-remove' | 'repark' | 'redrive' | 'resettle';

/** What a redrive without ids still has to do: tasks left to move, and where (null: each its source). */
export interface RedriveRest {
  left: number;
  toQueue: string | null;
}

/**
 * Admin work that grows with a queue's length, done a capped amount per entry (jobs.ts). `next` is
 * the cursor into the queue's id-ordered task list (null: at its end); tasks with ids ≥ `upTo`
 * came after the command and are not visited by a purge or a redrive.
 */
export class AdminJob {
  /** The job's hash as currently added to the digest sum. */
  a = 0;
  b = 0;
  /** Set for kind 'redrive' only. */
  redrive: RedriveRest | null = null;
  /**
   * Kind 'resettle' (limit keys re-placed after a settings change): the next key to visit (null: at
   * the end), and the queue's key map iterated just past it — not replicated: restore seeks it again
   * from `key` (a key map keeps its insertion order, and a snapshot keeps that order).
   */
  key: LimitKey | null = null;
  keys: Iterator<LimitKey> | null = null;

  constructor(
    readonly kind: JobKind,
    readonly q: Queue,
    public next: Task | null,
    public upTo: number,
  ) {}

  /** A resettle job's cursor moves to the next key of the walk (bracket it with touchJob). */
  advanceKey(): void {
    const r = this.keys?.next();
    this.key = r === undefined || r.done === true ? null : r.value;
  }

  /** A resettle job's walk starts again from the queue's first key. */
  restartKeys(): void {
    this.keys = this.q.lkeys.values();
    this.advanceKey();
  }
}
