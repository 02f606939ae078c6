// The core's view of the log: what the driver has made durable (Storage) plus an unstable tail of
// entries (and at most one received snapshot) that the next Ready hands out for persisting. Several
// Readys may be in flight (pipelined writes): `inProgress` marks what was handed out and is not yet
// durable, `applying` what was handed out for applying; advance() moves the durable marks.

import { assert } from '../protocol/assert.js';
import { CompactedError } from './types.js';
import type { Entry, Snapshot, Storage } from './types.js';

export class RaftLog {
  /** Unstable entries: unstable[k] has index offset + k; they override storage from `offset` on. */
  private unstable: Entry[] = [];
  private offset: number;
  /** The first unstable index not yet handed out in a Ready (offset ≤ inProgress ≤ last + 1). */
  private inProgress: number;
  /** A snapshot received from the leader and not yet persisted (the log restarts after it). */
  pendingSnapshot: Snapshot | null = null;
  /** The pending snapshot was handed out in a Ready and is being written. */
  private snapshotInProgress = false;
  /**
   * Bumped whenever entries already handed out are replaced (or a snapshot replaces the log): a Ready
   * handed out before that may no longer mark anything durable by (index, term), since a later write
   * in flight may overwrite what it wrote (and a later leader may restore the same index and term).
   */
  private rewrites = 0;
  /** Injected bug (test only): a truncation under an in-flight write is not handed out again. */
  plantKeepInProgress = false;
  /** Injected bug (test only): every entry handed out for writing is handed out for applying too. */
  plantApplyUncommitted = false;
  committed: number;
  /** Applied as far as the driver reported (advance). */
  applied: number;
  /** Handed out for applying (≥ applied; equal when no Ready is in flight). */
  applying: number;

  constructor(
    readonly storage: Storage,
    committed: number,
    applied: number,
  ) {
    this.offset = storage.lastIndex() + 1;
    this.inProgress = this.offset;
    this.committed = committed;
    this.applied = applied;
    this.applying = applied;
    assert(applied <= committed, `raft invariant: applied ${applied} > committed ${committed}`);
    assert(committed <= this.lastIndex(), `raft invariant: committed ${committed} > last index ${this.lastIndex()}`);
  }

  firstIndex(): number {
    return this.pendingSnapshot !== null ? this.pendingSnapshot.meta.index + 1 : this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.unstable.length > 0) return this.offset + this.unstable.length - 1;
    if (this.pendingSnapshot !== null) return this.pendingSnapshot.meta.index;
    return this.storage.lastIndex();
  }

  /** The last index the driver reported durable (advance after the write): what a leader counts for itself. */
  stableLastIndex(): number {
    return this.pendingSnapshot !== null ? this.storage.lastIndex() : Math.min(this.offset - 1, this.lastIndex());
  }

  /** Term of entry i, or undefined when it is compacted or beyond the last index. */
  term(i: number): number | undefined {
    if (i === 0) return 0;
    if (i >= this.offset) return this.unstable[i - this.offset]?.term;
    const snap = this.pendingSnapshot;
    if (snap !== null) return i === snap.meta.index ? snap.meta.term : undefined;
    return this.storage.term(i);
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /** Whether a candidate whose log ends at (index, term) is at least as up to date as ours (§5.4.1). */
  isUpToDate(index: number, term: number): boolean {
    const ourTerm = this.lastTerm();
    return term > ourTerm || (term === ourTerm && index >= this.lastIndex());
  }

  /** Entries in [lo, hi), at least one if lo < hi, then up to maxBytes of data. Throws CompactedError. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo >= hi) return [];
    if (lo < this.firstIndex()) throw new CompactedError(lo);
    assert(hi <= this.lastIndex() + 1, `raft invariant: slice(${lo}, ${hi}) beyond last ${this.lastIndex()}`);
    let out: Entry[] = [];
    let bytes = 0;
    if (lo < this.offset) {
      const stableHi = Math.min(hi, this.offset);
      out = this.storage.entries(lo, stableHi, maxBytes);
      if (out.length < stableHi - lo) return out;
      for (const e of out) bytes += e.data.length;
    }
    for (let i = Math.max(lo, this.offset); i < hi; i++) {
      const e = this.unstable[i - this.offset];
      assert(e !== undefined, `raft invariant: unstable entry ${i} missing`);
      bytes += e.data.length;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /** Leader's largest index ≤ index whose term is ≤ term (fast back-off, etcd's findConflictByTerm). */
  findConflictByTerm(index: number, term: number): number {
    for (let i = Math.min(index, this.lastIndex()); i > 0; i--) {
      const t = this.term(i);
      if (t === undefined || t <= term) return i;
    }
    return 0;
  }

  /** First entry that is new or conflicts with the log, or undefined when all are already present. */
  findConflict(entries: readonly Entry[]): number | undefined {
    for (const e of entries) if (!this.matchTerm(e.index, e.term)) return e.index;
    return undefined;
  }

  /** Appends (or overwrites from entries[0].index on); the caller handles what a truncation reverts. */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    assert(
      first.index > this.committed,
      `raft invariant: overwriting committed entry ${first.index} (commit ${this.committed})`,
    );
    assert(first.index <= this.lastIndex() + 1, `raft invariant: append at ${first.index} leaves a gap`);
    if (first.index === this.offset + this.unstable.length) {
      for (const e of entries) this.unstable.push(e);
    } else if (first.index <= this.offset) {
      this.offset = first.index;
      this.unstable = entries.slice();
    } else {
      this.unstable.length = first.index - this.offset;
      for (const e of entries) this.unstable.push(e);
    }
    // A replaced suffix that was already handed out must be handed out again (its write comes later).
    if (first.index < this.inProgress) {
      this.rewrites++;
      if (!this.plantKeepInProgress) this.inProgress = first.index;
    }
    this.inProgress = Math.max(this.inProgress, this.offset);
  }

  commitTo(index: number): boolean {
    if (index <= this.committed) return false;
    assert(index <= this.lastIndex(), `raft invariant: commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
    return true;
  }

  restore(snapshot: Snapshot): void {
    assert(snapshot.meta.index > this.committed, 'raft invariant: restoring a snapshot at or below the commit index');
    this.pendingSnapshot = snapshot;
    this.snapshotInProgress = false;
    this.rewrites++;
    this.unstable = [];
    this.offset = snapshot.meta.index + 1;
    this.inProgress = this.offset;
    this.committed = snapshot.meta.index;
  }

  /** Tells Readys handed out before a rewrite from those after it (see `rewrites`). */
  get rewriteEpoch(): number {
    return this.rewrites;
  }

  /** Unstable entries not handed out yet; from now on they are in progress. */
  takeUnstable(): Entry[] {
    const from = this.inProgress - this.offset;
    this.inProgress = this.offset + this.unstable.length;
    return from === 0 ? this.unstable.slice() : this.unstable.slice(from);
  }

  /** The pending snapshot if not handed out yet; from now on it is in progress (and counts as applying). */
  takeSnapshot(): Snapshot | null {
    const snap = this.pendingSnapshot;
    if (snap === null || this.snapshotInProgress) return null;
    this.snapshotInProgress = true;
    this.applying = Math.max(this.applying, snap.meta.index);
    return snap;
  }

  /** Something to hand out for writing. */
  hasUnstable(): boolean {
    return (
      this.inProgress < this.offset + this.unstable.length ||
      (this.pendingSnapshot !== null && !this.snapshotInProgress)
    );
  }

  /**
   * The driver made entries up to (index, term) durable, written by a Ready handed out at `epoch`.
   * Unless entries it wrote were replaced since (a later write then covers them), drop them.
   */
  stableTo(index: number, term: number, epoch: number): void {
    if (epoch !== this.rewrites || index < this.offset) return;
    const e = this.unstable[index - this.offset];
    if (e === undefined || e.term !== term) return;
    this.unstable = this.unstable.slice(index + 1 - this.offset);
    this.offset = index + 1;
    this.inProgress = Math.max(this.inProgress, this.offset);
  }

  stableSnapTo(index: number): void {
    if (this.pendingSnapshot !== null && this.pendingSnapshot.meta.index === index) {
      this.pendingSnapshot = null;
      this.snapshotInProgress = false;
    }
  }

  /**
   * Committed entries not yet handed out for applying, up to maxBytes: those handed out for writing
   * too (call after takeUnstable), durable here or not. Committed means durable on a majority, so a
   * leader applies and answers once its followers have written an entry, not after its own slower
   * write (docs/decisions.md "Committed entries apply before the node's own write"). Behind a
   * snapshot still to be written only what is durable here: nothing may apply before its restore.
   */
  nextCommitted(maxBytes: number): Entry[] {
    const lo = Math.max(this.applying + 1, this.firstIndex());
    const out = this.slice(lo, Math.min(this.applyBound(), this.applyLimit(this.inProgress - 1)) + 1, maxBytes);
    const last = out[out.length - 1];
    if (last !== undefined) this.applying = last.index;
    return out;
  }

  /** Whether the next Ready (which hands out every unstable entry first) has committed entries. */
  hasNextCommitted(): boolean {
    const limit = this.applyLimit(this.lastIndex());
    return Math.min(this.applyBound(), limit) > Math.max(this.applying, this.firstIndex() - 1);
  }

  /** What was handed out for writing, or behind a snapshot still to be written only what is durable. */
  private applyLimit(handedOut: number): number {
    return this.pendingSnapshot === null ? handedOut : this.stableLastIndex();
  }

  private applyBound(): number {
    return this.plantApplyUncommitted ? Infinity : this.committed;
  }
}
