// Task payloads in large append-only slabs (issue 11 target D). A waiting task is then one object in
// the V8 heap: its payload bytes live outside it, in a slab shared with thousands of other tasks, so
// the garbage collector neither marks nor copies a payload per task. A slab is never written twice
// at the same place: a view of a payload (a lease reply, a snapshot row) stays valid for as long as
// it is held, and a slab no task points to any more is freed by the garbage collector.
//
// A slab holding few live payloads is compacted: when such sparse slabs together hold more than half
// the live bytes, one pass over the tasks copies their payloads to the current slab. The pass is
// O(tasks), and it runs only after about as many bytes were freed, so it is O(1) per freed byte.
// Where a payload lives is not replicated state: it is in no digest and no snapshot.
import { assert } from '../protocol/assert.js';

export class Slab {
  /** Bytes written (the next payload goes here). */
  used = 0;
  /** Bytes of the payloads tasks point to now. */
  live = 0;

  constructor(readonly buf: Uint8Array) {}
}

/** The slab of empty payloads. */
export const NO_SLAB = new Slab(new Uint8Array(0));

/** What the store needs of a task: where its payload is. */
export interface Placed {
  slab: Slab;
  off: number;
  len: number;
}

export const DEFAULT_SLAB_BYTES = 256 * 1024;
/** At least this many slabs are sparse before a compaction pass (by default). */
export const DEFAULT_COMPACT_MIN_SLABS = 8;

export class PayloadStore {
  private cur: Slab;
  private readonly sparse = new Set<Slab>();
  private sparseBytes = 0;
  /** Payload bytes tasks point to now. */
  liveBytes = 0;
  /** Compaction passes run and payloads they moved (metrics, tests). */
  compactions = 0;
  moved = 0;

  constructor(
    readonly slabBytes = DEFAULT_SLAB_BYTES,
    readonly compactMinSlabs = DEFAULT_COMPACT_MIN_SLABS,
    /** Planted bug (tests only): compaction copies each payload from one byte too far. */
    private readonly plantShift = false,
  ) {
    assert(Number.isSafeInteger(slabBytes) && slabBytes >= 64, 'slab size must be an integer ≥ 64');
    assert(Number.isSafeInteger(compactMinSlabs) && compactMinSlabs >= 1, 'compactMinSlabs must be an integer ≥ 1');
    this.cur = new Slab(new Uint8Array(slabBytes));
  }

  /** A new empty store of the same configuration (a restore replaces every task). */
  emptied(): PayloadStore {
    return new PayloadStore(this.slabBytes, this.compactMinSlabs, this.plantShift);
  }

  /** Stores a copy of `bytes` as `t`'s payload (t held none, or released it). */
  put(t: Placed, bytes: Uint8Array): void {
    const n = bytes.byteLength;
    this.liveBytes += n;
    if (n === 0) return place(t, NO_SLAB, 0, 0);
    // A big payload gets a slab of its own, freed with its task.
    if (n * 4 > this.slabBytes) {
      const own = new Slab(new Uint8Array(n));
      own.buf.set(bytes);
      own.used = own.live = n;
      return place(t, own, 0, n);
    }
    if (this.cur.used + n > this.slabBytes) this.roll();
    const s = this.cur;
    s.buf.set(bytes, s.used);
    place(t, s, s.used, n);
    s.used += n;
    s.live += n;
  }

  /** `t` leaves (removed) or takes another payload: its bytes are no longer live. */
  release(t: Placed): void {
    const s = t.slab;
    const n = t.len;
    this.liveBytes -= n;
    place(t, NO_SLAB, 0, 0);
    if (s === NO_SLAB) return;
    s.live -= n;
    assert(s.live >= 0, 'a slab holds no fewer than zero live bytes');
    if (s === this.cur) return;
    if (s.live === 0) {
      if (this.sparse.delete(s)) this.sparseBytes -= s.buf.byteLength;
    } else if (s.live * 4 < s.buf.byteLength && !this.sparse.has(s)) {
      this.sparse.add(s);
      this.sparseBytes += s.buf.byteLength;
    }
  }

  /** `t` takes a copy of `bytes` as its payload in place of the one it had. */
  replace(t: Placed, bytes: Uint8Array): void {
    this.release(t);
    this.put(t, bytes);
  }

  /** Sparse slabs hold more than half the live bytes (and at least a few slabs). */
  wantsCompaction(): boolean {
    return this.sparseBytes >= this.compactMinSlabs * this.slabBytes && this.sparseBytes * 2 > this.liveBytes;
  }

  /** Copies the payloads of `tasks` that sit in sparse slabs to the current slab. */
  compact(tasks: Iterable<Placed>): void {
    const from = new Set(this.sparse);
    this.sparse.clear();
    this.sparseBytes = 0;
    for (const t of tasks) {
      const s = t.slab;
      if (!from.has(s)) continue;
      const off = this.plantShift ? t.off + 1 : t.off;
      const bytes = new Uint8Array(s.buf.buffer, s.buf.byteOffset + off, t.len);
      s.live -= t.len;
      this.liveBytes -= t.len;
      this.put(t, bytes);
      this.moved += 1;
    }
    for (const s of from) assert(s.live === 0, 'compaction moves every live payload out of a sparse slab');
    this.compactions += 1;
  }

  /** Starts a new current slab; the old one is sparse already if most of it was freed. */
  private roll(): void {
    const old = this.cur;
    this.cur = new Slab(new Uint8Array(this.slabBytes));
    if (old.live > 0 && old.live * 4 < old.buf.byteLength) {
      this.sparse.add(old);
      this.sparseBytes += old.buf.byteLength;
    }
  }
}

/** `t`'s payload bytes: a view into its slab, valid for as long as it is held (never overwritten). */
export function payloadBytes(t: Placed): Uint8Array {
  const b = t.slab.buf;
  return new Uint8Array(b.buffer, b.byteOffset + t.off, t.len);
}

function place(t: Placed, slab: Slab, off: number, len: number): void {
  t.slab = slab;
  t.off = off;
  t.len = len;
}
