import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';
import { MemoryStorage } from '../../../src/raft/storage.js';
import { EntryType, UnavailableError } from '../../../src/raft/types.js';
import type { Entry, Snapshot } from '../../../src/raft/types.js';

// MemoryStorage.evict / rehydrate: the data of old entries leaves memory and comes back from the
// durable log (src/node/log-memory.ts); terms, sizes and config entries stay.
const entry = (index: number, term: number, bytes: number, fill = index): Entry => ({
  index: asLogIndex(index),
  term: asTerm(term),
  type: EntryType.Normal,
  data: new Uint8Array(bytes).fill(fill & 0xff),
});
const config = (index: number, term: number): Entry => ({
  index: asLogIndex(index),
  term: asTerm(term),
  type: EntryType.Config,
  data: new Uint8Array(3),
  config: { members: [] },
});
const log = (n: number, bytes = 10): Entry[] => Array.from({ length: n }, (_, k) => entry(k + 1, 1, bytes));

function unavailableAt(s: MemoryStorage, lo: number, hi: number): number | null {
  try {
    s.entries(lo, hi, Infinity);
    return null;
  } catch (e) {
    if (e instanceof UnavailableError) return e.index;
    throw e;
  }
}

describe('raft - MemoryStorage eviction', () => {
  it('drops the oldest data up to the given index while over the budget; terms and sizes stay', () => {
    const s = new MemoryStorage();
    s.append(log(10));
    expect(s.heldBytes).toBe(100);
    expect(s.evict(6, 35)).toBe(60);
    expect(s.heldBytes).toBe(40);
    expect(s.term(3)).toBe(1);
    expect(s.entryBytes(3)).toBe(10);
    // Only ≤ upTo: entries 7-10 keep theirs even though 40 > 35.
    expect(s.entries(7, 11, Infinity).map((e) => e.index)).toEqual([7, 8, 9, 10]);
    expect(s.evict(10, 35)).toBe(10);
    expect(s.heldBytes).toBe(30);
  });

  it('refuses a range that starts evicted (noting it as wanted), and cuts one short before an evicted entry', () => {
    const s = new MemoryStorage();
    s.append(log(10));
    s.evict(4, 0);
    expect(unavailableAt(s, 2, 11)).toBe(2);
    expect(unavailableAt(s, 3, 5)).toBe(3);
    expect(s.takeWanted()).toEqual({ lo: 2, hi: 11 });
    expect(s.takeWanted()).toBeNull();
    expect(s.entries(5, 11, Infinity)).toHaveLength(6);
  });

  it('keeps config entries and empty data', () => {
    const s = new MemoryStorage();
    s.append([entry(1, 1, 10), config(2, 1), entry(3, 1, 0), entry(4, 1, 10)]);
    s.evict(4, 0);
    expect(s.entries(2, 4, Infinity).map((e) => e.type)).toEqual([EntryType.Config, EntryType.Normal]);
    expect(unavailableAt(s, 1, 2)).toBe(1);
    expect(unavailableAt(s, 4, 5)).toBe(4);
  });

  it('takes back only data of the same entry (index, term, type and size), and may evict it again', () => {
    const s = new MemoryStorage();
    s.append(log(6));
    s.evict(6, 0);
    const wrongTerm = entry(2, 2, 10);
    const wrongSize = entry(3, 1, 11);
    expect(s.rehydrate([wrongTerm, wrongSize])).toBeNull();
    expect(s.rehydrate([entry(4, 1, 10, 99), entry(5, 1, 10, 98)])).toBe(4);
    expect(s.heldBytes).toBe(20);
    expect(s.entries(4, 6, Infinity).map((e) => e.data[0])).toEqual([99, 98]);
    expect(unavailableAt(s, 3, 6)).toBe(3);
    expect(s.evict(6, 0)).toBe(20);
    expect(unavailableAt(s, 4, 6)).toBe(4);
  });

  it('counts held bytes through truncation, compaction and a snapshot install (property)', () => {
    type Op =
      | { k: 'append'; at: number; n: number; bytes: number; term: number }
      | { k: 'evict'; upTo: number; keep: number }
      | { k: 'compact'; to: number }
      | { k: 'rehydrate'; lo: number; n: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        k: fc.constant('append' as const),
        at: fc.nat(30),
        n: fc.integer({ min: 1, max: 5 }),
        bytes: fc.nat(20),
        term: fc.integer({ min: 1, max: 3 }),
      }),
      fc.record({ k: fc.constant('evict' as const), upTo: fc.nat(40), keep: fc.nat(100) }),
      fc.record({ k: fc.constant('compact' as const), to: fc.nat(40) }),
      fc.record({ k: fc.constant('rehydrate' as const), lo: fc.nat(40), n: fc.integer({ min: 1, max: 5 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const s = new MemoryStorage();
        const truth = new Map<number, Entry>(); // what a durable log would hold
        for (const o of ops) {
          const first = s.firstIndex();
          const last = s.lastIndex();
          if (o.k === 'append') {
            const at = Math.min(Math.max(o.at, first), last + 1);
            const term = Math.max(o.term, s.term(at - 1) ?? 0);
            const es = Array.from({ length: o.n }, (_, j) => entry(at + j, term, o.bytes));
            for (const k of [...truth.keys()]) if (k >= at) truth.delete(k);
            for (const e of es) truth.set(e.index, e);
            s.append(es);
          } else if (o.k === 'evict') s.evict(o.upTo, o.keep);
          else if (o.k === 'compact' && o.to >= first && o.to <= last) {
            s.createSnapshot({ meta: { index: asLogIndex(o.to), term: asTerm(s.term(o.to) ?? 0) } } as Snapshot);
            s.compact(o.to);
          } else if (o.k === 'rehydrate') {
            s.rehydrate([...truth.values()].filter((e) => e.index >= o.lo && e.index < o.lo + o.n));
          }
          let held = 0;
          for (let i = s.firstIndex(); i <= s.lastIndex(); i++) {
            expect(s.term(i)).toBe(truth.get(i)?.term);
            expect(s.entryBytes(i)).toBe(truth.get(i)?.data.length);
            if (unavailableAt(s, i, i + 1) === null) held += s.entries(i, i + 1, Infinity)[0]?.data.length ?? 0;
          }
          expect(s.heldBytes).toBe(held);
        }
      }),
      { numRuns: 300 },
    );
  });
});
