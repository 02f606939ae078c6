/*
 * DurableStore: the node's Raft log, hard state and snapshot metadata in LevelDB.
 *
 * Key layout (raw byte keys, `<dataDir>/db`; see records.ts):
 *   00 'i' 'd'                            identity {clusterId, storageId, formatVersion}: one per data dir
 *   01 <group u32 BE> 01                  hard state {term, vote, commit}
 *   01 <group u32 BE> 02                  snapshot meta {group, index, term, membership}
 *   01 <group u32 BE> 03                  log start marker {firstIndex, prevTerm}
 *   01 <group u32 BE> 10 <index u64 BE>   log entry {index, term, type, data, config?}
 * Fixed-width big-endian numbers make LevelDB's byte order numeric order, so one range scan reads a
 * group's log in index order. Every value is crc32(key ‖ body) ‖ version ‖ msgpack payload.
 * Entry keys below the log start marker are garbage left by a compaction that was interrupted
 * between writing the marker and deleting the keys; recovery ignores and deletes them.
 * Snapshot data lives in files (snapshot-files.ts), not here.
 *
 * Writes: every call goes through ONE serial queue (write-queue.ts, group commit), so vote and log
 * writes never reorder (docs/faults.md P2–P4). A failed write is fatal (P12): the store refuses every later
 * call. What a write does to the log is planned by pure functions (persist-plan.ts); recovery reads
 * live in store-recovery.ts, the data dir's identity in store-format.ts.
 *
 * Lost synced state (P11): each persist batch carries a sequence stamp (key 00 'p' 's'), and once
 * the batch is durable the promise file (promise-file.ts) records the stamp with the term, vote and
 * last index, fsynced, before the write resolves. Recovery that finds LevelDB's stamp behind the
 * file's, or that must cut a damaged tail, restarts the group one term above what it promised and
 * in recovery (HardState.recovery): no votes and no campaigns until the log is repaired.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { GroupId, HardState, RecoveryFloor, SnapshotMeta, Entry } from '../../raft/types.js';
import { asLogIndex, asTerm } from '../../protocol/ids.js';
import { CorruptionError, NotFormattedError, StorageError, type StoreFailedError } from './errors.js';
import { fsyncDir, pathExists } from './fsync.js';
import {
  check,
  del,
  lastIndexOf,
  lastTermOf,
  promiseOf,
  put,
  samePromise,
  termAt,
  type GroupLog,
} from './group-log.js';
import { LevelKv } from './kv.js';
import type { KvOp, KvStore } from './kv.js';
import { findLevelDbLogDamage } from './leveldb-log.js';
import { applyPlan, planPersist, type PersistRequest } from './persist-plan.js';
import { carry, replayCarried } from './carried-batch.js';
import { PromiseFile, type GroupPromise } from './promise-file.js';
import {
  PROMISE_SEQ_KEY,
  asPromiseSeq,
  decodeRecord,
  entryIndexOf,
  entryKey,
  entryKeyEnd,
  logStartKey,
  snapshotMetaKey,
} from './records.js';
import type { LogStartRecord } from './records.js';
import { describeOpenError, loadOrFormat, type Identity } from './store-format.js';
import { checkRecoverable, readEntryRange, readGroupHeader, ROUNDS_MAX, scanLog } from './store-recovery.js';
import type { EntryRange } from './store-recovery.js';
import { WriteQueue, type WriteRequest } from './write-queue.js';

export { StoreContractError } from './group-log.js';
export type { PersistRequest } from './persist-plan.js';
export type { Identity } from './store-format.js';

export interface DurableStoreOptions {
  /** Required to match an existing data dir; written when formatting (a random one if absent). */
  clusterId?: string;
  /** Format an empty data dir (default true). With false, an unformatted dir is a NotFormattedError. */
  create?: boolean;
  /** Called once when a write fails; the node must stop (it may neither vote nor serve). */
  onFailure?: (error: StoreFailedError) => void;
  /** Called after each durable batch (for the fsync latency histogram). */
  onBatchWritten?: (info: { requests: number; ops: number; durationMs: number }) => void;
  /** Tests only: wrap the LevelDB port, e.g. with the fault layer. */
  wrapKv?: (kv: KvStore) => KvStore;
  /** Keys deleted per batch by compaction and recovery clean-up. */
  deleteBatchMax?: number;
  /** Upper bound on operations merged into one group-commit batch (one request is never split). */
  writeBatchOpsMax?: number;
  /** Batches written back to back before the write loop yields to the event loop (default 1000). */
  drainRoundsMax?: number;
  /** Batches up to this many bytes go beside their promise, carried in it (0: never; default 3,500). */
  besideBytesMax?: number;
  /** A planted bug (tests only): a batch beside its promise carries only itself, not the unsynced before it. */
  plantBesideAfterUnsynced?: boolean;
}

export interface Truncation {
  /** The first removed index: the first damaged (or missing) record beyond the commit index. */
  fromIndex: number;
  /**
   * The highest removed index. This node may have acknowledged entries up to it, so a majority may
   * have counted them: it should not grant votes until its log is repaired past it (docs/faults.md P11).
   */
  throughIndex: number;
  removedKeys: number;
  reason: string;
}

export interface RecoveredState {
  identity: Identity;
  group: GroupId;
  hardState: HardState;
  snapshotMeta: SnapshotMeta | null;
  /** The log: entries firstIndex..lastIndex (firstIndex - 1 may lie below the snapshot index). */
  entries: Entry[];
  firstIndex: number;
  lastIndex: number;
  /** Term of entry firstIndex - 1 (0 for an empty, never compacted log). */
  prevTerm: number;
  /** A damaged tail beyond the commit index that recovery removed, durably. */
  truncated: Truncation | null;
  /** Entry keys below the log start marker (an interrupted compaction) that recovery deleted. */
  staleKeysRemoved: number;
  /**
   * Storage lost state this node may have promised (synced batches gone, or a damaged tail cut):
   * the group restarts in recovery, `hardState.recovery` set and the term one above the promise.
   */
  lost: { reason: string; floor: RecoveryFloor; fromTerm: number; toTerm: number } | null;
}

/** What a group has promised once a persist batch is durable (see the promise file). */
interface PromiseTag {
  group: GroupId;
  seq: number;
  state: GroupPromise;
}

export class DurableStore {
  private readonly groups = new Map<GroupId, GroupLog>();
  private readonly writes: WriteQueue<PromiseTag>;
  private closing = false;
  private readonly deleteBatchMax: number;
  /** The newest stamp handed out; the promise of each group as of the newest durable batch. */
  private seq: number;
  private readonly durablePromises = new Map<GroupId, GroupPromise>();

  private constructor(
    private readonly kv: KvStore,
    readonly dir: string,
    readonly identity: Identity,
    /** True when open() formatted the data dir just now (a new storage id). */
    readonly formatted: boolean,
    private readonly options: DurableStoreOptions,
    private readonly promises: PromiseFile,
    /** LevelDB's stamp at open; the file's record is `promises.current`. */
    private readonly storedSeq: number,
  ) {
    this.seq = Math.max(storedSeq, promises.current.seq);
    if (!formatted) for (const [group, p] of promises.current.groups) this.durablePromises.set(group, p);
    this.deleteBatchMax = options.deleteBatchMax ?? 1024;
    const writeBatchOpsMax = options.writeBatchOpsMax ?? 100_000;
    const drainRoundsMax = options.drainRoundsMax ?? 1000;
    check(this.deleteBatchMax >= 1 && writeBatchOpsMax >= 1, 'batch bounds must be positive');
    check(drainRoundsMax >= 1, 'drainRoundsMax must be positive');
    this.writes = new WriteQueue<PromiseTag>(kv, {
      writeBatchOpsMax,
      drainRoundsMax,
      afterBatch: (requests) => this.recordPromises(requests),
      besideBatch: (requests, ops) => this.promiseBeside(requests, ops),
      besideBytesMax: options.besideBytesMax ?? 3_500,
      ...(options.plantBesideAfterUnsynced === true ? { plantBesideAfterUnsynced: true } : {}),
      ...(options.onFailure ? { onFailure: options.onFailure } : {}),
      ...(options.onBatchWritten ? { onBatchWritten: options.onBatchWritten } : {}),
    });
  }

  static async open(dir: string, options: DurableStoreOptions = {}): Promise<DurableStore> {
    const create = options.create ?? true;
    const location = join(dir, 'db');
    const exists = await pathExists(join(location, 'CURRENT'));
    if (!exists && !create) throw new NotFormattedError(dir);
    if (exists) {
      const damage = await findLevelDbLogDamage(location);
      if (damage !== null) {
        throw new CorruptionError(
          `LevelDB file ${damage.file} of data dir ${dir} is damaged at byte ${damage.offset} (${damage.reason}); ` +
            'LevelDB would silently drop it and roll this node back: restore it from a peer',
        );
      }
    }
    let base: LevelKv;
    try {
      if (!exists) await mkdir(dir, { recursive: true });
      base = await LevelKv.open(location, { createIfMissing: create });
      if (!exists) await fsyncDir(dir);
    } catch (error) {
      throw new StorageError('OPEN_FAILED', `cannot open data dir ${dir}: ${describeOpenError(error)}`, {
        cause: error,
      });
    }
    const kv = options.wrapKv === undefined ? base : options.wrapKv(base);
    let promises: PromiseFile | null = null;
    try {
      promises = await PromiseFile.open(dir);
      // A new format starts its stamps at the file's, so a left-over file never looks newer.
      const { identity, formatted } = await loadOrFormat(kv, dir, options.clusterId, create, promises.current.seq);
      const raw = await kv.get(PROMISE_SEQ_KEY);
      let storedSeq = 0;
      if (raw !== undefined) {
        const decoded = decodeRecord(PROMISE_SEQ_KEY, raw);
        const seq = decoded.ok ? asPromiseSeq(decoded.payload) : null;
        if (seq === null) throw new CorruptionError(`batch stamp record of data dir ${dir} is damaged`);
        storedSeq = seq;
      }
      if (!formatted) storedSeq = await replayCarried(kv, promises.current, storedSeq);
      return new DurableStore(kv, dir, identity, formatted, options, promises, storedSeq);
    } catch (error) {
      await promises?.close().catch(() => undefined);
      await kv.close().catch(() => undefined);
      throw error;
    }
  }

  /** The write failure that stopped the store, or null. */
  get failure(): StoreFailedError | null {
    return this.writes.failure;
  }

  /**
   * Loads a group's durable state. Throws CorruptionError for damage the node may not repair:
   * a damaged hard state, snapshot meta or marker, or a damaged / missing entry ≤ the commit index.
   */
  async recover(group: GroupId = 0): Promise<RecoveredState> {
    this.assertUsable();
    check(!this.groups.has(group), `group ${group} already recovered`);
    const { hardState, snapshotMeta, logStart } = await readGroupHeader(this.kv, this.dir, group);
    const scan = await scanLog(this.kv, group, logStart);
    const lastIndex = logStart.firstIndex + scan.entries.length - 1;
    checkRecoverable(group, hardState, Math.max(lastIndex, snapshotMeta?.index ?? 0), scan.damage);
    const g: GroupLog = {
      group,
      firstIndex: logStart.firstIndex,
      prevTerm: logStart.prevTerm,
      terms: scan.entries.map((e) => e.term),
      hardState,
      snapshotMeta,
      garbageFrom: 0,
      collecting: null,
    };
    this.groups.set(group, g);
    let truncated: Truncation | null = null;
    if (scan.damage !== null) {
      const removed = await this.deleteEntriesFrom(group, scan.damage.index);
      truncated = { fromIndex: scan.damage.index, ...removed, reason: scan.damage.reason };
    }
    const lost = await this.checkPromise(g, truncated);
    const staleKeysRemoved = await this.collectAllGarbage(g);
    this.assertUsable();
    return {
      identity: this.identity,
      group,
      hardState: { ...g.hardState },
      snapshotMeta,
      entries: scan.entries,
      firstIndex: logStart.firstIndex,
      lastIndex,
      prevTerm: logStart.prevTerm,
      truncated,
      staleKeysRemoved,
      lost,
    };
  }

  /**
   * Compares what LevelDB recovered with what the promise file says this group had promised. If
   * synced batches are gone, or a damaged tail was cut, the group restarts in recovery one term
   * above its promise (a term may always grow; the new term also deposes a leader that still counts
   * our lost acknowledgements), durably, before the node says anything.
   */
  private async checkPromise(g: GroupLog, truncated: Truncation | null): Promise<RecoveredState['lost']> {
    const promised = this.formatted ? undefined : this.promises.current.groups.find(([id]) => id === g.group)?.[1];
    const behind = !this.formatted && this.promises.current.seq > this.storedSeq && promised !== undefined;
    if (!behind && truncated === null) {
      // LevelDB is as new as the file, or newer (a crash between a batch and its promise): the
      // node will act on what LevelDB holds, so the file must say so before anything is sent.
      const now = promiseOf(g);
      this.durablePromises.set(g.group, now);
      if (!samePromise(promised, now)) await this.promises.write({ seq: this.seq, groups: [...this.durablePromises] });
      return null;
    }
    // An upper bound of where the log ended before the loss (each part bounds one source of it;
    // the terms of cut damaged records are unknown, so the hard state's term bounds them).
    const hs = g.hardState;
    const floor: RecoveryFloor = {
      index: asLogIndex(
        Math.max(
          behind ? (promised?.lastIndex ?? 0) : 0,
          promised?.recovery?.index ?? 0,
          truncated?.throughIndex ?? 0,
          lastIndexOf(g),
          hs.recovery?.index ?? 0,
        ),
      ),
      term: asTerm(
        Math.max(
          behind ? (promised?.lastTerm ?? 0) : 0,
          promised?.recovery?.term ?? 0,
          truncated !== null ? hs.term : 0,
          lastTermOf(g),
          hs.recovery?.term ?? 0,
        ),
      ),
    };
    const toTerm = asTerm(Math.max(floor.term, promised?.term ?? 0, hs.term) + 1);
    const reason = behind
      ? `LevelDB lost synced writes: its newest batch is ${this.storedSeq}, the promise file's ${this.promises.current.seq}`
      : `cut a damaged log tail (${truncated?.reason ?? ''}) at ${truncated?.fromIndex ?? 0}`;
    const next: HardState = { term: toTerm, vote: null, commit: hs.commit, recovery: floor };
    await this.persist({ group: g.group, hardState: next });
    return { reason, floor, fromTerm: hs.term, toTerm };
  }

  /**
   * Persists one Ready's snapshot meta, entries and hard state in ONE durable batch. Resolves once
   * that batch (and everything persisted before it) is on stable storage; rejects with
   * StoreFailedError if the write failed, or StoreContractError (nothing written) on a caller bug.
   */
  async persist(request: PersistRequest): Promise<void> {
    this.assertUsable();
    const g = this.groupLog(request.group ?? 0);
    const plan = planPersist(g, request);
    applyPlan(g, plan, request.entries ?? []);
    const seq = ++this.seq;
    plan.ops.push(put(PROMISE_SEQ_KEY, { seq }));
    const written = this.enqueueWrite(plan.ops, { group: g.group, seq, state: promiseOf(g) }, request.sync ?? true);
    if (plan.garbage) void written.then(() => this.collectAllGarbage(g)).catch(() => undefined);
    return written;
  }

  /** Entries [lo, hi) of a group as stored now (see readEntryRange): evicted data read back. */
  readEntries(range: EntryRange, group: GroupId = 0): Promise<Entry[]> {
    this.assertUsable();
    return readEntryRange(this.kv, group, range);
  }

  /**
   * Records a snapshot the node took itself at an applied index (MemoryStorage.createSnapshot); the
   * log is kept. Its data file must already be durable (SnapshotFiles.write). An older one is ignored.
   */
  async recordSnapshot(meta: SnapshotMeta, options: { group?: GroupId } = {}): Promise<void> {
    this.assertUsable();
    const g = this.groupLog(options.group ?? 0);
    check(meta.group === g.group, `snapshot of group ${meta.group} recorded in group ${g.group}`);
    if (g.snapshotMeta !== null && meta.index <= g.snapshotMeta.index) return;
    check(meta.index <= g.hardState.commit, `snapshot ${meta.index} beyond commit index ${g.hardState.commit}`);
    check(termAt(g, meta.index) === meta.term, `snapshot ${meta.index}/${meta.term} does not match the log`);
    g.snapshotMeta = meta;
    await this.enqueueWrite([put(snapshotMetaKey(g.group), meta)]);
  }

  /**
   * Drops entries ≤ upToIndex, which a durable snapshot must cover. The "log starts at" marker is
   * made durable first; the keys are then deleted in bounded batches, so a crash in between leaves
   * only garbage that recovery ignores (LevelDB clear() is not atomic: docs/faults.md P6).
   * With `background`, it resolves once the marker is durable and the deletes go on behind it: a
   * node's later log writes then wait behind one delete batch at most, not the whole compaction.
   */
  async compact(upToIndex: number, options: { group?: GroupId; background?: boolean } = {}): Promise<void> {
    this.assertUsable();
    const g = this.groupLog(options.group ?? 0);
    if (upToIndex >= g.firstIndex) {
      const snapshotIndex = g.snapshotMeta?.index ?? 0;
      check(upToIndex <= snapshotIndex, `compact(${upToIndex}) beyond the snapshot index ${snapshotIndex}`);
      check(upToIndex <= lastIndexOf(g), `compact(${upToIndex}) beyond the last index ${lastIndexOf(g)}`);
      const prevTerm = termAt(g, upToIndex);
      check(prevTerm !== undefined, `no term for ${upToIndex}`);
      g.terms = g.terms.slice(upToIndex + 1 - g.firstIndex);
      g.firstIndex = upToIndex + 1;
      g.prevTerm = prevTerm;
      const marker: LogStartRecord = { firstIndex: g.firstIndex, prevTerm };
      await this.enqueueWrite([put(logStartKey(g.group), marker)]);
    }
    // A failed delete fails the store (onFailure), which stops the node: nothing to report here.
    if (options.background === true) void this.collectAllGarbage(g).catch(() => undefined);
    else await this.collectAllGarbage(g);
  }

  /** Makes every write queued before it durable (a small synced write: LevelDB's sync covers earlier ones). */
  async sync(): Promise<void> {
    this.assertUsable();
    await this.enqueueWrite([put(PROMISE_SEQ_KEY, { seq: ++this.seq })]);
  }

  /** Waits for queued writes and clean-up, then closes LevelDB. Safe to call in the failed state. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.writes.failure === null) {
      await this.enqueueWrite([]).catch(() => undefined);
      await Promise.all([...this.groups.values()].map((g) => g.collecting?.catch(() => 0)));
    }
    await this.promises.close().catch(() => undefined);
    await this.kv.close();
  }

  // ---- the write queue ----

  private enqueueWrite(ops: KvOp[], promise?: PromiseTag, sync = true): Promise<void> {
    return this.writes.enqueue(ops, promise, sync);
  }

  /** After a durable batch: the promise file, fsynced, before any of its writes resolves. */
  private async recordPromises(requests: readonly WriteRequest<PromiseTag>[]): Promise<void> {
    const next = this.promisesAfter(requests);
    // A batch that promised nothing new (e.g. only the commit index moved) leaves the file behind
    // LevelDB, which recovery reads as "nothing lost": one fsync saved on every commit.
    if (next === null) return;
    for (const [group, p] of next.groups) this.durablePromises.set(group, p);
    await this.promises.write({ seq: next.seq, groups: [...this.durablePromises] });
  }

  /** A small batch's promise, carrying the batch, written now beside it; null: `recordPromises` after it. */
  private promiseBeside(requests: readonly WriteRequest<PromiseTag>[], ops: readonly KvOp[]): Promise<void> | null {
    const next = this.promisesAfter(requests);
    if (next === null) return null;
    const write = this.promises.tryWrite({ seq: next.seq, groups: [...next.groups], batch: carry(ops) });
    if (write !== null) for (const [group, p] of next.groups) this.durablePromises.set(group, p);
    return write;
  }

  /** What the file must say once `requests` are durable, or null if they promise nothing new. */
  private promisesAfter(
    requests: readonly WriteRequest<PromiseTag>[],
  ): { seq: number; groups: Map<GroupId, GroupPromise> } | null {
    const groups = new Map(this.durablePromises);
    let seq = 0;
    let changed = false;
    for (const r of requests) {
      if (r.tag === undefined) continue;
      changed ||= !samePromise(groups.get(r.tag.group), r.tag.state);
      groups.set(r.tag.group, r.tag.state);
      seq = r.tag.seq;
    }
    return changed ? { seq, groups } : null;
  }

  private assertUsable(): void {
    if (this.writes.failure !== null) throw this.writes.failure;
    if (this.closing) throw new StorageError('CLOSED', `durable store ${this.dir} is closed`);
  }

  private groupLog(group: GroupId): GroupLog {
    const g = this.groups.get(group);
    check(g !== undefined, `group ${group} used before recover()`);
    return g;
  }

  // ---- reads and clean-up ----

  /** Deletes every entry key ≥ fromIndex (a damaged tail), durably, in bounded batches. */
  private async deleteEntriesFrom(
    group: GroupId,
    fromIndex: number,
  ): Promise<{ removedKeys: number; throughIndex: number }> {
    let removedKeys = 0;
    let throughIndex = fromIndex;
    for (let round = 0; round < ROUNDS_MAX; round++) {
      const page = await this.kv.range({
        gte: entryKey(group, fromIndex),
        lt: entryKeyEnd(group),
        limit: this.deleteBatchMax,
      });
      if (page.length === 0) return { removedKeys, throughIndex };
      await this.enqueueWrite(page.map(([key]) => del(key)));
      removedKeys += page.length;
      throughIndex = Math.max(throughIndex, entryIndexOf(group, page[page.length - 1]![0]) ?? fromIndex);
    }
    throw new CorruptionError(`group ${group}: tail truncation did not end`);
  }

  /** Deletes entry keys below the log start, until none is left (bounded rounds). */
  private async collectAllGarbage(g: GroupLog): Promise<number> {
    let removed = 0;
    for (
      let round = 0;
      round < 8 && g.garbageFrom < g.firstIndex && this.writes.failure === null && !this.closing;
      round++
    ) {
      g.collecting ??= this.collectGarbage(g).finally(() => {
        g.collecting = null;
      });
      removed += await g.collecting;
    }
    return removed;
  }

  private async collectGarbage(g: GroupLog): Promise<number> {
    let removed = 0;
    for (let round = 0; round < ROUNDS_MAX && this.writes.failure === null && !this.closing; round++) {
      const end = g.firstIndex;
      const gte = entryKey(g.group, g.garbageFrom);
      const page = await this.kv.range({ gte, lt: entryKey(g.group, end), limit: this.deleteBatchMax });
      if (page.length === 0) {
        g.garbageFrom = Math.max(g.garbageFrom, end);
        return removed;
      }
      await this.enqueueWrite(page.map(([key]) => del(key)));
      removed += page.length;
      const lastKey = page[page.length - 1]![0];
      g.garbageFrom = (entryIndexOf(g.group, lastKey) ?? end - 1) + 1;
    }
    return removed;
  }
}
