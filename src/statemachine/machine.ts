// The queue state machine (docs/design.md §1–§3). Pure and deterministic: the same log gives the same
// state, answers and digest on every replica. It reads no clock: time is the entry's stamps.
//
// apply(entry) is, in order:
//   1. the index advances by one (a stale index is a counted no-op);
//   2. undecodable bytes are a counted no-op;
//   3. mono / wall advance to the entry's stamps (never backwards);
//   4. due transitions and lazy removals (time.ts), then pending admin work (jobs.ts), each capped;
//   5. each command of the envelope under its session's rules (sessions.ts), dispatched below.
// Invalid commands get error answers; a failed assertion (a bug) propagates to the caller.
//
// The state is one record, MachineState (state.ts); every module works on it.

import type { Answer, Command, CommandAnswer, ReadAnswer, ReadQuery, TaskEvent, TaskState } from '../protocol/index.js';
import { asLogIndex, decodeEnvelope, parseId, validateCommand } from '../protocol/index.js';
import type { LogIndex, Term } from '../protocol/index.js';
import { assert, isAssertionError } from '../protocol/assert.js';
import { cancel, deleteQueue, promote, purgeQueue, update } from './admin.js';
import { redrive, redriveVisit } from './deadletters.js';
import { boundLazyDigest, digestOf, flushQueues } from './digest.js';
import { admit } from './backpressure.js';
import { enqueue } from './enqueue.js';
import { cancelFlow, dependencyEnded, flow } from './flows.js';
import { bindTopic, publish, unbindTopic } from './topics.js';
import { runJobs } from './jobs.js';
import { ack, extend, hasReady, lease, nack, release, takesPlainWork } from './lease.js';
import { configureQueue, createQueue } from './queues.js';
import * as reads from './reads.js';
import type { Session } from './records.js';
import { STATE_NAMES } from './records.js';
import { applyInSession, openSession, removeSession } from './sessions.js';
import * as snap from './snapshot.js';
import type { MachineCounters, MachineLimits } from './state.js';
import { DEFAULT_MACHINE_LIMITS, MachineState, err, ok } from './state.js';
import { nextDue, runDue, sweep } from './time.js';
import { isTokenCommand, tokenCommand } from './tokens.js';
import type { TokenCommand, TokenRecord } from '../protocol/tokens.js';
import * as sched from './schedules.js';
import { sharedLimitCommand } from './shared-limits-commands.js';
import { activateVersion, refuseAbove } from './activate.js';
import { SM_MAX } from './version.js';
import { PayloadStore } from './payloads.js';

export { backoffDelay } from './lease.js';
export { ok, err } from './state.js';
export type { MachineCounters, MachineLimits } from './state.js';
export { DEFAULT_MACHINE_LIMITS } from './state.js';

export interface MachineOptions {
  limits?: Partial<MachineLimits>;
  /** Record task events for drainEvents() (default true). */
  events?: boolean;
  /**
   * The highest state machine version this replica may apply (version.ts; default SM_MAX). Only
   * decides whether the replica stops (SmVersionError): what an entry does depends on the state's
   * activeVersion alone, so replicas with different caps agree at every index they apply.
   */
  smMax?: number;
  /** Planted bug (tests only): a snapshot's tasks save no row before they change (snapshot-cow.ts). */
  plantSnapshotNoCow?: boolean;
  /** Planted bug (tests only): a restore puts back tasks whose only extra field is headers without them. */
  plantRestoreLosesHeaders?: boolean;
  /** Planted bug (tests only): a snapshot's task chunks write each byte string's length one short (snapshot-rows.ts). */
  plantSnapshotShortBin?: boolean;
  /** Tasks per snapshot chunk (default 256): small in simulations, so snapshots take many chunks. */
  snapshotChunkTasks?: number;
  /** Bytes per payload slab (payloads.ts; default 256 KiB): small in simulations, so slabs are compacted. */
  payloadSlabBytes?: number;
  /** Sparse slabs before a compaction pass, at least (payloads.ts; default 8). */
  payloadCompactMinSlabs?: number;
  /** Planted bug (tests only): compacting payload slabs copies each payload from one byte too far. */
  plantCompactionShift?: boolean;
}

/** One row of taskCounts(): how many tasks of `queue` are in `state` now. */
export interface TaskCount {
  queue: string;
  state: TaskState;
  count: number;
}

export class QueueStateMachine {
  readonly limits: MachineLimits;
  /** This replica's cap (MachineOptions.smMax). */
  readonly smMax: number;
  /** @internal The whole state, for this package's modules and white-box tests. */
  readonly state: MachineState;
  private readonly plantSnapshotNoCow: boolean;

  constructor(opts: MachineOptions = {}) {
    const limits = { ...DEFAULT_MACHINE_LIMITS, ...(opts.limits ?? {}) };
    if (limits.sweepBucketMs < 1000) throw new Error('sweepBucketMs must be ≥ 1000 (docs/design.md §2)');
    this.limits = limits;
    this.smMax = opts.smMax ?? SM_MAX;
    this.plantSnapshotNoCow = opts.plantSnapshotNoCow === true;
    const payloads = new PayloadStore(
      opts.payloadSlabBytes,
      opts.payloadCompactMinSlabs,
      opts.plantCompactionShift === true,
    );
    this.state = new MachineState(limits, opts.events ?? true, payloads);
    this.state.plantRestoreLosesHeaders = opts.plantRestoreLosesHeaders === true;
    this.state.plantSnapshotShortBin = opts.plantSnapshotShortBin === true;
    this.state.snapshotChunkTasks = opts.snapshotChunkTasks ?? this.state.snapshotChunkTasks;
    assert(
      Number.isSafeInteger(this.state.snapshotChunkTasks) && this.state.snapshotChunkTasks >= 1,
      'snapshotChunkTasks ≥ 1',
    );
    this.state.onDependencyEnded = dependencyEnded;
  }

  /** Payload slabs (payloads.ts): compaction passes, payloads they moved, live payload bytes. */
  get payloadStats(): { compactions: number; moved: number; liveBytes: number } {
    const p = this.state.payloads;
    return { compactions: p.compactions, moved: p.moved, liveBytes: p.liveBytes };
  }

  /** Counted no-ops, internal errors and monotonic totals: metrics, not replicated state. */
  get counters(): MachineCounters {
    return this.state.counters;
  }

  // ------------------------------------------------------------------ entry points

  /** `term`: the entry's Raft term, recorded with each task transition (0: unknown). */
  apply(index: LogIndex, data: Uint8Array, term: Term | 0 = 0): CommandAnswer[] {
    const st = this.state;
    st.events = [];
    const env = decodeEnvelope(data);
    // A version above this replica's cap stops it before the entry changes anything (activate.ts).
    if (env !== null && index > st.applied) refuseAbove(st, env.cmds, this.smMax);
    if (!this.advanceIndex(index)) return [];
    st.term = Number.isSafeInteger(term) && term > 0 ? term : 0;
    if (env === null) {
      st.counters.undecodable++;
      return [];
    }
    st.mono = Math.max(st.mono, env.mono);
    st.wall = Math.max(st.wall, env.wall);
    try {
      runDue(st);
      sweep(st);
      runJobs(st, redriveVisit);
      sched.runSchedules(st);
    } catch (e) {
      this.internalError(e);
    }
    const out: CommandAnswer[] = [];
    for (const sc of env.cmds) {
      let answer: Answer;
      try {
        answer = applyInSession(st, sc, this.execute);
      } catch (e) {
        answer = this.internalError(e);
      }
      out.push({ session: sc.session, seq: sc.seq, answer });
    }
    flushQueues(st);
    boundLazyDigest(st);
    return out;
  }

  applyEmpty(index: LogIndex): void {
    this.state.events = [];
    this.advanceIndex(index);
  }

  appliedIndex(): LogIndex {
    return asLogIndex(this.state.applied);
  }

  /** The replicated state machine version (version.ts). */
  activeVersion(): number {
    return this.state.activeVersion;
  }

  lastMono(): number {
    return this.state.mono;
  }

  lastWall(): number {
    return this.state.wall;
  }

  drainEvents(): TaskEvent[] {
    const e = this.state.events;
    this.state.events = [];
    return e;
  }

  nextDue(): { mono: number | null; wall: number | null } {
    const due = nextDue(this.state);
    const s = sched.scheduleDue(this.state);
    return s !== null && (due.wall === null || s < due.wall) ? { mono: due.mono, wall: s } : due;
  }

  /** Running schedules holding fewer than `low` recorded slot instants: the leader refills them. */
  scheduleSlotNeeds(low: number): sched.SlotNeed[] {
    return sched.slotNeeds(this.state, low);
  }

  /** Cheap: would a lease on `queue` grant a task now (ready, not paused, below its concurrency)? */
  hasReady(queue: string): boolean {
    return hasReady(this.state, queue);
  }

  /** Cheap: could a plain task enqueued on `queue` now be leased in the same entry (lease.ts)? */
  takesPlainWork(queue: string): boolean {
    return takesPlainWork(this.state, queue);
  }

  /** One task's timing for the node's latency metrics, without copying the task (null if unknown). */
  taskTiming(id: string): { enqueuedMono: number; leases: number; leasedMono: number | null } | null {
    const t = this.state.tasks.get(parseId(id) ?? 0);
    if (t === undefined) return null;
    const last = t.history?.[t.history.length - 1];
    return { enqueuedMono: t.enqMono, leases: t.leases, leasedMono: last?.leasedMono ?? null };
  }

  /** Tasks per (queue, state), every state of every queue, from counts kept incrementally. */
  taskCounts(): TaskCount[] {
    const out: TaskCount[] = [];
    for (const q of this.state.queues.values()) {
      q.counts.forEach((count, i) => out.push({ queue: q.name, state: STATE_NAMES[i] as TaskState, count }));
    }
    return out;
  }

  /**
   * A read of the applied state. Derived fields (ages, expired leases, session expiry, rate buckets)
   * are computed at `at` — the serving leader's current log clocks, passed by the node — when later
   * than the last entry's stamps, and asOf names the stamps used: an idle cluster appends nothing, so
   * ages computed at the last entry would freeze (issue 15). The state machine still reads no clock.
   */
  read(query: ReadQuery, at?: { mono: number; wall: number }): ReadAnswer {
    const st = this.state;
    const [mono, wall] = [st.mono, st.wall];
    const asOf = { index: st.applied, mono: Math.max(mono, at?.mono ?? 0), wall: Math.max(wall, at?.wall ?? 0) };
    // Reads are synchronous and pure: the clocks are moved for this read only, and always put back.
    st.mono = asOf.mono;
    st.wall = asOf.wall;
    try {
      return { asOf, answer: reads.read(st, query) };
    } catch (e) {
      if (isAssertionError(e)) throw e;
      return { asOf, answer: err('INVALID_ARGUMENT', 'malformed query', { field: 'query' }) };
    } finally {
      st.mono = mono;
      st.wall = wall;
    }
  }

  /**
   * The state at the applied index, as chunks; entries may be applied while they are taken (a task
   * about to change saves its row first). A caller that stops early calls the iterator's return().
   * `alloc` gives the buffers the tasks' chunks are copied into (a node reuses them once written).
   */
  snapshot(alloc?: (n: number) => Uint8Array): Iterable<Uint8Array> {
    return snap.snapshotChunks(this.state, this.plantSnapshotNoCow, alloc);
  }

  restore(chunks: Iterable<Uint8Array> | Uint8Array): void {
    snap.restoreInto(this.state, chunks, this.smMax);
  }

  /** The replicated client tokens (tokens.ts) as applied here: the node's auth reads them per call. */
  tokenTable(): { tokens: ReadonlyMap<string, TokenRecord>; live: number } {
    return { tokens: this.state.tokens, live: this.state.tokensLive };
  }

  digest(): string {
    return digestOf(this.state);
  }

  // ------------------------------------------------------------------ internals

  /** A stale index is a counted no-op; otherwise the index advances by exactly one. */
  private advanceIndex(index: number): boolean {
    const st = this.state;
    if (!Number.isSafeInteger(index) || index <= st.applied) {
      st.counters.stale++;
      return false;
    }
    assert(index === st.applied + 1 || st.applied === 0, 'the applied index advances contiguously');
    st.applied = index;
    st.index = index;
    return true;
  }

  /**
   * An AssertionError (a bug) propagates. Any other exception is a bug the invariants did not
   * catch: counted in internalErrors, the entry's queue totals put back in the digest, INTERNAL.
   */
  private internalError(e: unknown): Answer {
    if (isAssertionError(e)) throw e;
    this.state.counters.internalErrors++;
    flushQueues(this.state);
    return err('INTERNAL', 'internal error while applying');
  }

  private readonly execute = (raw: unknown, s: Session | null): Answer => {
    const v = validateCommand(raw, this.limits);
    if (!v.ok) return { ok: false, error: v.error };
    // State machine versions (activate.ts): the cap is this replica's, the version the state's.
    if (v.value.type === 'activateVersion') return activateVersion(this.state, v.value.version, this.smMax);
    return isTokenCommand(v.value) ? tokenCommand(this.state, v.value) : this.dispatch(v.value, s);
  };

  /** The command set. Each family lives in its own module. */
  private dispatch(cmd: Exclude<Command, TokenCommand | { type: 'activateVersion' }>, s: Session | null): Answer {
    const st = this.state;
    switch (cmd.type) {
      case 'openSession':
        return openSession(st, cmd);
      case 'keepAlive':
        return s === null ? err('INVALID_ARGUMENT', 'keepAlive needs a session', { field: 'session' }) : ok({});
      case 'closeSession':
        if (s === null) return err('INVALID_ARGUMENT', 'closeSession needs a session', { field: 'session' });
        removeSession(st, s);
        return ok({});
      case 'advanceTime':
        return ok({});
      case 'createQueue':
        return createQueue(st, cmd);
      case 'configureQueue':
        return configureQueue(st, cmd.queue, cmd.settings);
      case 'pauseQueue':
        return configureQueue(st, cmd.queue, { paused: true });
      case 'resumeQueue':
        return configureQueue(st, cmd.queue, { paused: false });
      case 'purgeQueue':
        return purgeQueue(st, cmd.queue);
      case 'deleteQueue':
        return deleteQueue(st, cmd.queue, cmd.force === true);
      case 'enqueue':
        return enqueue(st, cmd, admit);
      case 'lease':
        return lease(st, cmd);
      case 'extend':
        return extend(st, cmd);
      case 'ack':
        return ack(st, cmd);
      case 'nack':
        return nack(st, cmd);
      case 'release':
        return release(st, cmd);
      case 'cancel':
        return cancel(st, cmd.id, cmd.running === true);
      case 'promote':
        return promote(st, cmd.id);
      case 'update':
        return update(st, cmd);
      case 'redrive':
        return redrive(st, cmd);
      case 'upsertSchedule':
        return sched.upsertSchedule(st, cmd);
      case 'deleteSchedule':
        return sched.deleteSchedule(st, cmd.queue, cmd.id);
      case 'pauseSchedule':
      case 'resumeSchedule':
        return sched.pauseSchedule(st, cmd.queue, cmd.id, cmd.type === 'pauseSchedule');
      case 'triggerSchedule':
        return sched.triggerSchedule(st, cmd.queue, cmd.id);
      case 'scheduleSlots':
        return sched.scheduleSlots(st, cmd);
      case 'flow':
        return flow(st, cmd);
      case 'cancelFlow':
        return cancelFlow(st, cmd.id);
      case 'bindTopic':
        return bindTopic(st, cmd);
      case 'unbindTopic':
        return unbindTopic(st, cmd);
      case 'publish':
        return publish(st, cmd);
      default:
        // The rest of the set: shared limits (their module ends the exhaustive check).
        return sharedLimitCommand(st, cmd);
    }
  }
}
