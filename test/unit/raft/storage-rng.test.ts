import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../../src/raft/rng.js';
import { MemoryStorage } from '../../../src/raft/storage.js';
import { CompactedError, EntryType } from '../../../src/raft/types.js';
import type { Entry } from '../../../src/raft/types.js';
import { member } from './harness.js';
import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';

const entry = (index: number, term: number, bytes = 1): Entry => ({
  index: asLogIndex(index),
  term: asTerm(term),
  type: EntryType.Normal,
  data: new Uint8Array(bytes),
});

describe('raft - Rng', () => {
  it('is a pure function of its seed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (seed) => {
        const a = new Rng(seed);
        const b = new Rng(seed);
        for (let k = 0; k < 20; k++) expect(a.nextU32()).toBe(b.nextU32());
      }),
      { numRuns: 100 },
    );
  });

  it('int(n) stays in [0, n) and covers it', () => {
    const r = new Rng(1);
    const seen = new Set<number>();
    for (let k = 0; k < 1000; k++) {
      const v = r.int(7);
      expect(v >= 0 && v < 7).toBe(true);
      seen.add(v);
    }
    expect(seen.size).toBe(7);
    expect(() => r.int(0)).toThrow(RangeError);
  });
});

describe('raft - MemoryStorage', () => {
  it('appends, truncates a conflicting suffix, and reports terms', () => {
    const s = new MemoryStorage({ members: [member('a')] });
    s.append([entry(1, 1), entry(2, 1), entry(3, 2)]);
    s.append([entry(3, 3), entry(4, 3)]);
    expect(s.lastIndex()).toBe(4);
    expect(s.term(3)).toBe(3);
    expect(s.term(0)).toBe(0);
    expect(s.term(9)).toBeUndefined();
    expect(() => s.append([entry(7, 3)])).toThrow(/gap/);
  });

  it('limits entries() by bytes but always returns one', () => {
    const s = new MemoryStorage();
    s.append([entry(1, 1, 10), entry(2, 1, 10), entry(3, 1, 10)]);
    expect(s.entries(1, 4, 5).length).toBe(1);
    expect(s.entries(1, 4, 20).length).toBe(2);
    expect(s.entries(1, 4, 1000).length).toBe(3);
  });

  it('compacts only under a snapshot, then refuses compacted reads', () => {
    const s = new MemoryStorage({ members: [member('a')] });
    s.append([
      entry(1, 1),
      entry(2, 1),
      {
        index: asLogIndex(3),
        term: asTerm(2),
        type: EntryType.Config,
        data: new Uint8Array(),
        config: { members: [member('a'), member('b')] },
      },
      entry(4, 2),
    ]);
    expect(() => s.compact(2)).toThrow(/snapshot/);
    s.createSnapshot({
      meta: { group: 1, index: asLogIndex(3), term: asTerm(2), membership: { members: [] } },
      data: new Uint8Array(),
    });
    s.compact(3);
    expect(s.firstIndex()).toBe(4);
    expect(s.term(3)).toBe(2);
    expect(s.term(2)).toBeUndefined();
    expect(() => s.entries(2, 4, 100)).toThrow(CompactedError);
    // The config entry that was compacted away becomes the base membership seen on restart.
    expect(s.initialState().membership.members.map((m) => m.id)).toEqual(['a', 'b']);
  });

  it('applySnapshot replaces the log and raises the commit index', () => {
    const s = new MemoryStorage();
    s.append([entry(1, 1), entry(2, 1)]);
    s.applySnapshot({
      meta: { group: 1, index: asLogIndex(10), term: asTerm(4), membership: { members: [member('a')] } },
      data: new Uint8Array([1]),
    });
    expect(s.firstIndex()).toBe(11);
    expect(s.lastIndex()).toBe(10);
    expect(s.term(10)).toBe(4);
    expect(s.initialState().hardState.commit).toBe(10);
  });
});
