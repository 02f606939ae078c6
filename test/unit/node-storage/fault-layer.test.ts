import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';
import { describe, expect, it } from 'vitest';
import type { DurableStore } from '../../../src/node/storage/durable-store.js';
import { PowerLossError, corruptEntryInDataDir } from '../../../src/node/storage/fault-layer.js';
import type { FaultLayer } from '../../../src/node/storage/fault-layer.js';
import { StoreFailedError } from '../../../src/node/storage/errors.js';
import type { Entry } from '../../../src/raft/types.js';
import { entries, entry, openStore, tempDir } from './helpers.js';

const k = (n: number): Uint8Array => Uint8Array.of(0x7f, n);
const v = (n: number): Uint8Array => Uint8Array.of(n);
/** LevelDB hands back Buffers; compare plain bytes. */
const read = async (faults: FaultLayer, key: Uint8Array): Promise<Uint8Array | undefined> => {
  const value = await faults.get(key);
  return value === undefined ? undefined : Uint8Array.from(value);
};

/**
 * The acceptance check of a power-loss test: every entry whose persist resolved (was acknowledged)
 * is present after recovery. Returns the indexes that were lost.
 */
function lostAcknowledged(acknowledged: Entry[], recovered: Entry[]): number[] {
  const present = new Map(recovered.map((e) => [e.index, e.term]));
  return acknowledged.filter((e) => present.get(e.index) !== e.term).map((e) => e.index);
}

/**
 * Persists entries one Ready at a time, then cuts the power (while one more write is in its fsync,
 * if `inFlight`).
 */
async function acknowledgeThenPowerFail(
  store: DurableStore,
  faults: FaultLayer,
  options: { count: number; inFlight: boolean },
): Promise<Entry[]> {
  const { count } = options;
  await store.recover();
  const acknowledged: Entry[] = [];
  for (let i = 1; i <= count; i++) {
    const e = entry(i, 1);
    await store.persist({ hardState: { term: asTerm(1), vote: 'n1', commit: asLogIndex(i - 1) }, entries: [e] });
    acknowledged.push(e);
  }
  if (!options.inFlight) {
    await faults.powerLoss();
  } else {
    faults.holdSyncs();
    const inFlight = store.persist({ entries: [entry(count + 1, 1)] });
    await faults.waitForHeld(1);
    await faults.powerLoss();
    await expect(inFlight).rejects.toBeInstanceOf(StoreFailedError);
  }
  await store.close();
  return acknowledged;
}

describe('node-storage - fault layer power loss', () => {
  it('keeps synced batches, rolls back unsynced ones and refuses writes once powered off', async () => {
    const dir = await tempDir();
    const { faults } = await openStore(dir);
    await faults.batch([{ type: 'put', key: k(1), value: v(1) }], { sync: true });
    await faults.batch([{ type: 'put', key: k(1), value: v(2) }], { sync: false });
    await faults.batch(
      [
        { type: 'put', key: k(2), value: v(3) },
        { type: 'put', key: k(2), value: v(4) },
      ],
      { sync: false },
    );
    expect(await read(faults, k(1))).toEqual(v(2)); // visible before the power cut, like the page cache
    expect(await faults.powerLoss()).toEqual({ rolledBack: 2 });
    expect(await read(faults, k(1))).toEqual(v(1));
    expect(await read(faults, k(2))).toBeUndefined();
    await expect(faults.batch([{ type: 'del', key: k(1) }], { sync: true })).rejects.toBeInstanceOf(PowerLossError);
  });

  it('a synced batch makes the unsynced ones before it durable', async () => {
    const dir = await tempDir();
    const { faults } = await openStore(dir);
    await faults.batch([{ type: 'put', key: k(1), value: v(1) }], { sync: false });
    await faults.batch([{ type: 'put', key: k(2), value: v(2) }], { sync: true });
    expect(await faults.powerLoss()).toEqual({ rolledBack: 0 });
    expect(await read(faults, k(1))).toEqual(v(1));
  });

  it('loses nothing acknowledged by the group commit, only the write whose fsync was in flight', async () => {
    const dir = await tempDir();
    const { store, faults } = await openStore(dir, { besideBytesMax: 0 });
    const acknowledged = await acknowledgeThenPowerFail(store, faults, { count: 20, inFlight: true });

    const { store: reopened } = await openStore(dir, { besideBytesMax: 0 });
    const recovered = await reopened.recover();
    expect(lostAcknowledged(acknowledged, recovered.entries)).toEqual([]);
    expect(recovered.lastIndex).toBe(20);
    expect(recovered.hardState).toEqual({ term: 1, vote: 'n1', commit: 19 });
  });

  it('a small write whose fsync was in flight survives through the promise written beside it', async () => {
    const dir = await tempDir();
    const { store, faults } = await openStore(dir);
    const acknowledged = await acknowledgeThenPowerFail(store, faults, { count: 20, inFlight: true });

    const { store: reopened } = await openStore(dir);
    const recovered = await reopened.recover();
    expect(lostAcknowledged(acknowledged, recovered.entries)).toEqual([]);
    // Never acknowledged, but durable in the promise file: replayed, and no loss to recover from.
    expect(recovered.lastIndex).toBe(21);
    expect(recovered.lost).toBeNull();
    expect(recovered.hardState).toEqual({ term: 1, vote: 'n1', commit: 19 });
  });

  it('carries the unsynced batches before it beside its promise (planted: only itself, and a crash reads as a loss)', async () => {
    for (const plant of [false, true]) {
      const dir = await tempDir();
      const options = plant ? { plantBesideAfterUnsynced: true } : {};
      const { store, faults } = await openStore(dir, options);
      await store.recover();
      await store.persist({
        hardState: { term: asTerm(1), vote: 'n1', commit: asLogIndex(0) },
        entries: entries(1, 5, 1),
      });
      // A commit-only write, not fsynced (the driver's), then a small append whose fsync is cut short.
      await store.persist({ hardState: { term: asTerm(1), vote: 'n1', commit: asLogIndex(5) }, sync: false });
      faults.holdSyncs();
      const inFlight = store.persist({ entries: entries(6, 6, 1) }).catch((e: unknown) => e);
      await faults.waitForHeld(1);
      await faults.powerLoss();
      expect(await inFlight).toBeInstanceOf(StoreFailedError);
      await store.close();
      const { store: reopened } = await openStore(dir, options);
      const recovered = await reopened.recover();
      if (plant) {
        // The promise carried batch 6 alone, but LevelDB lost the commit-only batch before it too.
        expect(recovered.lastIndex).toBe(5);
        expect(recovered.lost?.reason).toMatch(/LevelDB lost synced writes/);
      } else {
        // Both were carried and are replayed: the unacknowledged append survives, nothing is lost.
        expect(recovered.lastIndex).toBe(6);
        expect(recovered.lost).toBeNull();
        expect(recovered.hardState.commit).toBe(5);
      }
      await reopened.close();
    }
  });

  it('catches the loss when the group commit omits sync: true (the check has teeth)', async () => {
    const dir = await tempDir();
    const { store, faults } = await openStore(dir, { faults: { dropSync: true } });
    const identity = store.identity;
    const acknowledged = await acknowledgeThenPowerFail(store, faults, { count: 20, inFlight: false });
    expect(faults.batches.every((b) => b.requestedSync && !b.synced)).toBe(true);

    const { store: reopened } = await openStore(dir);
    const recovered = await reopened.recover();
    expect(lostAcknowledged(acknowledged, recovered.entries)).toEqual(acknowledged.map((e) => e.index));
    // Even the identity was never durable: the data dir came back empty and was formatted anew.
    expect(reopened.formatted).toBe(true);
    expect(reopened.identity.storageId).not.toBe(identity.storageId);
  });
});

describe('node-storage - corrupting a stopped node for the jepsen-like harness', () => {
  it('damages the uncommitted tail (truncated on recovery) or a committed entry (fatal)', async () => {
    const dir = await tempDir();
    const { store } = await openStore(dir);
    await store.recover();
    await store.persist({
      hardState: { term: asTerm(1), vote: 'n1', commit: asLogIndex(7) },
      entries: entries(1, 8, 1),
    });
    await store.close();

    expect(await corruptEntryInDataDir(dir, 'tail')).toEqual({ index: 8, commit: 7, lastIndex: 8 });
    const { store: second } = await openStore(dir);
    expect((await second.recover()).truncated).toMatchObject({ fromIndex: 8, throughIndex: 8 });
    await second.close();

    await expect(corruptEntryInDataDir(dir, 'tail')).rejects.toThrow(/no uncommitted tail/);
    expect(await corruptEntryInDataDir(dir, 'committed')).toEqual({ index: 7, commit: 7, lastIndex: 7 });
    const { store: third } = await openStore(dir);
    await expect(third.recover()).rejects.toMatchObject({ name: 'CorruptionError', index: 7 });
  });
});
