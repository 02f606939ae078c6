import { asLogIndex, asTerm } from '../../../src/protocol/ids.js';
import { unlink } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { NodeStorage } from '../../../src/node/storage/node-storage.js';
import { SnapshotFiles } from '../../../src/node/storage/snapshot-files.js';
import { CorruptionError, StoreFailedError } from '../../../src/node/storage/errors.js';
import { FaultLayer } from '../../../src/node/storage/fault-layer.js';
import { CompactedError } from '../../../src/raft/types.js';
import type { Snapshot } from '../../../src/raft/types.js';
import { entries, entry, membership, snapshotMeta, tempDir } from './helpers.js';

const snapshot = (index: number, term: number, text: string): Snapshot => ({
  meta: snapshotMeta(index, term),
  data: new TextEncoder().encode(text),
});

async function open(dir: string): Promise<NodeStorage> {
  return NodeStorage.open(dir, { clusterId: 'c1', initialMembership: membership });
}

describe('node-storage - NodeStorage (store + snapshot files + mirror)', () => {
  it('restores the mirror from a local snapshot plus the log after it', async () => {
    const dir = await tempDir();
    const storage = await open(dir);
    await storage.persistReady({
      hardState: { term: asTerm(2), vote: 'n1', commit: asLogIndex(6) },
      entries: entries(1, 8, 2),
      snapshot: null,
    });
    await storage.createSnapshot(snapshot(6, 2, 'state@6'));
    expect(storage.mirror.firstIndex()).toBe(7);
    await storage.persistReady({ hardState: null, entries: [entry(9, 2)], snapshot: null });
    await storage.close();

    const reopened = await open(dir);
    const { mirror } = reopened;
    expect(mirror.firstIndex()).toBe(7);
    expect(mirror.lastIndex()).toBe(9);
    expect(mirror.term(6)).toBe(2);
    expect(() => mirror.entries(5, 7, 1 << 20)).toThrow(CompactedError);
    expect(mirror.entries(7, 10, 1 << 20)).toEqual([entry(7, 2), entry(8, 2), entry(9, 2)]);
    const held = mirror.snapshot();
    expect(held === null ? null : { meta: held.meta, data: held.data }).toEqual(snapshot(6, 2, 'state@6'));
    expect(mirror.initialState().hardState).toEqual({ term: 2, vote: 'n1', commit: 6 });
    await reopened.close();
  });

  it('a commit-only write without fsync is not counted durable until a synced write follows it', async () => {
    const dir = await tempDir();
    const storage = await open(dir);
    await storage.persistReady({
      hardState: { term: asTerm(2), vote: 'n1', commit: asLogIndex(2) },
      entries: entries(1, 5, 2),
      snapshot: null,
    });
    expect(storage.durableCommit()).toBe(2);
    await storage.persistReady({
      hardState: { term: asTerm(2), vote: 'n1', commit: asLogIndex(4) },
      entries: [],
      snapshot: null,
      sync: false,
    });
    expect(storage.durableCommit()).toBe(2);
    expect(storage.mirror.hardState().commit).toBe(4);
    await storage.sync();
    expect(storage.durableCommit()).toBe(4);
    await storage.persistReady({
      hardState: { term: asTerm(2), vote: 'n1', commit: asLogIndex(5) },
      entries: [],
      snapshot: null,
      sync: false,
    });
    await storage.persistReady({ hardState: null, entries: [entry(6, 2)], snapshot: null });
    expect(storage.durableCommit()).toBe(5); // the synced entry write covered the earlier commit write
    await storage.close();
    const reopened = await open(dir);
    expect(reopened.durableCommit()).toBe(5);
    await reopened.close();
  });

  it('installs a snapshot from the leader and keeps later writes in order behind its file write', async () => {
    const dir = await tempDir();
    const storage = await open(dir);
    await storage.persistReady({
      hardState: { term: asTerm(1), vote: null, commit: asLogIndex(1) },
      entries: entries(1, 3, 1),
      snapshot: null,
    });
    const install = storage.persistReady({
      hardState: { term: asTerm(3), vote: null, commit: asLogIndex(50) },
      entries: [],
      snapshot: snapshot(50, 3, 'state@50'),
    });
    // Issued before the install finished: must land after it (else it would not fit the log).
    const next = storage.persistReady({ hardState: null, entries: [entry(51, 3)], snapshot: null });
    await Promise.all([install, next]);
    expect(storage.mirror.lastIndex()).toBe(51);
    await storage.close();

    const reopened = await open(dir);
    expect(reopened.mirror.firstIndex()).toBe(51);
    expect(reopened.mirror.entries(51, 52, 1 << 20)).toEqual([entry(51, 3)]);
    expect(reopened.mirror.snapshot()?.data).toEqual(new TextEncoder().encode('state@50'));
    expect(reopened.recovered.staleKeysRemoved).toBe(0); // the replaced log was deleted before close
    await reopened.close();
  });

  it('refuses to start when the snapshot file the store points at is missing', async () => {
    const dir = await tempDir();
    const storage = await open(dir);
    await storage.persistReady({
      hardState: { term: asTerm(1), vote: null, commit: asLogIndex(4) },
      entries: entries(1, 4, 1),
      snapshot: null,
    });
    await storage.createSnapshot(snapshot(4, 1, 'state@4'));
    await storage.close();
    const files = await SnapshotFiles.open(dir);
    const [only] = await files.list();
    await unlink(only!.path);
    await expect(open(dir)).rejects.toBeInstanceOf(CorruptionError);
  });

  it('reports a failed write once through onFailure and refuses later calls', async () => {
    const dir = await tempDir();
    const failures: Error[] = [];
    let faults: FaultLayer | undefined;
    const storage = await NodeStorage.open(dir, {
      clusterId: 'c1',
      onFailure: (e) => failures.push(e),
      wrapKv: (kv) => (faults = new FaultLayer(kv)),
    });
    faults?.failNextSyncs(1);
    const ready = {
      hardState: { term: asTerm(1), vote: null, commit: asLogIndex(0) },
      entries: [entry(1, 1)],
      snapshot: null,
    };
    await expect(storage.persistReady(ready)).rejects.toBeInstanceOf(StoreFailedError);
    await expect(storage.createSnapshot(snapshot(1, 1, 'x'))).rejects.toBeInstanceOf(StoreFailedError);
    expect(failures).toHaveLength(1);
    expect(storage.failure).toBe(failures[0]);
    expect(storage.mirror.lastIndex()).toBe(0); // the mirror never shows what is not durable
    await storage.close();
  });

  it('never prunes the snapshot in use, even after newer files were written but not recorded', async () => {
    const dir = await tempDir();
    const files = await SnapshotFiles.open(dir);
    await files.write(snapshot(5, 1, 'a'));
    files.setInUse({ index: 5, term: 1 });
    for (const index of [6, 7, 8]) await files.write(snapshot(index, 1, 'b'));
    expect((await files.list()).map((f) => f.index)).toEqual([5, 7, 8]);
  });
});
