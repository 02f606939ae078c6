import { describe, expect, it } from 'vitest';
import { entryKey } from '../../../src/node/storage/records.js';
import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';
import { entries, entry, openStore, snapshotMeta, tempDir } from './helpers.js';

// DurableStore.readEntries: what a node reads back when a lagging follower needs entries whose data
// its memory no longer holds (src/node/log-memory.ts).
const all = { maxBytes: Infinity, maxEntries: 1000 };

describe('node-storage - reading entries back', () => {
  it('reads [lo, hi) in order, at least one, then within maxBytes and maxEntries', async () => {
    const { store } = await openStore(await tempDir());
    await store.recover();
    await store.persist({
      hardState: { term: asTerm(1), vote: null, commit: asLogIndex(10) },
      entries: entries(1, 10, 1),
    });

    expect(await store.readEntries({ lo: 3, hi: 7, ...all })).toEqual(entries(3, 6, 1));
    // "e3t1" is 4 bytes: a budget of 1 byte still gives one entry, 8 bytes two.
    expect(await store.readEntries({ lo: 3, hi: 7, maxBytes: 1, maxEntries: 1000 })).toEqual([entry(3, 1)]);
    expect(await store.readEntries({ lo: 3, hi: 7, maxBytes: 8, maxEntries: 1000 })).toEqual(entries(3, 4, 1));
    expect(await store.readEntries({ lo: 3, hi: 11, maxBytes: Infinity, maxEntries: 3 })).toEqual(entries(3, 5, 1));
    expect(await store.readEntries({ lo: 9, hi: 20, ...all })).toEqual(entries(9, 10, 1));
    expect(await store.readEntries({ lo: 11, hi: 20, ...all })).toEqual([]);
  });

  it('gives nothing below a compaction, and stops before a damaged record', async () => {
    const dir = await tempDir();
    const { store, faults } = await openStore(dir);
    await store.recover();
    await store.persist({
      hardState: { term: asTerm(1), vote: null, commit: asLogIndex(10) },
      entries: entries(1, 10, 1),
    });
    await store.recordSnapshot(snapshotMeta(4, 1));
    await store.compact(4);
    await faults.corrupt(entryKey(0, 7), { byteOffset: 8 });
    expect(await store.readEntries({ lo: 2, hi: 11, ...all })).toEqual([]);
    expect(await store.readEntries({ lo: 5, hi: 11, ...all })).toEqual(entries(5, 6, 1));
    expect(await store.readEntries({ lo: 7, hi: 11, ...all })).toEqual([]);
  });
});
