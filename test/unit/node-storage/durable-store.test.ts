import { describe, expect, it } from 'vitest';
import { DurableStore, StoreContractError } from '../../../src/node/storage/durable-store.js';
import {
  ClusterMismatchError,
  CorruptionError,
  NotFormattedError,
  StoreFailedError,
} from '../../../src/node/storage/errors.js';
import { IDENTITY_KEY, entryKey, hardStateKey } from '../../../src/node/storage/records.js';
import { EntryType } from '../../../src/raft/types.js';
import { entries, entry, membership, openStore, snapshotMeta, tempDir, waitFor } from './helpers.js';
import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';

/** Closes and reopens the data dir, returning the recovered state of group 0. */
async function reopen(dir: string, store: DurableStore) {
  await store.close();
  const reopened = await openStore(dir);
  return { ...reopened, recovered: await reopened.store.recover() };
}

describe('node-storage - persist and recover', () => {
  it('round-trips hard state, entries (with config and binary data) and an empty start', async () => {
    const dir = await tempDir();
    const { store } = await openStore(dir);
    const empty = await store.recover();
    expect(empty).toMatchObject({ firstIndex: 1, lastIndex: 0, prevTerm: 0, entries: [], snapshotMeta: null });
    expect(empty.hardState).toEqual({ term: 0, vote: null, commit: 0 });

    const config = {
      index: asLogIndex(3),
      term: asTerm(2),
      type: EntryType.Config,
      data: new Uint8Array(),
      config: membership,
    };
    const binary = { index: asLogIndex(4), term: asTerm(2), type: EntryType.Normal, data: Uint8Array.of(0, 255, 7) };
    const log = [entry(1, 1), entry(2, 1), config, binary];
    await store.persist({ hardState: { term: asTerm(2), vote: 'n2', commit: asLogIndex(2) }, entries: log });

    const { recovered } = await reopen(dir, store);
    expect(recovered.hardState).toEqual({ term: 2, vote: 'n2', commit: 2 });
    expect(recovered.entries).toEqual(log);
    expect(recovered).toMatchObject({ firstIndex: 1, lastIndex: 4, truncated: null, staleKeysRemoved: 0 });
  });

  it('replaces the suffix when entries overwrite uncommitted indexes, deleting keys past the new end', async () => {
    const dir = await tempDir();
    const { store } = await openStore(dir);
    await store.recover();
    await store.persist({
      hardState: { term: asTerm(1), vote: 'n1', commit: asLogIndex(2) },
      entries: entries(1, 6, 1),
    });
    // A new leader of term 2 overwrites from index 4 with a shorter log.
    await store.persist({ hardState: { term: asTerm(2), vote: null, commit: asLogIndex(2) }, entries: [entry(4, 2)] });

    const { recovered } = await reopen(dir, store);
    expect(recovered.entries).toEqual([...entries(1, 3, 1), entry(4, 2)]);
    expect(recovered.lastIndex).toBe(4);
  });

  it('refuses, without writing anything, a request that breaks the Raft contract', async () => {
    const dir = await tempDir();
    const { store, faults } = await openStore(dir);
    await store.recover();
    await store.persist({
      hardState: { term: asTerm(2), vote: 'n1', commit: asLogIndex(3) },
      entries: entries(1, 4, 2),
    });
    const written = faults.batches.length;
    const bad = [
      { entries: [entry(3, 3)] }, // overwrites committed entry 3
      { entries: [entry(6, 2)] }, // leaves a gap after 4
      { entries: [entry(5, 1)] }, // term goes back
      { hardState: { term: asTerm(1), vote: null, commit: asLogIndex(3) } }, // term goes back
      { hardState: { term: asTerm(2), vote: 'n2', commit: asLogIndex(3) } }, // second vote in term 2
      { hardState: { term: asTerm(2), vote: 'n1', commit: asLogIndex(2) } }, // commit goes back
      { hardState: { term: asTerm(2), vote: 'n1', commit: asLogIndex(9) } }, // commit beyond the log
      { entries: [{ ...entry(5, 2), data: 'text' as unknown as Uint8Array }] }, // would not decode
    ];
    for (const request of bad) await expect(store.persist(request)).rejects.toBeInstanceOf(StoreContractError);
    expect(faults.batches.length).toBe(written);
    await store.persist({ entries: [entry(5, 2)] }); // still usable
    const { recovered } = await reopen(dir, store);
    expect(recovered.entries).toEqual(entries(1, 5, 2));
    expect(recovered.hardState).toEqual({ term: 2, vote: 'n1', commit: 3 });
  });
});

describe('node-storage - group commit and ordering', () => {
  it('batches requests made while a write is in flight into the next single synced write, in order', async () => {
    const dir = await tempDir();
    const { store, faults } = await openStore(dir);
    await store.recover();
    const hold = faults.holdSyncs();
    const resolved: string[] = [];
    const first = store.persist({
      hardState: { term: asTerm(1), vote: 'n1', commit: asLogIndex(0) },
      entries: [entry(1, 1)],
    });
    void first.then(() => resolved.push('first'));
    await faults.waitForHeld(1);
    const second = store.persist({ entries: [entry(2, 1), entry(3, 1)] }).then(() => resolved.push('second'));
    const third = store
      .persist({ hardState: { term: asTerm(2), vote: 'n2', commit: asLogIndex(1) }, entries: [entry(3, 2)] })
      .then(() => resolved.push('third'));
    hold.release();
    await Promise.all([first, second, third]);

    expect(resolved).toEqual(['first', 'second', 'third']);
    // Two writes reached LevelDB: the held one, then second + third merged; each with sync: true.
    expect(faults.batches.map((b) => b.synced)).toEqual([true, true, true]); // identity format, 2 writes
    // (Each persist also stamps the batch: one more op per request, for the promise file.)
    expect(faults.batches.slice(1).map((b) => b.ops)).toEqual([3, 6]);
    const { recovered } = await reopen(dir, store);
    // The later request's truncation of 3 won over the earlier write of 3: order was kept.
    expect(recovered.entries).toEqual([entry(1, 1), entry(2, 1), entry(3, 2)]);
    expect(recovered.hardState).toEqual({ term: 2, vote: 'n2', commit: 1 });
  });

  it('merges everything issued during a slow fsync into one write', async () => {
    const dir = await tempDir();
    const perBatch: number[] = [];
    const { store, faults } = await openStore(dir, { onBatchWritten: (b) => perBatch.push(b.requests) });
    await store.recover();
    faults.syncDelayMs = 20;
    const writes = [];
    for (let i = 1; i <= 10; i++)
      writes.push(
        store.persist({ hardState: { term: asTerm(1), vote: null, commit: asLogIndex(0) }, entries: [entry(i, 1)] }),
      );
    await Promise.all(writes);
    expect(perBatch).toEqual([1, 9]);
    const { recovered } = await reopen(dir, store);
    expect(recovered.entries).toEqual(entries(1, 10, 1));
  });

  it('keeps order and loses nothing when the write loop yields under steady load', async () => {
    const dir = await tempDir();
    const perBatch: number[] = [];
    const { store, faults } = await openStore(dir, {
      writeBatchOpsMax: 1,
      drainRoundsMax: 3,
      onBatchWritten: (b) => perBatch.push(b.ops),
    });
    await store.recover();
    faults.syncDelayMs = 1;
    const order: number[] = [];
    const writes = entries(1, 10, 1).map((e) => store.persist({ entries: [e] }).then(() => order.push(e.index)));
    await Promise.all(writes);
    expect(order).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(perBatch).toEqual(Array(10).fill(2)); // the entry and the batch stamp
    const { recovered } = await reopen(dir, store);
    expect(recovered.entries).toEqual(entries(1, 10, 1));
  });

  it('resolves a persist only after its write is durable', async () => {
    const dir = await tempDir();
    const { store, faults } = await openStore(dir);
    await store.recover();
    const hold = faults.holdSyncs();
    let done = false;
    const write = store.persist({ entries: [entry(1, 1)] }).then(() => (done = true));
    await faults.waitForHeld(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(done).toBe(false);
    hold.release();
    await write;
    expect(done).toBe(true);
  });
});

describe('node-storage - corruption', () => {
  it('truncates a damaged record beyond the commit index, durably, and reports it', async () => {
    const dir = await tempDir();
    const { store, faults } = await openStore(dir);
    await store.recover();
    await store.persist({
      hardState: { term: asTerm(1), vote: 'n1', commit: asLogIndex(3) },
      entries: entries(1, 6, 1),
    });
    await faults.corrupt(entryKey(0, 5));

    const { store: second, recovered } = await reopen(dir, store);
    expect(recovered.entries).toEqual(entries(1, 4, 1));
    expect(recovered.truncated).toEqual({ fromIndex: 5, throughIndex: 6, removedKeys: 2, reason: 'checksum mismatch' });
    // Entries 5 and 6 may have been acknowledged: the node restarts one term up, in recovery.
    expect(recovered.lost).toMatchObject({ floor: { index: 6, term: 1 }, fromTerm: 1, toTerm: 2 });
    expect(recovered.hardState).toEqual({ term: 2, vote: null, commit: 3, recovery: { index: 6, term: 1 } });

    // The truncation itself was durable: the next recovery sees a clean, shorter log.
    const { recovered: again } = await reopen(dir, second);
    expect(again.truncated).toBeNull();
    expect(again.lastIndex).toBe(4);
  });

  it('stops with a CorruptionError naming the index when a committed record is damaged', async () => {
    const dir = await tempDir();
    const { store, faults } = await openStore(dir);
    await store.recover();
    await store.persist({
      hardState: { term: asTerm(1), vote: 'n1', commit: asLogIndex(5) },
      entries: entries(1, 6, 1),
    });
    await faults.corrupt(entryKey(0, 3), { byteOffset: 9, mask: 0x80 });
    await store.close();

    const { store: second } = await openStore(dir);
    const error = await second.recover().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as CorruptionError).index).toBe(3);
    expect((error as CorruptionError).message).toMatch(/entry 3 is damaged .*committed prefix \(commit index 5\)/);
  });

  it('treats a missing committed entry and a damaged hard state as fatal', async () => {
    const dir = await tempDir();
    const { store, faults } = await openStore(dir);
    await store.recover();
    await store.persist({
      hardState: { term: asTerm(1), vote: 'n1', commit: asLogIndex(4) },
      entries: entries(1, 4, 1),
    });
    await faults.batch([{ type: 'del', key: entryKey(0, 2) }], { sync: true });
    await store.close();
    const { store: second, faults: secondFaults } = await openStore(dir);
    await expect(second.recover()).rejects.toThrow(/entry 2 is damaged \(missing/);

    await secondFaults.corrupt(hardStateKey(0));
    await second.close();
    const { store: third } = await openStore(dir);
    await expect(third.recover()).rejects.toThrow(/hard state of group 0 is damaged/);
  });
});

describe('node-storage - snapshots and compaction', () => {
  it('compacts behind a durable marker and survives a crash between the marker and the deletes', async () => {
    const dir = await tempDir();
    const { store, faults } = await openStore(dir, { deleteBatchMax: 3 });
    await store.recover();
    await store.persist({
      hardState: { term: asTerm(2), vote: 'n1', commit: asLogIndex(10) },
      entries: entries(1, 12, 2),
    });
    await store.recordSnapshot(snapshotMeta(10, 2));
    // Power fails right after the marker is durable: the first delete batch is held, then lost.
    const hold = faults.holdSyncs();
    const compaction = store.compact(8).catch((e: unknown) => e);
    await faults.waitForHeld(1); // the marker
    const markerDurable = faults.batches.length + 1;
    hold.release();
    faults.holdSyncs();
    await waitFor(() => faults.batches.length === markerDurable && faults.heldCount === 1, 'first delete batch');
    await faults.powerLoss();
    expect(await compaction).toBeInstanceOf(StoreFailedError);
    await store.close();

    const { store: second, recovered } = await openStore(dir).then(async (o) => ({
      ...o,
      recovered: await o.store.recover(),
    }));
    expect(recovered).toMatchObject({ firstIndex: 9, prevTerm: 2, lastIndex: 12, staleKeysRemoved: 8 });
    expect(recovered.entries).toEqual(entries(9, 12, 2));
    expect(recovered.snapshotMeta).toEqual(snapshotMeta(10, 2));
    const { recovered: again } = await reopen(dir, second);
    expect(again.staleKeysRemoved).toBe(0);
  });

  it('compacts fully when nothing fails, and refuses to compact beyond the snapshot', async () => {
    const dir = await tempDir();
    const { store } = await openStore(dir, { deleteBatchMax: 4 });
    await store.recover();
    await store.persist({
      hardState: { term: asTerm(1), vote: null, commit: asLogIndex(9) },
      entries: entries(1, 10, 1),
    });
    await expect(store.compact(5)).rejects.toBeInstanceOf(StoreContractError);
    await store.recordSnapshot(snapshotMeta(9, 1));
    await store.compact(9);
    const { recovered } = await reopen(dir, store);
    expect(recovered).toMatchObject({ firstIndex: 10, lastIndex: 10, prevTerm: 1, staleKeysRemoved: 0 });
  });

  it('replaces the log with an installed snapshot, then appends after it', async () => {
    const dir = await tempDir();
    const { store } = await openStore(dir);
    await store.recover();
    await store.persist({
      hardState: { term: asTerm(1), vote: null, commit: asLogIndex(2) },
      entries: entries(1, 5, 1),
    });
    await store.persist({
      snapshotMeta: snapshotMeta(20, 3),
      entries: [entry(21, 3)],
      hardState: { term: asTerm(3), vote: null, commit: asLogIndex(2) },
    });
    const { recovered } = await reopen(dir, store);
    expect(recovered.hardState.commit).toBe(20); // raised to the snapshot index, as MemoryStorage does
    expect(recovered).toMatchObject({ firstIndex: 21, lastIndex: 21, prevTerm: 3, staleKeysRemoved: 0 });
    expect(recovered.entries).toEqual([entry(21, 3)]);
    expect(recovered.snapshotMeta).toEqual(snapshotMeta(20, 3));
  });
});

describe('node-storage - identity', () => {
  it('formats a new storage id per data dir, keeps it across opens, and refuses another cluster', async () => {
    const [a, b] = [await tempDir(), await tempDir()];
    const first = await DurableStore.open(a, { clusterId: 'c1' });
    expect(first.formatted).toBe(true);
    const id = first.identity.storageId;
    await first.close();
    const again = await DurableStore.open(a, { clusterId: 'c1' });
    expect(again.formatted).toBe(false);
    expect(again.identity).toEqual({ clusterId: 'c1', storageId: id, formatVersion: 1 });
    await again.close();

    const other = await DurableStore.open(b, { clusterId: 'c1' });
    expect(other.identity.storageId).not.toBe(id);
    await other.close();

    await expect(DurableStore.open(a, { clusterId: 'c2' })).rejects.toBeInstanceOf(ClusterMismatchError);
    await expect(DurableStore.open(`${b}/absent`, { create: false })).rejects.toBeInstanceOf(NotFormattedError);
    // The refused open released the LevelDB lock: the dir still opens for its own cluster.
    const ok = await DurableStore.open(a, { clusterId: 'c1' });
    await ok.close();
  });
});

describe('node-storage - identity damage', () => {
  it('refuses a data dir whose identity record is damaged', async () => {
    const dir = await tempDir();
    const { store, faults } = await openStore(dir);
    await faults.corrupt(IDENTITY_KEY);
    await store.close();
    await expect(openStore(dir)).rejects.toThrow(/identity record of data dir .* is damaged/);
  });
});

describe('node-storage - failed writes are fatal', () => {
  it('enters the failed state on a failed fsync and rejects every later call', async () => {
    const dir = await tempDir();
    const failures: Error[] = [];
    const { store, faults } = await openStore(dir, { onFailure: (e) => failures.push(e) });
    await store.recover();
    await store.persist({ entries: [entry(1, 1)] });
    faults.failNextSyncs(1, { applied: true });
    const hold = faults.holdSyncs();
    const failing = store.persist({ entries: [entry(2, 1)] });
    await faults.waitForHeld(1);
    const queued = store.persist({ entries: [entry(3, 1)] }); // waiting behind the failing write
    hold.release();
    await expect(failing).rejects.toBeInstanceOf(StoreFailedError);
    await expect(queued).rejects.toBeInstanceOf(StoreFailedError);
    expect(failures).toHaveLength(1);
    expect(store.failure?.message).toMatch(/EIO/);
    await expect(store.persist({ entries: [entry(3, 1)] })).rejects.toBeInstanceOf(StoreFailedError);
    await expect(store.compact(1)).rejects.toBeInstanceOf(StoreFailedError);
    // The fsync never completed, so no later write went through.
    expect(faults.batches.filter((b) => b.synced)).toHaveLength(2);
  });
});
