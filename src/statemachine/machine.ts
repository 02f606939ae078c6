// The queue state machine (DESIGN.md §1–§3). Pure and deterministic: the same log gives the same
// state, answers and digest on every replica. It reads no clock: time is the entry's stamps.
// apply() never throws: undecodable bytes are a counted no-op, invalid commands error answers.

import type {
  Answer,
  Command,
  CommandAnswer,
  CommandOf,
  ErrorDetail,
  LeasedTask,
  Limits,
  NackAnswer,
  QueueSettings,
  ReadAnswer,
  ReadQuery,
  SessionCommand,
  TaskEvent,
  TaskEventType,
  TaskSpec,
} from '../protocol/index.js';
import {
  DEFAULT_LIMITS,
  DEFAULT_QUEUE_SETTINGS,
  decodeEnvelope,
  formatId,
  parseId,
  validateCommand,
} from '../protocol/index.js';
import type { SettingsPatch } from '../protocol/validate.js';
import { IndexedHeap, TimerHeap } from './heap.js';
import { DigestSum, Hasher, hashInts, hex32 } from './hash.js';
import type { Attempt, Group } from './records.js';
import {
  Queue,
  S_CANCELLED,
  S_COMPLETED,
  S_DEAD,
  S_DELAYED,
  S_EXPIRED,
  S_LEASED,
  S_WAITING,
  STATE_NAMES,
  Session,
  T_CANCELLED,
  T_COMPLETED,
  T_DEAD,
  T_ENQUEUED,
  T_EXPIRED,
  T_FAILED,
  T_LEASE_EXPIRED,
  T_REMOVED,
  Task,
  isTerminal,
} from './records.js';
import * as reads from './reads.js';
import * as snap from './snapshot.js';

export interface MachineOptions {
  limits?: Partial<Limits>;
  /** Record task events for drainEvents() (default true). */
  events?: boolean;
}

export function ok<T>(value: T): Answer<T> {
  return { ok: true, value };
}

export function err(code: ErrorDetail['code'], message: string, extra?: Partial<ErrorDetail>): Answer<never> {
  return { ok: false, error: { code, message, ...extra } };
}

/** Invariant check: a failure is a bug. Inside apply it becomes an INTERNAL answer, counted. */
export function assert(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new Error(`statemachine invariant: ${msg}`);
}

function deadlineLess(a: Task, b: Task): boolean {
  return a.due !== b.due ? a.due < b.due : a.id < b.id;
}

const EMPTY_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** Copy bytes out of the entry buffer (a decoded Buffer is a view that would retain the whole entry). */
function copyBytes(u: Uint8Array): Uint8Array {
  return new Uint8Array(u);
}

export function bytesToLatin1(u: Uint8Array): string {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('latin1');
}

export function latin1ToBytes(s: string): Uint8Array {
  const b = Buffer.from(s, 'latin1');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function backoffDelay(settings: QueueSettings, taskId: number, attempts: number): number {
  const b = settings.backoff;
  let d = b.delayMs;
  if (b.type === 'exponential') {
    const shift = Math.min(attempts - 1, 40);
    d = Math.min(b.maxDelayMs, b.delayMs * 2 ** shift);
  }
  const spread = Math.floor((d * b.jitterPct) / 100);
  return spread > 0 ? d - (hashInts(taskId, attempts) % (spread + 1)) : d;
}

export class QueueStateMachine {
  readonly limits: Limits;
  private readonly eventsOn: boolean;

  // --- replicated state (all of it is in the snapshot) ---
  /** @internal */ applied = 0;
  /** @internal */ mono = 0;
  /** @internal */ wall = 0;
  /** @internal */ nextTaskId = 1;
  /** @internal */ nextSessionId = 1;
  /** @internal */ readonly tasks = new Map<number, Task>();
  /** @internal */ readonly queues = new Map<string, Queue>();
  /** @internal */ readonly sessions = new Map<string, Session>();
  /** @internal */ leaseHeap = new IndexedHeap<Task>(deadlineLess);
  /** @internal */ monoDelay = new IndexedHeap<Task>(deadlineLess);
  /** @internal */ wallDelay = new IndexedHeap<Task>(deadlineLess);
  /** @internal */ ttlTimers = new TimerHeap();
  /** @internal */ retentionTimers = new TimerHeap();
  /** @internal */ keyTimers = new TimerHeap();
  /** @internal */ sessionTimers = new TimerHeap();
  /** @internal */ nonTerminal = 0;
  /** @internal */ dirtyQueues: Queue[] = [];

  // --- derived / local ---
  /** @internal */ sum = new DigestSum();
  /** @internal */ epoch = 0;
  private readonly h = new Hasher();
  private index = 0;
  private events: TaskEvent[] = [];
  /** Counted no-ops and internal errors: metrics, not replicated state. */
  readonly counters = { undecodable: 0, stale: 0, internalErrors: 0, transitionsDeferred: 0 };

  constructor(opts: MachineOptions = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...(opts.limits ?? {}) };
    if (this.limits.sweepBucketMs < 1000) throw new Error('sweepBucketMs must be ≥ 1000 (DESIGN.md §2)');
    this.eventsOn = opts.events ?? true;
  }

  // ------------------------------------------------------------------ entry points

  apply(index: number, data: Uint8Array): CommandAnswer[] {
    this.events = [];
    if (!this.advanceIndex(index)) return [];
    const env = decodeEnvelope(data);
    if (env === null) {
      this.counters.undecodable++;
      return [];
    }
    try {
      this.mono = Math.max(this.mono, env.mono);
      this.wall = Math.max(this.wall, env.wall);
      this.runDue();
      this.sweep();
    } catch {
      this.counters.internalErrors++;
      this.flushQueues();
    }
    const out: CommandAnswer[] = [];
    for (const sc of env.cmds) out.push({ session: sc.session, seq: sc.seq, answer: this.applyOne(sc) });
    this.flushQueues();
    return out;
  }

  applyEmpty(index: number): void {
    this.events = [];
    this.advanceIndex(index);
  }

  appliedIndex(): number {
    return this.applied;
  }

  lastMono(): number {
    return this.mono;
  }

  lastWall(): number {
    return this.wall;
  }

  drainEvents(): TaskEvent[] {
    const e = this.events;
    this.events = [];
    return e;
  }

  nextDue(): { mono: number | null; wall: number | null } {
    let mono: number | null = null;
    const cands = [this.leaseHeap.peek()?.due, this.monoDelay.peek()?.due, this.ttlTimers.peek()?.at];
    for (const c of cands) if (c !== undefined && (mono === null || c < mono)) mono = c;
    const w = this.wallDelay.peek();
    return { mono, wall: w === undefined ? null : w.due };
  }

  read(query: ReadQuery): ReadAnswer {
    const asOf = { index: this.applied, mono: this.mono, wall: this.wall };
    try {
      return { asOf, answer: reads.read(this, query) };
    } catch {
      return { asOf, answer: err('INVALID_ARGUMENT', 'malformed query', { field: 'query' }) };
    }
  }

  snapshot(): Iterable<Uint8Array> {
    return snap.snapshotChunks(this);
  }

  restore(chunks: Iterable<Uint8Array> | Uint8Array): void {
    snap.restoreInto(this, chunks);
  }

  digest(): string {
    this.flushQueues();
    const g = this.h
      .reset()
      .int(this.applied)
      .int(this.mono)
      .int(this.wall)
      .int(this.nextTaskId)
      .int(this.nextSessionId);
    g.int(this.sum.a).int(this.sum.b);
    return hex32(g.a) + hex32(g.b);
  }

  private advanceIndex(index: number): boolean {
    this.epoch++;
    if (!Number.isSafeInteger(index) || index <= this.applied) {
      this.counters.stale++;
      return false;
    }
    this.applied = index;
    this.index = index;
    return true;
  }

  // ------------------------------------------------------------------ sessions (DESIGN.md §1.5)

  private applyOne(sc: SessionCommand): Answer {
    try {
      if (sc.session === null) return this.execute(sc.cmd, null);
      const s = this.sessions.get(sc.session);
      if (s === undefined || s.lastMono + s.timeoutMs <= this.mono) {
        return err('SESSION_EXPIRED', 'unknown or expired session');
      }
      if (sc.floor !== undefined && sc.floor > s.floor) this.pruneFloor(s, Math.min(sc.floor, sc.seq));
      if (sc.seq < s.floor) {
        return err('FAILED_PRECONDITION', 'sequence number below the session floor', { reason: 'seq_below_floor' });
      }
      const cached = s.answers.get(sc.seq);
      if (cached !== undefined) return cached.answer as Answer;
      if (s.answers.size >= this.limits.sessionOutstandingMax) {
        return err('RESOURCE_EXHAUSTED', 'too many outstanding requests on this session', {
          limit: 'sessionOutstandingMax',
          retryAfterMs: 100,
        });
      }
      const answer = this.execute(sc.cmd, s);
      if (this.sessions.get(s.id) === s) this.cacheAnswer(s, sc.seq, answer);
      return answer;
    } catch {
      this.counters.internalErrors++;
      return err('INTERNAL', 'internal error while applying');
    }
  }

  private sessionFields(s: Session): Hasher {
    return this.h.reset().tag(40).str(s.id).int(s.timeoutMs).int(s.lastMono).int(s.floor);
  }

  private touchSession(s: Session, f: () => void): void {
    this.sum.subPair(s.a, s.b);
    f();
    const h = this.sessionFields(s);
    s.a = h.a;
    s.b = h.b;
    this.sum.add(h);
  }

  private pruneFloor(s: Session, floor: number): void {
    const drop = (seq: number): void => {
      const c = s.answers.get(seq);
      if (c === undefined) return;
      this.sum.subPair(c.a, c.b);
      s.answers.delete(seq);
    };
    if (floor - s.floor <= s.answers.size) {
      for (let q = s.floor; q < floor; q++) drop(q);
    } else {
      for (const seq of [...s.answers.keys()]) if (seq < floor) drop(seq);
    }
    this.touchSession(s, () => (s.floor = floor));
  }

  private cacheAnswer(s: Session, seq: number, answer: Answer): void {
    const stored = stripPayloads(answer);
    const h = this.h.reset().tag(41).str(s.id).int(seq).value(stored);
    s.answers.set(seq, { answer: stored, a: h.a, b: h.b });
    this.sum.add(h);
    this.touchSession(s, () => (s.lastMono = this.mono));
  }

  private openSession(cmd: CommandOf<'openSession'>): Answer {
    if (this.sessions.size >= this.limits.sessionsMax) {
      return err('RESOURCE_EXHAUSTED', 'too many sessions', { limit: 'sessionsMax', retryAfterMs: 1000 });
    }
    const id = formatId(this.nextSessionId++);
    const s = new Session(id, cmd.timeoutMs ?? this.limits.sessionTimeoutMsDefault, this.mono);
    this.sessions.set(id, s);
    this.touchSession(s, () => undefined);
    this.sessionTimers.push({ at: this.bucket(s.lastMono + s.timeoutMs), key: id });
    return ok({ session: id, timeoutMs: s.timeoutMs });
  }

  /** @internal */ removeSession(s: Session): void {
    for (const c of s.answers.values()) this.sum.subPair(c.a, c.b);
    this.sum.subPair(s.a, s.b);
    this.sessions.delete(s.id);
  }

  // ------------------------------------------------------------------ dispatch

  private execute(raw: unknown, s: Session | null): Answer {
    const v = validateCommand(raw, this.limits);
    if (!v.ok) return { ok: false, error: v.error };
    const cmd: Command = v.value;
    switch (cmd.type) {
      case 'openSession':
        return this.openSession(cmd);
      case 'keepAlive':
        return s === null ? err('INVALID_ARGUMENT', 'keepAlive needs a session', { field: 'session' }) : ok({});
      case 'closeSession':
        if (s === null) return err('INVALID_ARGUMENT', 'closeSession needs a session', { field: 'session' });
        this.removeSession(s);
        return ok({});
      case 'advanceTime':
        return ok({});
      case 'createQueue':
        return this.createQueue(cmd);
      case 'configureQueue':
        return this.configureQueue(cmd.queue, cmd.settings);
      case 'pauseQueue':
        return this.configureQueue(cmd.queue, { paused: true });
      case 'resumeQueue':
        return this.configureQueue(cmd.queue, { paused: false });
      case 'purgeQueue':
        return this.purgeQueue(cmd.queue);
      case 'deleteQueue':
        return this.deleteQueue(cmd.queue, cmd.force === true);
      case 'enqueue':
        return this.enqueue(cmd);
      case 'lease':
        return this.lease(cmd);
      case 'extend':
        return this.extend(cmd);
      case 'ack':
        return ok({ items: cmd.items.map((item) => this.ackOne(item.id, item.token, item.result)) });
      case 'nack':
        return this.nack(cmd);
      case 'release':
        return this.release(cmd);
      case 'cancel':
        return this.cancel(cmd.id);
      case 'promote':
        return this.promote(cmd.id);
      case 'update':
        return this.update(cmd);
      case 'redrive':
        return this.redrive(cmd);
    }
  }

  // ------------------------------------------------------------------ digest bookkeeping

  /** @internal */ addTask(t: Task): void {
    const h = this.hashTask(t);
    t.ha = h.a;
    t.hb = h.b;
    this.sum.add(h);
  }

  /** @internal */ hashTask(t: Task): Hasher {
    const h = this.h.reset().tag(30).int(t.id).str(t.q.name).int(t.ph).int(t.payload.length).int(t.priority);
    h.int(t.state)
      .int(t.attempts)
      .int(t.deliveries)
      .int(t.leases)
      .int(t.due)
      .int(t.token)
      .int(t.enqMono)
      .int(t.enqWall)
      .optStr(t.worker)
      .opt(t.leaseMsCur)
      .optStr(t.reason)
      .opt(t.endedMono)
      .opt(t.removeAt);
    this.hashHistory(h, t.history);
    const x = t.x;
    if (x === undefined) return h.tag(1);
    h.tag(2).value(x.headers).optStr(x.group).optStr(x.key).opt(x.ttlAt).opt(x.maxAttempts).opt(x.maxDeliveries);
    h.opt(x.leaseMs)
      .tag(x.wallDue ? 1 : 0)
      .opt(x.progress)
      .value(x.checkpoint);
    h.value(x.result).optStr(x.lastError);
    return h.value(x.deadLetterOf).opt(x.deadLetterId).opt(x.redrivenFrom).opt(x.redrivenTo);
  }

  /** Bracket every task mutation: its old hash leaves the digest, its new one enters. */
  private mut(t: Task, f: () => void): void {
    this.sum.subPair(t.ha, t.hb);
    f();
    this.addTask(t);
  }

  /** Attempts and their answers have fixed shapes: hash them field by field (no key sorting). */
  private hashHistory(h: Hasher, history: Attempt[] | undefined): void {
    if (history === undefined) {
      h.tag(1);
      return;
    }
    h.tag(4).int(history.length);
    for (const a of history) {
      h.int(a.token).str(a.worker).int(a.leasedMono).int(a.leasedWall).optStr(a.end).opt(a.endedMono).optStr(a.error);
      const ans = a.answer as (NackAnswer & { state?: string }) | null;
      if (ans === null || ans === undefined) h.tag(1);
      else h.tag(5).optStr(ans.state).opt(ans.runAtMono).optStr(ans.deadLetterId);
    }
  }

  /** @internal */ hashQueue(q: Queue): Hasher {
    const h = this.h.reset().tag(31).str(q.name).int(q.settingsA).int(q.settingsB);
    for (const n of q.totals) h.int(n);
    return h;
  }

  /** Queue totals change on most commands: a queue leaves the digest once per entry and re-enters at its end. */
  private mutQueue(q: Queue, f: () => void): void {
    if (!q.dirty) {
      this.sum.sub(this.hashQueue(q));
      q.dirty = true;
      this.dirtyQueues.push(q);
    }
    f();
  }

  /** @internal */ flushQueues(): void {
    for (const q of this.dirtyQueues) {
      if (!q.dirty) continue;
      q.dirty = false;
      this.sum.add(this.hashQueue(q));
    }
    this.dirtyQueues.length = 0;
  }

  /** @internal */ hashKey(q: string, key: string, id: number, expiresAt: number): Hasher {
    return this.h.reset().tag(32).str(q).str(key).int(id).int(expiresAt);
  }

  private bucket(t: number): number {
    const b = this.limits.sweepBucketMs;
    return Math.ceil(t / b) * b;
  }

  private ev(t: Task, type: TaskEventType, reason?: string): void {
    if (!this.eventsOn) return;
    const e: TaskEvent = {
      type,
      id: formatId(t.id),
      queue: t.q.name,
      index: this.index,
      state: STATE_NAMES[t.state] as TaskEvent['state'],
    };
    if (t.state === S_LEASED) e.token = formatId(t.token);
    if (reason !== undefined) e.reason = reason;
    this.events.push(e);
  }

  // ------------------------------------------------------------------ task placement

  private setState(t: Task, s: number): void {
    assert(!isTerminal(t.state), 'a terminal state is final');
    const c = t.q.counts;
    c[t.state] = (c[t.state] as number) - 1;
    c[s] = (c[s] as number) + 1;
    if (isTerminal(s) && !isTerminal(t.state)) this.nonTerminal--;
    t.state = s;
  }

  /** Take the task out of whichever heap holds it (ready, delayed or leased). */
  private detach(t: Task): void {
    if (t.pos < 0) return;
    if (t.state === S_WAITING) t.q.ready.remove(t);
    else if (t.state === S_DELAYED) (t.x?.wallDue === true ? this.wallDelay : this.monoDelay).remove(t);
    else if (t.state === S_LEASED) this.leaseHeap.remove(t);
  }

  /** @internal */ groupOf(t: Task): Group | undefined {
    const g = t.x?.group;
    return g === undefined ? undefined : t.q.groups.get(g);
  }

  /** @internal */ eligible(t: Task): boolean {
    const g = this.groupOf(t);
    return g === undefined || g.tasks[g.head] === t;
  }

  /** Inside mut(): make it waiting, and ready unless an earlier task of its group blocks it. */
  private toWaiting(t: Task): void {
    this.detach(t);
    this.setState(t, S_WAITING);
    t.due = 0;
    if (t.x !== undefined) t.x.wallDue = false;
    if (this.eligible(t)) t.q.ready.push(t);
  }

  /** Inside mut(): delayed until `at` on mono (or wall). A paused queue parks it outside the heaps. */
  private toDelayed(t: Task, at: number, wallDue: boolean): void {
    this.detach(t);
    this.setState(t, S_DELAYED);
    t.due = at;
    if (wallDue || t.x !== undefined) t.extra().wallDue = wallDue;
    if (!t.q.settings.paused) (wallDue ? this.wallDelay : this.monoDelay).push(t);
  }

  /** Inside mut(): a terminal state. Unblocks its group, schedules retention, dead-letters. */
  private toTerminal(t: Task, s: number, reason: string): void {
    this.detach(t);
    this.setState(t, s);
    t.reason = reason;
    t.endedMono = this.mono;
    t.removeAt = this.bucket(this.mono + t.q.settings.retentionMs);
    t.worker = undefined;
    if (t.x !== undefined) t.x.wallDue = false;
    this.retentionTimers.push({ at: t.removeAt, key: t.id });
  }

  /** After a task became terminal (outside its mut): totals, group head, events, dead letter. */
  private afterTerminal(t: Task, total: number, evType: TaskEventType): void {
    this.mutQueue(t.q, () => (t.q.totals[total] = (t.q.totals[total] as number) + 1));
    this.advanceGroup(t);
    this.ev(t, evType, t.reason);
    if (t.state === S_DEAD) this.deadLetter(t);
  }

  private advanceGroup(t: Task): void {
    const name = t.x?.group;
    if (name === undefined) return;
    const g = t.q.groups.get(name);
    if (g === undefined || g.tasks[g.head] !== t) return;
    while (g.head < g.tasks.length && isTerminal((g.tasks[g.head] as Task).state)) g.head++;
    if (g.head >= g.tasks.length) {
      t.q.groups.delete(name);
      return;
    }
    if (g.head > 64 && g.head * 2 > g.tasks.length) {
      g.tasks = g.tasks.slice(g.head);
      g.head = 0;
    }
    const next = g.tasks[g.head] as Task;
    if (next.state === S_WAITING && next.pos < 0) next.q.ready.push(next);
  }

  private finish(t: Task, s: number, reason: string, total: number, evType: TaskEventType): void {
    this.mut(t, () => this.toTerminal(t, s, reason));
    this.afterTerminal(t, total, evType);
  }

  // ------------------------------------------------------------------ time (DESIGN.md §2)

  /** Transitions due at this entry's stamps, in a defined order, capped per entry. */
  private runDue(): void {
    let budget = this.limits.transitionsPerEntryMax;
    for (
      let t = this.leaseHeap.peek();
      budget > 0 && t !== undefined && t.due <= this.mono;
      t = this.leaseHeap.peek()
    ) {
      budget--;
      this.expireLease(t);
    }
    for (
      let t = this.monoDelay.peek();
      budget > 0 && t !== undefined && t.due <= this.mono;
      t = this.monoDelay.peek()
    ) {
      budget--;
      this.delayedReady(t);
    }
    for (
      let t = this.wallDelay.peek();
      budget > 0 && t !== undefined && t.due <= this.wall;
      t = this.wallDelay.peek()
    ) {
      budget--;
      this.delayedReady(t);
    }
    for (let e = this.ttlTimers.peek(); budget > 0 && e !== undefined && e.at <= this.mono; e = this.ttlTimers.peek()) {
      budget--;
      this.ttlTimers.pop();
      const t = this.tasks.get(e.key as number);
      if (t !== undefined && this.ttlDue(t)) this.expireTtl(t);
    }
    if (budget === 0) this.counters.transitionsDeferred++;
  }

  private ttlDue(t: Task): boolean {
    const at = t.x?.ttlAt;
    return at !== undefined && at <= this.mono && t.leases === 0 && (t.state === S_WAITING || t.state === S_DELAYED);
  }

  private expireTtl(t: Task): void {
    this.finish(t, S_EXPIRED, 'ttl', T_EXPIRED, 'expired');
  }

  private delayedReady(t: Task): void {
    this.mut(t, () => this.toWaiting(t));
    this.ev(t, 'ready');
  }

  private endAttempt(t: Task, end: string, error: string | null, answer: unknown): void {
    const h = t.history;
    const a = h?.[h.length - 1];
    if (a === undefined || a.token !== t.token || a.end !== null) return;
    a.end = end;
    a.endedMono = this.mono;
    a.error = error;
    a.answer = answer;
  }

  private expireLease(t: Task): void {
    const maxDeliveries = t.x?.maxDeliveries ?? t.q.settings.maxDeliveries;
    let dead = false;
    this.mut(t, () => {
      t.deliveries++;
      dead = t.deliveries >= maxDeliveries;
      this.endAttempt(t, 'lease_expired', null, null);
      if (dead) this.toTerminal(t, S_DEAD, 'max_deliveries');
      else this.toWaiting(t);
      t.worker = undefined;
    });
    this.mutQueue(t.q, () => (t.q.totals[T_LEASE_EXPIRED] = (t.q.totals[T_LEASE_EXPIRED] as number) + 1));
    if (dead) this.afterTerminal(t, T_DEAD, 'dead');
    else this.ev(t, 'lease_expired');
  }

  /** Lazy expiries in ≥ 1 s buckets: retention, idempotency keys, sessions. Capped per entry. */
  private sweep(): void {
    let budget = this.limits.sweepPerEntryMax;
    for (
      let e = this.retentionTimers.peek();
      budget > 0 && e !== undefined && e.at <= this.mono;
      e = this.retentionTimers.peek()
    ) {
      budget--;
      this.retentionTimers.pop();
      const t = this.tasks.get(e.key as number);
      if (t !== undefined && isTerminal(t.state) && t.removeAt === e.at) this.removeTask(t, true);
    }
    for (let e = this.keyTimers.peek(); budget > 0 && e !== undefined && e.at <= this.mono; e = this.keyTimers.peek()) {
      budget--;
      this.keyTimers.pop();
      const [qn, key] = splitKeyTimer(e.key as string);
      const q = this.queues.get(qn);
      const k = q?.keys.get(key);
      if (q !== undefined && k !== undefined && k.expiresAt <= this.mono) {
        this.sum.sub(this.hashKey(q.name, key, k.id, k.expiresAt));
        q.keys.delete(key);
      }
    }
    for (
      let e = this.sessionTimers.peek();
      budget > 0 && e !== undefined && e.at <= this.mono;
      e = this.sessionTimers.peek()
    ) {
      budget--;
      this.sessionTimers.pop();
      const s = this.sessions.get(e.key as string);
      if (s === undefined) continue;
      const end = s.lastMono + s.timeoutMs;
      if (end <= this.mono) this.removeSession(s);
      else this.sessionTimers.push({ at: this.bucket(end), key: s.id });
    }
  }

  /** @internal */ removeTask(t: Task, byRetention: boolean): void {
    assert(isTerminal(t.state) && t.pos < 0, 'only terminal tasks are removed');
    this.sum.subPair(t.ha, t.hb);
    this.tasks.delete(t.id);
    t.q.unlink(t);
    const c = t.q.counts;
    c[t.state] = (c[t.state] as number) - 1;
    if (byRetention) this.mutQueue(t.q, () => (t.q.totals[T_REMOVED] = (t.q.totals[T_REMOVED] as number) + 1));
    this.ev(t, 'removed', byRetention ? 'retention' : 'deleted');
  }

  // ------------------------------------------------------------------ queues

  private settingsFrom(base: QueueSettings, patch: SettingsPatch): QueueSettings {
    const out = { ...base, ...patch, backoff: { ...base.backoff, ...(patch.backoff ?? {}) } } as QueueSettings;
    return out;
  }

  private newQueue(name: string, patch: SettingsPatch): Queue {
    const q = new Queue(name, this.settingsFrom(DEFAULT_QUEUE_SETTINGS as QueueSettings, patch));
    this.queues.set(name, q);
    this.sum.add(this.hashQueue(q));
    return q;
  }

  private createQueue(cmd: CommandOf<'createQueue'>): Answer {
    if (this.queues.has(cmd.queue)) return err('ALREADY_EXISTS', `queue ${cmd.queue} exists`);
    if (this.queues.size >= this.limits.queuesMax) {
      return err('RESOURCE_EXHAUSTED', 'too many queues', { limit: 'queuesMax', retryAfterMs: 1000 });
    }
    const q = this.newQueue(cmd.queue, cmd.settings ?? {});
    return ok({ queue: q.name, settings: q.settings });
  }

  private configureQueue(name: string, patch: SettingsPatch): Answer {
    const q = this.queues.get(name);
    if (q === undefined) return err('NOT_FOUND', `no queue ${name}`);
    const wasPaused = q.settings.paused;
    this.mutQueue(q, () => {
      q.settings = this.settingsFrom(q.settings, patch);
      q.hashSettings();
    });
    if (wasPaused !== q.settings.paused) this.repark(q);
    return ok({ queue: q.name, settings: q.settings });
  }

  /** Pause parks the queue's delayed tasks outside the heaps (nothing due); resume puts them back. */
  private repark(q: Queue): void {
    for (let t = q.first; t !== null; t = t.qnext) {
      if (t.state !== S_DELAYED) continue;
      const heap = t.x?.wallDue === true ? this.wallDelay : this.monoDelay;
      if (q.settings.paused && t.pos >= 0) heap.remove(t);
      else if (!q.settings.paused && t.pos < 0) heap.push(t);
    }
  }

  private cancelAll(q: Queue, reason: string): number {
    let n = 0;
    for (let t = q.first; t !== null; t = t.qnext) {
      if (isTerminal(t.state)) continue;
      this.mut(t, () => {
        if (t.state === S_LEASED) {
          this.endAttempt(t, 'cancelled', null, null);
          t.worker = undefined;
        }
        this.toTerminal(t, S_CANCELLED, reason);
      });
      this.afterTerminal(t, T_CANCELLED, 'cancelled');
      n++;
    }
    return n;
  }

  private purgeQueue(name: string): Answer {
    const q = this.queues.get(name);
    if (q === undefined) return err('NOT_FOUND', `no queue ${name}`);
    return ok({ purged: this.cancelAll(q, 'purged') });
  }

  private deleteQueue(name: string, force: boolean): Answer {
    const q = this.queues.get(name);
    if (q === undefined) return err('NOT_FOUND', `no queue ${name}`);
    if (q.nonTerminal() > 0 && !force) {
      return err('FAILED_PRECONDITION', `queue ${name} holds non-terminal tasks`, { reason: 'queue_not_empty' });
    }
    const cancelled = this.cancelAll(q, 'deleted');
    for (let t = q.first; t !== null;) {
      const next = t.qnext;
      this.removeTask(t, false);
      t = next;
    }
    for (const [key, k] of q.keys) this.sum.sub(this.hashKey(q.name, key, k.id, k.expiresAt));
    if (q.dirty)
      q.dirty = false; // already out of the digest until the end of this entry
    else this.sum.sub(this.hashQueue(q));
    this.queues.delete(name);
    return ok({ cancelled });
  }

  // ------------------------------------------------------------------ enqueue

  private liveKey(q: Queue | undefined, key: string | undefined): number | undefined {
    if (q === undefined || key === undefined) return undefined;
    const k = q.keys.get(key);
    return k !== undefined && k.expiresAt > this.mono ? k.id : undefined;
  }

  private enqueue(cmd: CommandOf<'enqueue'>): Answer {
    const existing = this.queues.get(cmd.queue);
    const items: { id: string; deduplicated: boolean }[] = [];
    const batchKeys = new Map<string, number>();
    let fresh = 0;
    // First pass decides everything (all-or-nothing); nothing is mutated until it passes.
    for (const spec of cmd.tasks) {
      const dup =
        this.liveKey(existing, spec.idempotencyKey) ??
        (spec.idempotencyKey === undefined ? undefined : batchKeys.get(spec.idempotencyKey));
      if (dup !== undefined) {
        items.push({ id: formatId(dup), deduplicated: true });
        continue;
      }
      const id = this.nextTaskId + fresh++;
      if (spec.idempotencyKey !== undefined) batchKeys.set(spec.idempotencyKey, id);
      items.push({ id: formatId(id), deduplicated: false });
    }
    const full = this.capacityError(existing, fresh);
    if (full !== null) return full;
    const q = existing ?? this.newQueue(cmd.queue, {});
    for (let i = 0; i < cmd.tasks.length; i++) {
      if ((items[i] as { deduplicated: boolean }).deduplicated) continue;
      this.createTask(q, cmd.tasks[i] as TaskSpec);
    }
    return ok({ items });
  }

  private capacityError(q: Queue | undefined, fresh: number): Answer | null {
    if (fresh === 0) return null;
    if (q === undefined && this.queues.size >= this.limits.queuesMax) {
      return err('RESOURCE_EXHAUSTED', 'too many queues', { limit: 'queuesMax', retryAfterMs: 1000 });
    }
    const maxLength = q?.settings.maxLength ?? null;
    if (maxLength !== null && q !== undefined && q.nonTerminal() + fresh > maxLength) {
      return err('RESOURCE_EXHAUSTED', `queue ${q.name} is full`, { limit: 'maxLength', retryAfterMs: 1000 });
    }
    if (this.nonTerminal + fresh > this.limits.tasksMax) {
      return err('RESOURCE_EXHAUSTED', 'the broker is full', { limit: 'tasksMax', retryAfterMs: 1000 });
    }
    return null;
  }

  /** @internal */ createTask(q: Queue, spec: TaskSpec, link?: (t: Task) => void): Task {
    const id = this.nextTaskId++;
    const ph = this.h.reset().bytes(spec.payload).a;
    const t = new Task(id, q, bytesToLatin1(spec.payload), ph, spec.priority ?? 0, this.mono, this.wall);
    if (spec.headers !== undefined && Object.keys(spec.headers).length > 0) t.extra().headers = spec.headers;
    if (spec.maxAttempts !== undefined) t.extra().maxAttempts = spec.maxAttempts;
    if (spec.maxDeliveries !== undefined) t.extra().maxDeliveries = spec.maxDeliveries;
    if (spec.leaseMs !== undefined) t.extra().leaseMs = spec.leaseMs;
    const ttl = spec.ttlMs ?? q.settings.taskTtlMs;
    if (ttl !== null) {
      t.extra().ttlAt = this.mono + ttl;
      this.ttlTimers.push({ at: this.mono + ttl, key: id });
    }
    if (spec.idempotencyKey !== undefined) this.recordKey(q, spec.idempotencyKey, t);
    if (spec.group !== undefined) this.joinGroup(q, spec.group, t);
    link?.(t);
    this.tasks.set(id, t);
    q.append(t);
    q.counts[S_WAITING] = (q.counts[S_WAITING] as number) + 1;
    this.nonTerminal++;
    this.place(t, spec.delayMs, spec.runAt);
    this.addTask(t);
    this.mutQueue(q, () => (q.totals[T_ENQUEUED] = (q.totals[T_ENQUEUED] as number) + 1));
    this.ev(t, 'enqueued');
    return t;
  }

  /** Initial placement of a new or updated task (not inside mut for new tasks: not hashed yet). */
  private place(t: Task, delayMs: number | undefined, runAt: number | undefined): void {
    if (delayMs !== undefined && delayMs > 0) this.toDelayed(t, this.mono + delayMs, false);
    else if (runAt !== undefined && runAt > this.wall) this.toDelayed(t, runAt, true);
    else this.toWaiting(t);
  }

  private recordKey(q: Queue, key: string, t: Task): void {
    const old = q.keys.get(key);
    if (old !== undefined) this.sum.sub(this.hashKey(q.name, key, old.id, old.expiresAt));
    const expiresAt = this.mono + q.settings.idempotencyWindowMs;
    q.keys.set(key, { id: t.id, expiresAt });
    this.sum.add(this.hashKey(q.name, key, t.id, expiresAt));
    this.keyTimers.push({ at: this.bucket(expiresAt), key: keyTimer(q.name, key) });
    t.extra().key = key;
  }

  private joinGroup(q: Queue, name: string, t: Task): void {
    t.extra().group = name;
    const g = q.groups.get(name);
    if (g === undefined) q.groups.set(name, { tasks: [t], head: 0 });
    else g.tasks.push(t);
  }

  // ------------------------------------------------------------------ lease and its endings

  private lease(cmd: CommandOf<'lease'>): Answer {
    const q = this.queues.get(cmd.queue);
    const out: LeasedTask[] = [];
    if (q === undefined || q.settings.paused) return ok({ tasks: out });
    let n = cmd.max;
    if (q.settings.concurrency !== null) n = Math.min(n, q.settings.concurrency - (q.counts[S_LEASED] as number));
    // Expired-by-TTL candidates are skipped inline; bound that work too.
    let skips = this.limits.transitionsPerEntryMax;
    while (out.length < n && q.ready.size > 0) {
      const t = q.ready.peek() as Task;
      if (this.ttlDue(t)) {
        if (skips-- <= 0) break;
        this.expireTtl(t);
        continue;
      }
      out.push(this.grant(t, cmd.workerId, cmd.leaseMs));
    }
    return ok({ tasks: out });
  }

  private grant(t: Task, worker: string, leaseMsCmd: number | undefined): LeasedTask {
    assert(t.state === S_WAITING && this.eligible(t), 'only a ready task is leased');
    assert(this.index > t.token, 'fencing tokens increase');
    const leaseMs = leaseMsCmd ?? t.x?.leaseMs ?? t.q.settings.leaseMs;
    const limit = this.limits.historyMax;
    this.mut(t, () => {
      this.detach(t);
      this.setState(t, S_LEASED);
      t.leases++;
      t.token = this.index;
      t.due = this.mono + leaseMs;
      t.worker = worker;
      t.leaseMsCur = leaseMs;
      if (t.x !== undefined) t.x.progress = undefined;
      const h = t.history ?? (t.history = []);
      h.push({
        token: this.index,
        worker,
        leasedMono: this.mono,
        leasedWall: this.wall,
        end: null,
        endedMono: null,
        error: null,
        answer: null,
      });
      if (h.length > limit) h.splice(0, h.length - limit);
      this.leaseHeap.push(t);
    });
    this.ev(t, 'leased');
    const lt: LeasedTask = {
      id: formatId(t.id),
      queue: t.q.name,
      token: formatId(t.token),
      payload: latin1ToBytes(t.payload),
      headers: t.x?.headers ?? EMPTY_HEADERS,
      priority: t.priority,
      deadlineMono: t.due,
      leaseMs,
      attempts: t.attempts,
      deliveries: t.deliveries,
      leases: t.leases,
    };
    if (t.x?.checkpoint !== undefined) lt.checkpoint = t.x.checkpoint;
    if (t.x?.group !== undefined) lt.group = t.x.group;
    return lt;
  }

  private findAttempt(t: Task, token: number): Attempt | undefined {
    const h = t.history;
    if (h === undefined) return undefined;
    for (let i = h.length - 1; i >= 0; i--) if ((h[i] as Attempt).token === token) return h[i];
    return undefined;
  }

  /**
   * Shared checks of ack / nack / extend / release. A repeat of how this attempt already ended
   * returns the original answer (checked first, DESIGN.md §1.4); then token and deadline.
   */
  private checkLease(idStr: string, tokenStr: string, end: string | null): { t: Task } | { answer: Answer } {
    const id = parseId(idStr) as number;
    const token = parseId(tokenStr) as number;
    const t = this.tasks.get(id);
    if (t === undefined) return { answer: err('NOT_FOUND', `no task ${idStr}`) };
    if (end !== null) {
      const a = this.findAttempt(t, token);
      if (a !== undefined && a.end === end) return { answer: ok(a.answer) };
    }
    if (token >= this.index) return { answer: err('LEASE_LOST', 'token from the future') };
    if (t.state !== S_LEASED || t.token !== token) return { answer: err('LEASE_LOST', 'not the current lease') };
    if (t.due <= this.mono) return { answer: err('LEASE_LOST', 'lease deadline passed') };
    return { t };
  }

  private ackOne(id: string, token: string, result: Uint8Array | undefined): Answer {
    const c = this.checkLease(id, token, 'acked');
    if ('answer' in c) return c.answer;
    const t = c.t;
    const answer = { state: 'completed' };
    this.mut(t, () => {
      this.endAttempt(t, 'acked', null, answer);
      t.worker = undefined;
      if (result !== undefined) t.extra().result = copyBytes(result);
      this.toTerminal(t, S_COMPLETED, 'acked');
    });
    this.afterTerminal(t, T_COMPLETED, 'completed');
    return ok(answer);
  }

  private nack(cmd: CommandOf<'nack'>): Answer {
    const c = this.checkLease(cmd.id, cmd.token, 'nacked');
    if ('answer' in c) return c.answer;
    const t = c.t;
    const maxAttempts = t.x?.maxAttempts ?? t.q.settings.maxAttempts;
    const answer: NackAnswer = { state: 'waiting' };
    this.mut(t, () => {
      t.attempts++;
      t.worker = undefined;
      if (cmd.error !== undefined) t.extra().lastError = cmd.error;
      if (cmd.dead === true || t.attempts >= maxAttempts) {
        answer.state = 'dead';
        this.toTerminal(t, S_DEAD, cmd.dead === true ? 'nacked_dead' : 'max_attempts');
      } else {
        const delay = cmd.delayMs ?? backoffDelay(t.q.settings, t.id, t.attempts);
        if (delay > 0) {
          answer.state = 'delayed';
          answer.runAtMono = this.mono + delay;
          this.toDelayed(t, this.mono + delay, false);
        } else this.toWaiting(t);
      }
      this.endAttempt(t, 'nacked', cmd.error ?? null, answer);
    });
    this.mutQueue(t.q, () => (t.q.totals[T_FAILED] = (t.q.totals[T_FAILED] as number) + 1));
    if (t.state === S_DEAD) {
      this.afterTerminal(t, T_DEAD, 'dead');
      // The dead-letter id is filled in after the fact; the stored answer object is the same one.
      const dl = t.x?.deadLetterId;
      if (dl !== undefined) this.mut(t, () => (answer.deadLetterId = formatId(dl)));
    } else this.ev(t, 'failed');
    return ok(answer);
  }

  private release(cmd: CommandOf<'release'>): Answer {
    const c = this.checkLease(cmd.id, cmd.token, 'released');
    if ('answer' in c) return c.answer;
    const t = c.t;
    const answer = { state: 'waiting' };
    this.mut(t, () => {
      this.endAttempt(t, 'released', null, answer);
      t.worker = undefined;
      this.toWaiting(t);
    });
    this.ev(t, 'released');
    return ok(answer);
  }

  private extend(cmd: CommandOf<'extend'>): Answer {
    const c = this.checkLease(cmd.id, cmd.token, null);
    if ('answer' in c) return c.answer;
    const t = c.t;
    this.mut(t, () => {
      const leaseMs = cmd.leaseMs ?? t.leaseMsCur ?? t.q.settings.leaseMs;
      t.leaseMsCur = leaseMs;
      t.due = this.mono + leaseMs;
      this.leaseHeap.update(t);
      if (cmd.progress !== undefined) t.extra().progress = cmd.progress;
      if (cmd.checkpoint !== undefined) t.extra().checkpoint = copyBytes(cmd.checkpoint);
    });
    this.ev(t, 'extended');
    return ok({ deadlineMono: t.due });
  }

  // ------------------------------------------------------------------ cancel, promote, update

  private taskOr404(idStr: string): Task | Answer {
    const t = this.tasks.get(parseId(idStr) as number);
    return t ?? err('NOT_FOUND', `no task ${idStr}`);
  }

  private notPending(t: Task): Answer {
    return t.state === S_LEASED
      ? err('FAILED_PRECONDITION', 'task is leased', { reason: 'task_leased' })
      : err('FAILED_PRECONDITION', `task is ${STATE_NAMES[t.state]}`, { reason: 'task_terminal' });
  }

  private cancel(idStr: string): Answer {
    const t = this.taskOr404(idStr);
    if (!(t instanceof Task)) return t;
    if (t.state !== S_WAITING && t.state !== S_DELAYED) return this.notPending(t);
    this.finish(t, S_CANCELLED, 'cancelled', T_CANCELLED, 'cancelled');
    return ok({ state: 'cancelled' });
  }

  private promote(idStr: string): Answer {
    const t = this.taskOr404(idStr);
    if (!(t instanceof Task)) return t;
    if (t.state !== S_DELAYED) return err('FAILED_PRECONDITION', 'task is not delayed', { reason: 'not_delayed' });
    this.mut(t, () => this.toWaiting(t));
    this.ev(t, 'ready');
    return ok({ state: 'waiting' });
  }

  private update(cmd: CommandOf<'update'>): Answer {
    const t = this.taskOr404(cmd.id);
    if (!(t instanceof Task)) return t;
    if (t.state !== S_WAITING && t.state !== S_DELAYED) return this.notPending(t);
    this.mut(t, () => {
      if (cmd.payload !== undefined) {
        t.payload = bytesToLatin1(cmd.payload);
        t.ph = this.h.reset().bytes(cmd.payload).a;
      }
      if (cmd.priority !== undefined && cmd.priority !== t.priority) {
        t.priority = cmd.priority;
        if (t.state === S_WAITING && t.pos >= 0) t.q.ready.update(t);
      }
      if (cmd.delayMs !== undefined || cmd.runAt !== undefined) this.place(t, cmd.delayMs, cmd.runAt);
    });
    this.ev(t, 'updated');
    return ok({ state: STATE_NAMES[t.state] });
  }

  // ------------------------------------------------------------------ dead letters (DESIGN.md §3)

  private deadLetter(t: Task): void {
    const target = t.q.settings.deadLetterQueue;
    if (target === null || target === t.q.name) return;
    let q = this.queues.get(target);
    if (q === undefined) {
      if (this.queues.size >= this.limits.queuesMax) return;
      q = this.newQueue(target, {});
    }
    const spec: TaskSpec = { payload: latin1ToBytes(t.payload), priority: t.priority };
    if (t.x?.headers !== undefined) spec.headers = t.x.headers;
    // Copies without answers: the source's answer objects may still gain a deadLetterId.
    const history = (t.history ?? []).map((a) => ({ ...a, answer: null }));
    const d = this.createTask(q, spec, (n) => {
      n.extra().deadLetterOf = { id: t.id, queue: t.q.name, reason: t.reason ?? 'dead', history };
    });
    this.mut(t, () => (t.extra().deadLetterId = d.id));
  }

  private redrive(cmd: CommandOf<'redrive'>): Answer {
    const q = this.queues.get(cmd.queue);
    if (q === undefined) return err('NOT_FOUND', `no queue ${cmd.queue}`);
    const max = cmd.max ?? this.limits.redriveMax;
    const picked: Task[] = [];
    if (cmd.ids !== undefined) {
      for (const s of cmd.ids) {
        const t = this.tasks.get(parseId(s) as number);
        if (t !== undefined && t.q === q && redrivable(t) && !picked.includes(t)) picked.push(t);
      }
    } else {
      for (let t = q.first; t !== null && picked.length < max; t = t.qnext) if (redrivable(t)) picked.push(t);
    }
    const targets = picked.map((t) => cmd.toQueue ?? t.x?.deadLetterOf?.queue ?? q.name);
    const missing = new Set(targets.filter((n) => !this.queues.has(n)));
    if (this.queues.size + missing.size > this.limits.queuesMax) {
      return err('RESOURCE_EXHAUSTED', 'too many queues', { limit: 'queuesMax', retryAfterMs: 1000 });
    }
    const out: { from: string; id: string }[] = [];
    picked.forEach((t, i) =>
      out.push({ from: formatId(t.id), id: formatId(this.redriveOne(t, targets[i] as string)) }),
    );
    return ok({ items: out });
  }

  private redriveOne(t: Task, targetName: string): number {
    const target = this.queues.get(targetName) ?? this.newQueue(targetName, {});
    const x = t.x;
    const spec: TaskSpec = { payload: latin1ToBytes(t.payload), priority: t.priority };
    if (x?.headers !== undefined) spec.headers = x.headers;
    if (x?.group !== undefined) spec.group = x.group;
    const n = this.createTask(target, spec, (nt) => (nt.extra().redrivenFrom = t.id));
    if (t.state === S_DEAD) this.mut(t, () => (t.extra().redrivenTo = n.id));
    else this.finish(t, S_CANCELLED, 'redriven', T_CANCELLED, 'cancelled');
    return n.id;
  }
}

/** A dead task not already copied or redriven, or a waiting / delayed dead letter. */
export function redrivable(t: Task): boolean {
  const x = t.x;
  if (t.state === S_DEAD) return x?.deadLetterId === undefined && x?.redrivenTo === undefined;
  return (t.state === S_WAITING || t.state === S_DELAYED) && x?.deadLetterOf !== undefined;
}

function keyTimer(queue: string, key: string): string {
  return `${queue}\u0000${key}`;
}

function splitKeyTimer(k: string): [string, string] {
  const i = k.indexOf('\u0000');
  return [k.slice(0, i), k.slice(i + 1)];
}

/** Cached session answers keep no payloads (DESIGN.md §1.5): a retried lease reads the task by id. */
function stripPayloads(answer: Answer): Answer {
  if (!answer.ok) return answer;
  const v = answer.value as { tasks?: LeasedTask[] } | null;
  if (v === null || typeof v !== 'object' || !Array.isArray(v.tasks)) return answer;
  return ok({ ...v, tasks: v.tasks.map(({ payload: _p, ...rest }) => rest) });
}
