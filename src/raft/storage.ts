// MemoryStorage: the in-memory twin of the node's LevelDB log, and the mirror the node keeps of what
// it has made durable. The core only reads it (the Storage interface); the driver mutates it after
// each durable write (append, setHardState, applySnapshot, createSnapshot, compact).
//
// The data of old entries need not stay in memory: once applied, only a lagging follower needs it, and
// the durable log holds it. `evict` replaces the oldest entries' data by a marker (index, term, type and
// size stay, so terms, conflicts and sizes still answer); `entries` then throws UnavailableError and
// notes the range wanted (`takeWanted`); the driver reads it back from the durable log (`rehydrate`).

import { assert } from '../protocol/assert.js';
import { asLogIndex, asTerm } from '../protocol/ids.js';
import type { LogIndex, Term } from '../protocol/ids.js';
import { CompactedError, EntryType, UnavailableError } from './types.js';
import type { Entry, HardState, Membership, Snapshot, Storage } from './types.js';

/** The data of an entry evicted from memory (identity marks it: a NoOp's empty data is another array). */
const EVICTED = new Uint8Array(0);

/** An entry whose data was evicted: its size, for sizing the log. */
interface Evicted extends Entry {
  readonly bytes: number;
}

const isEvicted = (e: Entry): e is Evicted => e.data === EVICTED;

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
  /** Bytes of entry data in memory (evicted entries not counted). */
  private held = 0;
  /** Entries below this index hold no data to evict (the next eviction starts here). */
  private evictFrom = 1;
  /** Planted bug (simulation only): data read back replaces an evicted entry unchecked. */
  plantUncheckedRehydrate = false;
  /** The range whose data `entries` found evicted since the last takeWanted(). */
  private wanted: { lo: number; hi: number } | null = null;

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
    s.held = this.held;
    s.evictFrom = this.evictFrom;
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
      if (isEvicted(e)) {
        if (out.length > 0) break;
        this.want(i, hi);
        throw new UnavailableError(i);
      }
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
    for (let k = first.index - this.offset; k < this.log.length; k++) this.held -= heldBytes(this.log[k]);
    this.log.length = first.index - this.offset;
    for (const e of entries) {
      this.log.push(e);
      this.held += e.data.length;
    }
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  applySnapshot(snap: Snapshot): void {
    this.snap = snap;
    this.log = [];
    this.held = 0;
    this.wanted = null;
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
      this.held -= heldBytes(e);
      if (e !== undefined && e.type === EntryType.Config && e.config !== undefined) this.baseMembership = e.config;
    }
    const last = this.log[drop - 1];
    assert(last !== undefined, `MemoryStorage: compact(${index}) beyond last index`);
    this.baseTerm = last.term;
    this.log = this.log.slice(drop);
    this.offset = index + 1;
  }

  // ---- data kept in memory (the entries themselves stay; see the top of the file) ----

  /** Bytes of entry data held in memory. */
  get heldBytes(): number {
    return this.held;
  }

  /** Size of entry i's data, in memory or not (0 when compacted or beyond the last index). */
  entryBytes(i: number): number {
    const e = i >= this.offset ? this.log[i - this.offset] : undefined;
    if (e === undefined) return 0;
    return isEvicted(e) ? e.bytes : e.data.length;
  }

  /**
   * Drops the data of the oldest entries ≤ upTo (the driver passes an applied index) while more than
   * keepBytes are held. Config entries keep theirs. Returns the bytes dropped.
   */
  evict(upTo: number, keepBytes: number): number {
    const last = Math.min(upTo, this.lastIndex());
    let i = Math.max(this.evictFrom, this.offset);
    let dropped = 0;
    for (; i <= last && this.held > keepBytes; i++) {
      const k = i - this.offset;
      const e = this.log[k] as Entry;
      if (isEvicted(e) || e.type === EntryType.Config || e.data.length === 0) continue;
      const stub: Evicted = { index: e.index, term: e.term, type: e.type, data: EVICTED, bytes: e.data.length };
      this.log[k] = stub;
      this.held -= e.data.length;
      dropped += e.data.length;
    }
    this.evictFrom = i;
    return dropped;
  }

  /** The range whose data was found evicted since the last call (null: none), for the driver to read back. */
  takeWanted(): { lo: number; hi: number } | null {
    const w = this.wanted;
    this.wanted = null;
    return w;
  }

  /**
   * Puts back the data of evicted entries read from the durable log. An entry is taken only where this
   * log still has an evicted entry of the same index, term, type and size (the disk may hold a newer
   * entry there whose write is not mirrored yet). Returns the lowest index put back (null: none).
   */
  rehydrate(entries: readonly Entry[]): number | null {
    let lowest: number | null = null;
    for (const e of entries) {
      const k = e.index - this.offset;
      const cur = k >= 0 ? this.log[k] : undefined;
      if (cur === undefined || !isEvicted(cur)) continue;
      const same = cur.term === e.term && cur.type === e.type && cur.bytes === e.data.length;
      if (!same && !this.plantUncheckedRehydrate) continue;
      this.log[k] = e;
      this.held += e.data.length;
      lowest ??= e.index;
    }
    if (lowest !== null) this.evictFrom = Math.min(this.evictFrom, lowest);
    return lowest;
  }

  private want(lo: number, hi: number): void {
    const w = this.wanted;
    this.wanted = w === null ? { lo, hi } : { lo: Math.min(w.lo, lo), hi: Math.max(w.hi, hi) };
  }
}

/** Bytes an entry of the log holds in memory. */
function heldBytes(e: Entry | undefined): number {
  return e === undefined || isEvicted(e) ? 0 : e.data.length;
}
