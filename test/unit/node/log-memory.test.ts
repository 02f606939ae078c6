import { describe, expect, it } from 'vitest';
import { LogMemory } from '../../../src/node/log-memory.js';
import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';
import { MemoryStorage } from '../../../src/raft/storage.js';
import { EntryType, UnavailableError, type Entry } from '../../../src/raft/types.js';

const entry = (index: number): Entry => ({
  index: asLogIndex(index),
  term: asTerm(1),
  type: EntryType.Normal,
  data: new Uint8Array(100).fill(index),
});
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

/** A log of 20 entries of 100 bytes, a durable copy to read back from, and a clock. */
function setup(keepBytes: number) {
  const storage = new MemoryStorage();
  const disk = Array.from({ length: 20 }, (_, k) => entry(k + 1));
  storage.append(disk);
  const t = { now: 0, reads: [] as { lo: number; hi: number }[], resumed: 0 };
  const mem = new LogMemory({
    storage,
    keepBytes,
    log: quiet,
    now: () => t.now,
    readBack: () => t.resumed++,
    durable: {
      readEntries: async (r) => {
        t.reads.push({ lo: r.lo, hi: r.hi });
        return disk.filter((e) => e.index >= r.lo && e.index < Math.min(r.hi, r.lo + 3));
      },
    },
  });
  return { storage, mem, t };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('node - LogMemory', () => {
  it('evicts applied data beyond its budget, only once a quarter over it', () => {
    const { storage, mem } = setup(1700);
    mem.afterReady(20);
    expect(storage.heldBytes).toBe(2000); // within 1.25 × 1700
    storage.append([entry(21), entry(22), entry(23), entry(24), entry(25)]);
    mem.afterReady(3); // only entries ≤ applied may go
    expect(storage.heldBytes).toBe(2200);
    mem.afterReady(25);
    expect(storage.heldBytes).toBe(1700);
  });

  it('reads back what the core found missing, then lets the leader resume; pins it against eviction', async () => {
    const { storage, mem, t } = setup(0);
    mem.afterReady(20);
    expect(storage.heldBytes).toBe(0);
    expect(() => storage.entries(4, 21, Infinity)).toThrow(UnavailableError);
    mem.afterReady(20);
    await settle();
    expect(t.reads).toEqual([{ lo: 4, hi: 21 }]);
    expect(t.resumed).toBe(1);
    expect(storage.entries(4, 21, Infinity).map((e) => e.index)).toEqual([4, 5, 6]);
    // Pinned from 4 on for 5 s: not evicted again before it was sent.
    mem.afterReady(20);
    expect(storage.heldBytes).toBe(300);
    t.now = 5001;
    mem.afterReady(20);
    expect(storage.heldBytes).toBe(0);
  });
});
