// MemoryStorage: the in-memory twin of the node's LevelDB log, and the mirror the node keeps of what
// it has made durable. The core only reads it (the Storage interface); the driver mutates it after
// each durable write (append, setHardState, applySnapshot, createSnapshot, compact).

import { assert } from '../protocol/assert.js';
import { asLogIndex, asTerm } from '../protocol/ids.js';
import type { LogIndex, Term } from '../protocol/ids.js';
import { CompactedError, EntryType } from './types.js';
import type { Entry, HardState, Membership, Snapshot, Storage } from './types.js';

export class MemoryStorage implements Storage {
  private hard: HardState = { term: asTerm(0), vote: null, commit: asLogIndex(0) };
  /** entries[k] has index offset + k. */
  private log: Entry[] = [];
  private offset = 1;
  /** Term of entry offset-1 (0 for the empty log). */
  private baseTerm: Term = asTerm(0);
  /** The membership in effect at offset-1 (before any config entry still in `log`). */
  private baseMembership: Membership;
  private snap: Snapshot | null = null;

  constructor(membership: Membership = { members: [] }) {
    this.baseMembership = membership;
  }

  /** A copy sharing the (immutable) entries, e.g. to rebuild a mirror from a simulated disk. */
  clone(): MemoryStorage {
    const s = new MemoryStorage(this.baseMembership);
    s.hard = { ...this.hard };
    s.log = this.log.slice();
    s.offset = this.offset;
    s.baseTerm = this.baseTerm;
    s.snap = this.snap;
    return s;
  }

  initialState(): { hardState: HardState; membership: Membership } {
    return { hardState: { ...this.hard }, membership: this.baseMembership };
  }

  hardState(): HardState {
    return this.hard;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo < this.offset) throw new CompactedError(lo);
    assert(hi <= this.lastIndex() + 1, `MemoryStorage: entries(${lo}, ${hi}) beyond last index ${this.lastIndex()}`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.log[i - this.offset];
      assert(e !== undefined, `MemoryStorage: missing entry ${i}`);
      bytes += e.data.length;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  term(i: number): Term | undefined {
    if (i === this.offset - 1) return this.baseTerm;
    if (i < this.offset) return undefined;
    return this.log[i - this.offset]?.term;
  }

  firstIndex(): LogIndex {
    return asLogIndex(this.offset);
  }

  lastIndex(): LogIndex {
    return asLogIndex(this.offset + this.log.length - 1);
  }

  snapshot(): Snapshot | null {
    return this.snap;
  }

  // ---- mutators, called by the driver after the corresponding write is durable ----

  setHardState(hs: HardState): void {
    assert(hs.term >= this.hard.term, `MemoryStorage: term going back ${this.hard.term} -> ${hs.term}`);
    this.hard = { ...hs };
  }

  /** Appends entries; an entry whose index is ≤ lastIndex replaces that suffix (truncation). */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    assert(first.index >= this.offset, `MemoryStorage: append at ${first.index} below first index ${this.offset}`);
    assert(
      first.index <= this.lastIndex() + 1,
      `MemoryStorage: append at ${first.index} leaves a gap after ${this.lastIndex()}`,
    );
    this.log.length = first.index - this.offset;
    for (const e of entries) this.log.push(e);
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  applySnapshot(snap: Snapshot): void {
    this.snap = snap;
    this.log = [];
    this.offset = snap.meta.index + 1;
    this.baseTerm = snap.meta.term;
    this.baseMembership = snap.meta.membership;
    if (this.hard.commit < snap.meta.index) this.hard = { ...this.hard, commit: snap.meta.index };
  }

  /** Records a snapshot the application took locally at an applied index; the log is kept. */
  createSnapshot(snap: Snapshot): void {
    assert(
      snap.meta.index <= this.lastIndex(),
      `MemoryStorage: snapshot ${snap.meta.index} beyond last ${this.lastIndex()}`,
    );
    if (this.snap !== null && this.snap.meta.index >= snap.meta.index) return;
    this.snap = snap;
  }

  /** Drops entries ≤ index (only after a snapshot covering them is durable). */
  compact(index: number): void {
    if (index < this.offset) return;
    assert(this.snap !== null && index <= this.snap.meta.index, `MemoryStorage: compact(${index}) beyond the snapshot`);
    const drop = index - this.offset + 1;
    for (let k = 0; k < drop; k++) {
      const e = this.log[k];
      if (e !== undefined && e.type === EntryType.Config && e.config !== undefined) this.baseMembership = e.config;
    }
    const last = this.log[drop - 1];
    assert(last !== undefined, `MemoryStorage: compact(${index}) beyond last index`);
    this.baseTerm = last.term;
    this.log = this.log.slice(drop);
    this.offset = index + 1;
  }
}
