/*
 * NodeStorage: one Raft group's durable store, its snapshot files and the in-memory mirror the core
 * reads (MemoryStorage), kept in step. The driver calls persistReady() for step 1 of every Ready and
 * createSnapshot() after the state machine took a snapshot; the mirror changes only after the write
 * it reflects is durable, and always in write order.
 */
import { asLogIndex } from '../../protocol/ids.js';
import type { LogIndex } from '../../protocol/ids.js';
import { MemoryStorage } from '../../raft/storage.js';
import type { GroupId, HardState, Entry, Membership, Snapshot, SnapshotMeta } from '../../raft/types.js';
import type { SnapshotSink } from '../driver-types.js';
import { DurableStore } from './durable-store.js';
import type { DurableStoreOptions, RecoveredState } from './durable-store.js';
import { StoreFailedError } from './errors.js';
import { SnapshotFiles } from './snapshot-files.js';
import { FileBackedSnapshot } from './file-backed-snapshot.js';
import { StreamedSnapshot } from './snapshot-stream.js';
import type { EntryRange } from './store-recovery.js';

export interface NodeStorageOptions extends DurableStoreOptions {
  group?: GroupId;
  /** The membership before any configuration entry or snapshot (the bootstrap configuration). */
  initialMembership?: Membership | ((identity: DurableStore['identity']) => Membership);
  /** Snapshot files kept besides the one in use (default 2). */
  keepSnapshots?: number;
  /** Planted bug (tests only): a streamed snapshot is sealed before its queued writes are done. */
  plantSnapshotCommitEarly?: boolean;
}

/** The part of a Ready that step 1 (persist) handles. */
export interface PersistableReady {
  hardState: HardState | null;
  entries: readonly Entry[];
  snapshot: Snapshot | null;
  /** false: a commit-only write, not fsynced (see PersistRequest.sync). */
  sync?: boolean;
}

export class NodeStorage {
  /** The highest commit index written (synced or not), and the highest known durable. */
  private writtenCommit = 0;
  private syncedCommit = 0;
  /** Set while a snapshot file is being written: later writes queue behind it to keep the order. */
  private slowTail: Promise<void> | null = null;
  private failed: StoreFailedError | null = null;

  private constructor(
    readonly store: DurableStore,
    readonly snapshots: SnapshotFiles,
    readonly mirror: MemoryStorage,
    /** What recovery found (truncations, stale keys), for the start-up log line. */
    readonly recovered: RecoveredState,
    private readonly group: GroupId,
    private readonly onFailure: ((error: StoreFailedError) => void) | undefined,
    private readonly plantCommitEarly = false,
  ) {
    this.writtenCommit = this.syncedCommit = mirror.hardState().commit;
  }

  /**
   * Opens (or formats) the data dir and recovers the group: hard state, log, and the snapshot the
   * store points at. Throws CorruptionError when the node must not start (see DurableStore.recover).
   */
  static async open(dataDir: string, options: NodeStorageOptions = {}): Promise<NodeStorage> {
    const group = options.group ?? 0;
    let storage: NodeStorage | null = null;
    const onFailure = (error: StoreFailedError): void => {
      storage?.fail(error);
      if (storage === null) options.onFailure?.(error);
    };
    const store = await DurableStore.open(dataDir, { ...options, onFailure });
    try {
      const recovered = await store.recover(group);
      const snapshots = await SnapshotFiles.open(dataDir, { keep: options.keepSnapshots ?? 2 });
      const meta = recovered.snapshotMeta;
      const snapshot = meta === null ? null : await snapshots.load(meta.index, meta.term);
      snapshots.setInUse(meta);
      const im = options.initialMembership;
      const initial = typeof im === 'function' ? im(store.identity) : (im ?? { members: [] });
      const mirror = loadMirror(recovered, snapshot === null ? null : backed(snapshots, snapshot), initial);
      const plant = options.plantSnapshotCommitEarly === true;
      storage = new NodeStorage(store, snapshots, mirror, recovered, group, options.onFailure, plant);
      return storage;
    } catch (error) {
      await store.close().catch(() => undefined);
      throw error;
    }
  }

  get identity(): DurableStore['identity'] {
    return this.store.identity;
  }

  /** The failure that stopped storage (a write, fsync or snapshot file error), or null. */
  get failure(): StoreFailedError | null {
    return this.failed ?? this.store.failure;
  }

  /**
   * Ready step 1: the snapshot's file (if any), then snapshot meta + entries + hard state in one
   * durable batch; then the mirror. Resolves when all of it is durable: only then may the driver
   * send the Ready's messages.
   */
  persistReady(ready: PersistableReady): Promise<void> {
    if (this.failed !== null) return Promise.reject(this.failed);
    const snapshot = ready.snapshot;
    if (snapshot === null && this.slowTail === null) return this.persistAndMirror(ready);
    return this.afterSlow(async () => {
      if (snapshot !== null) await this.writeSnapshotFile(snapshot);
      await this.persistAndMirror(ready);
      if (snapshot !== null) this.snapshots.setInUse(snapshot.meta);
    });
  }

  /** The highest commit index on stable storage: what a restart would start from, at least. */
  durableCommit(): LogIndex {
    return asLogIndex(this.syncedCommit);
  }

  /** Makes every earlier write durable, including unsynced commit-only ones. */
  async sync(): Promise<void> {
    if (this.failed !== null) throw this.failed;
    const run = async (): Promise<void> => {
      await this.store.sync();
      this.syncedCommit = Math.max(this.syncedCommit, this.writtenCommit);
    };
    return this.slowTail === null ? run() : this.afterSlow(run);
  }

  /** Entries of the durable log, to put evicted data back into the mirror (MemoryStorage.rehydrate). */
  readEntries(range: EntryRange): Promise<Entry[]> {
    if (this.failed !== null) return Promise.reject(this.failed);
    return this.store.readEntries(range, this.group);
  }

  /**
   * After the state machine took a snapshot at an applied index: file, meta, then compaction of the
   * log up to `compactTo` (default: the snapshot index; lower keeps entries for slow followers).
   */
  createSnapshot(snapshot: Snapshot, options: { compactTo?: LogIndex } = {}): Promise<void> {
    if (this.failed !== null) return Promise.reject(this.failed);
    const compactTo = options.compactTo ?? snapshot.meta.index;
    return this.afterSlow(async () => {
      await this.writeSnapshotFile(snapshot);
      await this.recordSnapshot(backed(this.snapshots, snapshot), compactTo);
    });
  }

  /**
   * A snapshot the state machine takes in chunks at an applied index: each chunk goes to the file as
   * it comes (snapshot-stream.ts). On commit: the file whole and durable, then meta, mirror, compaction.
   */
  beginSnapshot(meta: SnapshotMeta): SnapshotSink {
    return new StreamedSnapshot({
      files: this.snapshots,
      meta,
      plantCommitEarly: this.plantCommitEarly,
      failed: (error) => this.fail(new StoreFailedError(error)),
      seal: (commitFile, dataBytes, options) => {
        if (this.failed !== null) return Promise.reject(this.failed);
        const compactTo = options.compactTo ?? meta.index;
        return this.afterSlow(async () => {
          try {
            await commitFile();
          } catch (error) {
            throw this.fail(new StoreFailedError(error));
          }
          // The bytes stay in the file: the mirror reads them only for a follower that needs them.
          await this.recordSnapshot(new FileBackedSnapshot(meta, this.snapshots, dataBytes), compactTo);
        });
      },
    });
  }

  /** After its file is durable: the snapshot's meta recorded, the mirror told, then the log compacted. */
  private async recordSnapshot(snapshot: FileBackedSnapshot, compactTo: LogIndex): Promise<void> {
    await this.store.recordSnapshot(snapshot.meta, { group: this.group });
    this.mirror.createSnapshot(snapshot);
    this.snapshots.setInUse(snapshot.meta);
    // The old entries' keys go in the background: in the slow tail they held up the node's log writes.
    await this.store.compact(compactTo, { group: this.group, background: true });
    this.mirror.compact(compactTo);
  }

  close(): Promise<void> {
    return (this.slowTail ?? Promise.resolve()).then(() => this.store.close());
  }

  private async persistAndMirror(ready: PersistableReady): Promise<void> {
    await this.store.persist({
      group: this.group,
      snapshotMeta: ready.snapshot?.meta ?? null,
      entries: ready.entries,
      hardState: ready.hardState,
      sync: ready.sync ?? true,
    });
    if (ready.hardState !== null) this.writtenCommit = Math.max(this.writtenCommit, ready.hardState.commit);
    // Writes complete in order and a synced one makes every earlier one durable.
    if (ready.sync !== false) this.syncedCommit = this.writtenCommit;
    // The driver restores from the Ready's bytes; the mirror reads the file if a follower needs them.
    if (ready.snapshot !== null) this.mirror.applySnapshot(backed(this.snapshots, ready.snapshot, false));
    this.mirror.append(ready.entries);
    if (ready.hardState !== null) {
      // The store never lowers the commit index below an installed snapshot; neither does the mirror.
      const commit = asLogIndex(Math.max(ready.hardState.commit, this.mirror.hardState().commit));
      this.mirror.setHardState(Object.assign({}, ready.hardState, { commit }));
    }
  }

  private afterSlow(work: () => Promise<void>): Promise<void> {
    const result = (this.slowTail ?? Promise.resolve()).then(work);
    const tail: Promise<void> = result
      .catch(() => undefined)
      .then(() => {
        if (this.slowTail === tail) this.slowTail = null;
      });
    this.slowTail = tail;
    return result;
  }

  private async writeSnapshotFile(snapshot: Snapshot): Promise<void> {
    try {
      await this.snapshots.write(snapshot);
    } catch (error) {
      // A failed snapshot fsync leaves the disk state unknown, like a failed log write (docs/faults.md P12).
      throw this.fail(new StoreFailedError(error));
    }
  }

  private fail(error: StoreFailedError): StoreFailedError {
    if (this.failed === null) {
      this.failed = error;
      try {
        this.onFailure?.(error);
      } catch {
        // The callback's own failure must not mask the storage failure.
      }
    }
    return this.failed;
  }
}

/** Builds the core's read view from what recovery found (the snapshot replaces what it covers). */
/** The durable snapshot as the mirror keeps it: its bytes in its file (file-backed-snapshot.ts). */
function backed(files: SnapshotFiles, s: Snapshot, keepBytes = true): FileBackedSnapshot {
  return new FileBackedSnapshot(s.meta, files, s.data.byteLength, keepBytes ? s.data : null);
}

export function loadMirror(recovered: RecoveredState, snapshot: Snapshot | null, initial: Membership): MemoryStorage {
  const mirror = new MemoryStorage(initial);
  let after = recovered.firstIndex - 1;
  if (snapshot !== null) {
    mirror.applySnapshot(snapshot);
    after = snapshot.meta.index;
  }
  mirror.append(recovered.entries.filter((e) => e.index > after));
  mirror.setHardState(recovered.hardState);
  return mirror;
}
