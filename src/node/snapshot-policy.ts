// When the node snapshots its state machine (every `snapshotEvery` applied entries or
// `snapshotEveryBytes` of applied log, keeping `snapshotKeep` entries below it for slightly lagging
// followers), and the (index, digest) history replicas are compared by.
//
// A large state takes seconds to encode (1,000,000 waiting tasks: 2.5 s, bench/RESULTS.md), so the
// chunks are taken a few per event-loop turn, and everything goes on meanwhile, applying too: the
// state machine keeps the rows of tasks that change before their chunk (snapshot-cow.ts), so the
// chunks all describe the state at one index. A large state is also snapshotted less often: not
// before as many bytes of log as its own size have been applied since the last one (the log's data
// stays on disk, log-memory.ts; a restart replays at most that much).
//
// Members take theirs one after another: all apply the same entries, so all find a snapshot due at
// the same index, and together they stalled every commit (bench/RESULTS.md, session 23). A member
// waits its rank among the members times twice its own last snapshot's duration (1-4 s): while one
// member snapshots, the others still form a quorum.
import { asLogIndex } from '../protocol/ids.js';
import type { RaftNode } from '../raft/node.js';
import type { MemoryStorage } from '../raft/storage.js';
import type { Membership } from '../raft/types.js';
import type { QueueStateMachine } from '../statemachine/index.js';
import type { DriverLogger, DurableLog, SnapshotSink, Timers } from './driver-types.js';
import { ChunkPool } from './snapshot-chunk-pool.js';

export interface SnapshotPolicyDeps {
  raft: RaftNode;
  sm: QueueStateMachine;
  durable: DurableLog;
  log: DriverLogger;
  timers: Timers;
  snapshotEvery: number;
  snapshotEveryBytes: number;
  snapshotKeep: number;
  /** ...and at most this many bytes of them (large entries: 1,000 of them can hold the whole state). */
  snapshotKeepBytes: number;
  /** The Raft storage mirror, to size the entries kept below a snapshot. */
  storage: Pick<MemoryStorage, 'entryBytes' | 'firstIndex'>;
  /** Chunks taken per event-loop turn at most (the state machine's chunks hold up to 256 tasks each). */
  sliceChunks: number;
  /** ...and no more once a turn has taken this long (default 4 ms; 0: no time bound). */
  sliceMs?: number;
  /** The node's monotonic clock, in ms (the injected one: the simulation's is virtual). */
  now(): number;
  /** This node's position among the members (0: snapshots as soon as one is due). */
  rank(): number;
  /** Pause between slices (0: the next event-loop turn; the simulation gives its network time to act). */
  sliceGapMs: number;
  /** Size of the snapshot the node started from (0: none). */
  startBytes: number;
  /** A failed snapshot write is fatal. */
  fatal(err: unknown): void;
  /** Planted bug (simulation only): chunk buffers are reused at once, the sink still holding them. */
  plantEarlyReuse?: boolean;
}

const DIGESTS_KEPT = 1000;
/** From this snapshot size on, the next waits for as many bytes of applied log. */
const LARGE_SNAPSHOT_BYTES = 8 * 1024 * 1024;

/** Chunk bytes queued for the file beyond which taking waits for the disk (bounds the memory). */
const PENDING_BYTES_MAX = 16 * 1024 * 1024;
/** A turn of taking chunks ends after this long: what it adds to a commit's latency while snapshotting. */
const SLICE_MS = 4;
/** Each rank waits twice this node's last snapshot duration, within these bounds (the log grows meanwhile). */
const STAGGER_MIN_MS = 1000;
const STAGGER_MAX_MS = 4000;

interface Taking {
  index: number;
  it: Iterator<Uint8Array>;
  /** The snapshot's file: chunks are written as they are taken, never gathered in memory. */
  sink: SnapshotSink;
  pool: ChunkPool;
  bytes: number;
  startedAt: number;
}

/** A node's position among the members by id: members snapshot in that order. */
export function memberRank(membership: Membership, id: string): number {
  return membership.members.filter((m) => m.id < id).length;
}

export class SnapshotPolicy {
  private lastSnapshotIndex: number;
  private snapshotting = false;
  private taking: Taking | null = null;
  private bytesSince = 0;
  private lastBytes: number;
  private readonly digests: { index: number; digest: string }[] = [];
  /** When a snapshot became due here (null: none due), and how long the last one took, start to commit. */
  private dueAt: number | null = null;
  private lastTookMs = 0;

  constructor(
    private readonly d: SnapshotPolicyDeps,
    snapshotIndex: number,
  ) {
    this.lastSnapshotIndex = snapshotIndex;
    this.lastBytes = d.startBytes;
  }

  /** An entry of `bytes` was applied. */
  noteApplied(bytes: number): void {
    this.bytesSince += bytes;
  }

  /** A snapshot from the leader was installed at `index` (one being taken describes replaced state). */
  installed(index: number, bytes: number): void {
    this.abandon();
    this.dueAt = null;
    this.lastSnapshotIndex = index;
    this.lastBytes = bytes;
    this.bytesSince = 0;
  }

  /** Stops taking chunks (the node stops, or a leader's snapshot replaces the state). */
  abandon(): void {
    if (this.taking === null) return;
    this.taking.sink.abort();
    this.taking.it.return?.();
    this.taking = null;
    this.snapshotting = false;
  }

  /** A snapshot at `applied` is due, this node's turn has come, and none is being written. */
  isDue(applied: number): boolean {
    if (!this.wanted(applied)) {
      this.dueAt = null;
      return false;
    }
    const now = this.d.now();
    this.dueAt ??= now;
    const step = Math.min(STAGGER_MAX_MS, Math.max(STAGGER_MIN_MS, 2 * this.lastTookMs));
    return now - this.dueAt >= this.d.rank() * step;
  }

  private wanted(applied: number): boolean {
    const entries = applied - this.lastSnapshotIndex;
    if (this.snapshotting || entries <= 0) return false;
    if (this.lastBytes >= LARGE_SNAPSHOT_BYTES && this.bytesSince < this.lastBytes) return false;
    return entries >= this.d.snapshotEvery || this.bytesSince >= this.d.snapshotEveryBytes;
  }

  /** Starts a snapshot at `applied` if one is due and none is being written. */
  maybeSnapshot(applied: number): void {
    if (!this.isDue(applied)) return;
    // A leader's snapshot stepped in while this Ready was being persisted replaced the log: ours
    // would describe state the node is about to discard (and its term is no longer known).
    if (this.d.raft.termAt(applied) === undefined) return;
    this.snapshotting = true;
    this.dueAt = null;
    // Now: entries go on being applied while the chunks are taken.
    this.recordDigest(applied);
    this.bytesSince = 0;
    const sink = this.d.durable.beginSnapshot(this.d.raft.snapshotMeta(applied));
    const pool = new ChunkPool(this.d.plantEarlyReuse === true);
    const it = this.d.sm.snapshot(pool.alloc)[Symbol.iterator]();
    this.taking = { index: applied, it, sink, pool, bytes: 0, startedAt: this.d.now() };
    this.take(this.taking);
  }

  private take(t: Taking): void {
    if (this.taking !== t) return;
    const sliceMs = this.d.sliceMs ?? SLICE_MS;
    const until = sliceMs > 0 ? this.d.now() + sliceMs : Infinity;
    try {
      for (let i = 0; i < this.d.sliceChunks && (i === 0 || this.d.now() < until); i++) {
        t.pool.reclaim(t.sink.releasedBytes);
        const r = t.it.next();
        if (r.done === true) return this.taken(t);
        t.pool.handedOut(r.value);
        t.sink.write(r.value);
        t.bytes += r.value.byteLength;
      }
    } catch (err) {
      // A broken invariant of the chunks (snapshot.ts asserts): a bug.
      t.sink.abort();
      t.it.return?.();
      return this.d.fatal(err);
    }
    const next = (): void => void this.d.timers.setTimeout(() => this.take(t), this.d.sliceGapMs);
    // The disk is behind: wait for it rather than hold the state's bytes in memory.
    if (t.sink.pendingBytes > PENDING_BYTES_MAX) void t.sink.drained().then(next);
    else next();
  }

  private taken(t: Taking): void {
    this.taking = null;
    const index = t.index;
    // A leader's snapshot replaced the log while its Ready was being written: ours is moot.
    if (this.d.raft.termAt(index) === undefined) {
      t.sink.abort();
      this.snapshotting = false;
      return;
    }
    const bytes = t.bytes;
    this.lastBytes = bytes;
    t.sink
      .commit({ compactTo: asLogIndex(this.compactTarget(index)) })
      .then(() => {
        this.lastSnapshotIndex = index;
        this.lastTookMs = this.d.now() - t.startedAt;
        this.d.log.info({ index, bytes, ms: Math.round(this.lastTookMs) }, 'snapshot taken');
      })
      .catch((err: unknown) => this.d.fatal(err))
      .finally(() => {
        this.snapshotting = false;
      });
  }

  /** Where to compact after a snapshot at `index`: keep `snapshotKeep` entries below it, within `snapshotKeepBytes`. */
  compactTarget(index: number): number {
    const floor = Math.max(0, index - this.d.snapshotKeep, this.d.storage.firstIndex() - 1);
    let bytes = 0;
    for (let i = index; i > floor; i--) {
      bytes += this.d.storage.entryBytes(i);
      if (bytes > this.d.snapshotKeepBytes) return i;
    }
    return Math.max(0, index - this.d.snapshotKeep);
  }

  /** Records the state machine's digest at `applied` (once per index, the newest DIGESTS_KEPT). */
  recordDigest(applied: number): void {
    const last = this.digests[this.digests.length - 1];
    if (last && last.index === applied) return;
    this.digests.push({ index: applied, digest: this.d.sm.digest() });
    if (this.digests.length > DIGESTS_KEPT) this.digests.splice(0, this.digests.length - DIGESTS_KEPT);
  }

  /** (index, digest) pairs at snapshots and every 100th index, ending at `applied`. */
  digestHistory(applied: number): { index: number; digest: string }[] {
    const out = this.digests.slice();
    const last = out[out.length - 1];
    if (!last || last.index !== applied) out.push({ index: applied, digest: this.d.sm.digest() });
    return out;
  }
}
