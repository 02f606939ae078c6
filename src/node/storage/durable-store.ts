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
 * Writes: every call goes through ONE serial queue; whatever queued while a write was in flight
 * goes out as the next single `batch(..., { sync: true })` (group commit), so vote and log writes
 * never reorder (FAULTS P2–P4). A failed write is fatal (P12): the store refuses every later call.
 *
 * Lost synced state (P11): each persist batch carries a sequence stamp (key 00 'p' 's'), and once
 * the batch is durable the promise file (promise-file.ts) records the stamp with the term, vote and
 * last index, fsynced, before the write resolves. Recovery that finds LevelDB's stamp behind the
 * file's, or that must cut a damaged tail, restarts the group one term above what it promised and
 * in recovery (HardState.recovery): no votes and no campaigns until the log is repaired.
 */
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { EntryType } from '../../raft/types.js';
import type { Entry, GroupId, HardState, RecoveryFloor, SnapshotMeta } from '../../raft/types.js';
import {
  ClusterMismatchError,
  CorruptionError,
  NotFormattedError,
  StorageError,
  StoreFailedError,
  describe,
} from './errors.js';
import { fsyncDir, pathExists } from './fsync.js';
import { LevelKv } from './kv.js';
import { findLevelDbLogDamage } from './leveldb-log.js';
import { PromiseFile, type GroupPromise } from './promise-file.js';
import type { KvOp, KvStore } from './kv.js';
import {
  FORMAT_VERSION,
  IDENTITY_KEY,
  PROMISE_SEQ_KEY,
  asEntry,
  asHardState,
  asIdentity,
  asLogStart,
  asPromiseSeq,
  asSnapshotMeta,
  decodeRecord,
  encodeRecord,
  entryIndexOf,
  entryKey,
  entryKeyEnd,
  entryPayload,
  hardStateKey,
  logStartKey,
  snapshotMetaKey,
} from './records.js';
import type { IdentityRecord, LogStartRecord } from './records.js';

export type Identity = IdentityRecord;

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
}

/** What one Ready asks to persist, in one durable write (src/raft/types.ts `Ready`). */
export interface PersistRequest {
  group?: GroupId;
  /** A snapshot received from the leader: the log is replaced (MemoryStorage.applySnapshot). */
  snapshotMeta?: SnapshotMeta | null;
  /** Appended; an entry whose index is ≤ the last index replaces that suffix. */
  entries?: readonly Entry[];
  hardState?: HardState | null;
}

export interface Truncation {
  /** The first removed index: the first damaged (or missing) record beyond the commit index. */
  fromIndex: number;
  /**
   * The highest removed index. This node may have acknowledged entries up to it, so a majority may
   * have counted them: it should not grant votes until its log is repaired past it (FAULTS P11).
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

/** What the store knows of a group's durable (or queued) state; the terms serve the checks. */
interface GroupLog {
  group: GroupId;
  firstIndex: number;
  prevTerm: number;
  /** terms[k] is the term of entry firstIndex + k. */
  terms: number[];
  hardState: HardState;
  snapshotMeta: SnapshotMeta | null;
  /** Entry keys in [garbageFrom, firstIndex) may still exist on disk. */
  garbageFrom: number;
  collecting: Promise<number> | null;
}

interface WriteRequest {
  ops: KvOp[];
  /** Set for persist batches: what the group has promised once this write is durable. */
  promise?: { group: GroupId; seq: number; state: GroupPromise };
  resolve: () => void;
  reject: (error: Error) => void;
}

const RANGE_PAGE = 1024;
const ENTRY_TYPES = new Set<number>(Object.values(EntryType));
const ROUNDS_MAX = 10_000_000;

/** A broken caller contract (a Raft or driver bug): nothing was written, the store stays usable. */
export class StoreContractError extends Error {
  constructor(message: string) {
    super(`durable store: ${message}`);
    this.name = 'StoreContractError';
  }
}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new StoreContractError(message);
}

const put = (key: Uint8Array, payload: unknown): KvOp => ({ type: 'put', key, value: encodeRecord(key, payload) });
const del = (key: Uint8Array): KvOp => ({ type: 'del', key });
const lastIndexOf = (g: GroupLog): number => g.firstIndex + g.terms.length - 1;

function termAt(g: GroupLog, index: number): number | undefined {
  if (index === g.firstIndex - 1) return g.prevTerm;
  if (index < g.firstIndex) return undefined;
  return g.terms[index - g.firstIndex];
}

export class DurableStore {
  private readonly groups = new Map<GroupId, GroupLog>();
  private readonly queue: WriteRequest[] = [];
  private writing = false;
  private closing = false;
  private failed: StoreFailedError | null = null;
  private readonly deleteBatchMax: number;
  private readonly writeBatchOpsMax: number;
  private readonly drainRoundsMax: number;
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
    this.writeBatchOpsMax = options.writeBatchOpsMax ?? 100_000;
    this.drainRoundsMax = options.drainRoundsMax ?? 1000;
    check(this.deleteBatchMax >= 1 && this.writeBatchOpsMax >= 1, 'batch bounds must be positive');
    check(this.drainRoundsMax >= 1, 'drainRoundsMax must be positive');
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
      return new DurableStore(kv, dir, identity, formatted, options, promises, storedSeq);
    } catch (error) {
      await promises?.close().catch(() => undefined);
      await kv.close().catch(() => undefined);
      throw error;
    }
  }

  /** The write failure that stopped the store, or null. */
  get failure(): StoreFailedError | null {
    return this.failed;
  }

  /**
   * Loads a group's durable state. Throws CorruptionError for damage the node may not repair:
   * a damaged hard state, snapshot meta or marker, or a damaged / missing entry ≤ the commit index.
   */
  async recover(group: GroupId = 0): Promise<RecoveredState> {
    this.assertUsable();
    check(!this.groups.has(group), `group ${group} already recovered`);
    const { hardState, snapshotMeta, logStart } = await this.readGroupHeader(group);
    const scan = await this.scanLog(group, logStart);
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
      index: Math.max(
        behind ? (promised?.lastIndex ?? 0) : 0,
        promised?.recovery?.index ?? 0,
        truncated?.throughIndex ?? 0,
        lastIndexOf(g),
        hs.recovery?.index ?? 0,
      ),
      term: Math.max(
        behind ? (promised?.lastTerm ?? 0) : 0,
        promised?.recovery?.term ?? 0,
        truncated !== null ? hs.term : 0,
        lastTermOf(g),
        hs.recovery?.term ?? 0,
      ),
    };
    const toTerm = Math.max(floor.term, promised?.term ?? 0, hs.term) + 1;
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
    const written = this.enqueueWrite(plan.ops, { group: g.group, seq, state: promiseOf(g) });
    if (plan.garbage) void written.then(() => this.collectAllGarbage(g)).catch(() => undefined);
    return written;
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
   * only garbage that recovery ignores (LevelDB clear() is not atomic: FAULTS P6).
   */
  async compact(upToIndex: number, options: { group?: GroupId } = {}): Promise<void> {
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
    await this.collectAllGarbage(g);
  }

  /** Waits for queued writes and clean-up, then closes LevelDB. Safe to call in the failed state. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.failed === null) {
      await this.enqueueWrite([]).catch(() => undefined);
      await Promise.all([...this.groups.values()].map((g) => g.collecting?.catch(() => 0)));
    }
    await this.promises.close().catch(() => undefined);
    await this.kv.close();
  }

  // ---- the write queue ----

  private enqueueWrite(ops: KvOp[], promise?: WriteRequest['promise']): Promise<void> {
    if (this.failed !== null) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.queue.push(promise === undefined ? { ops, resolve, reject } : { ops, promise, resolve, reject });
      if (!this.writing) {
        this.writing = true;
        void this.drain();
      }
    });
  }

  private async drain(): Promise<void> {
    let yielded = false;
    try {
      for (let round = 0; this.queue.length > 0; round++) {
        if (round === this.drainRoundsMax) {
          // A drain that never runs dry (steady load) still yields to the event loop now and then.
          yielded = true;
          setImmediate(() => void this.drain());
          return;
        }
        const requests = this.takeBatch();
        const ops = requests.length === 1 ? requests[0]!.ops : requests.flatMap((r) => r.ops);
        const started = performance.now();
        try {
          if (ops.length > 0) await this.kv.batch(ops, { sync: true });
          await this.recordPromises(requests);
        } catch (error) {
          const failure = this.fail(error);
          for (const r of [...requests, ...this.queue.splice(0)]) r.reject(failure);
          return;
        }
        if (ops.length > 0) {
          const durationMs = performance.now() - started;
          this.options.onBatchWritten?.({ requests: requests.length, ops: ops.length, durationMs });
        }
        for (const r of requests) r.resolve();
      }
    } finally {
      if (!yielded) this.writing = false;
    }
  }

  /** After a durable batch: the promise file, fsynced, before any of its writes resolves. */
  private async recordPromises(requests: WriteRequest[]): Promise<void> {
    let seq = 0;
    let changed = false;
    for (const r of requests) {
      if (r.promise === undefined) continue;
      changed ||= !samePromise(this.durablePromises.get(r.promise.group), r.promise.state);
      this.durablePromises.set(r.promise.group, r.promise.state);
      seq = r.promise.seq;
    }
    // A batch that promised nothing new (e.g. only the commit index moved) leaves the file behind
    // LevelDB, which recovery reads as "nothing lost": one fsync saved on every commit.
    if (changed) await this.promises.write({ seq, groups: [...this.durablePromises] });
  }

  private takeBatch(): WriteRequest[] {
    let count = 0;
    let ops = 0;
    for (const r of this.queue) {
      if (count > 0 && ops + r.ops.length > this.writeBatchOpsMax) break;
      count++;
      ops += r.ops.length;
    }
    return this.queue.splice(0, count);
  }

  private fail(error: unknown): StoreFailedError {
    if (this.failed === null) {
      this.failed = error instanceof StoreFailedError ? error : new StoreFailedError(error);
      try {
        this.options.onFailure?.(this.failed);
      } catch {
        // The callback's own failure must not mask the storage failure.
      }
    }
    return this.failed;
  }

  private assertUsable(): void {
    if (this.failed !== null) throw this.failed;
    if (this.closing) throw new StorageError('CLOSED', `durable store ${this.dir} is closed`);
  }

  private groupLog(group: GroupId): GroupLog {
    const g = this.groups.get(group);
    check(g !== undefined, `group ${group} used before recover()`);
    return g;
  }

  // ---- reads and clean-up ----

  private async readRecord<T>(key: Uint8Array, as: (x: unknown) => T | null, what: string): Promise<T | null> {
    const value = await this.kv.get(key);
    if (value === undefined) return null;
    const decoded = decodeRecord(key, value);
    if (!decoded.ok) throw new CorruptionError(`${what} is damaged (${decoded.reason}) in ${this.dir}`);
    const record = as(decoded.payload);
    if (record === null) throw new CorruptionError(`${what} has an invalid shape in ${this.dir}`);
    return record;
  }

  /** The group's hard state, snapshot meta and log start marker (defaults for a new group). */
  private async readGroupHeader(
    group: GroupId,
  ): Promise<{ hardState: HardState; snapshotMeta: SnapshotMeta | null; logStart: LogStartRecord }> {
    const what = (record: string): string => `${record} of group ${group}`;
    const hardState = (await this.readRecord(hardStateKey(group), asHardState, what('hard state'))) ?? {
      term: 0,
      vote: null,
      commit: 0,
    };
    const snapshotMeta = await this.readRecord(snapshotMetaKey(group), asSnapshotMeta, what('snapshot meta'));
    const logStart = (await this.readRecord(logStartKey(group), asLogStart, what('log start marker'))) ?? {
      firstIndex: 1,
      prevTerm: 0,
    };
    if (snapshotMeta !== null && snapshotMeta.group !== group) {
      throw new CorruptionError(`snapshot meta of group ${group} names group ${snapshotMeta.group}`);
    }
    const snapshotIndex = snapshotMeta?.index ?? 0;
    if (logStart.firstIndex - 1 > snapshotIndex) {
      throw new CorruptionError(
        `group ${group}: the log starts at ${logStart.firstIndex} but the snapshot covers only up to ${snapshotIndex}`,
        logStart.firstIndex - 1,
      );
    }
    return { hardState, snapshotMeta, logStart };
  }

  /** Reads the log from the marker on, stopping at the first damaged, missing or inconsistent record. */
  private async scanLog(
    group: GroupId,
    start: LogStartRecord,
  ): Promise<{ entries: Entry[]; damage: { index: number; reason: string } | null }> {
    const entries: Entry[] = [];
    let prevTerm = start.prevTerm;
    for (let round = 0; round < ROUNDS_MAX; round++) {
      const expected = start.firstIndex + entries.length;
      const page = await this.kv.range({ gte: entryKey(group, expected), lt: entryKeyEnd(group), limit: RANGE_PAGE });
      for (const [key, value] of page) {
        const next = start.firstIndex + entries.length;
        const index = entryIndexOf(group, key);
        if (index !== next) return { entries, damage: { index: next, reason: `missing (next key is ${index})` } };
        const entry = readEntry(key, value, index, prevTerm);
        if (typeof entry === 'string') return { entries, damage: { index, reason: entry } };
        entries.push(entry);
        prevTerm = entry.term;
      }
      if (page.length < RANGE_PAGE) return { entries, damage: null };
    }
    throw new CorruptionError(`group ${group}: log scan did not end`);
  }

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
    for (let round = 0; round < 8 && g.garbageFrom < g.firstIndex && this.failed === null && !this.closing; round++) {
      g.collecting ??= this.collectGarbage(g).finally(() => {
        g.collecting = null;
      });
      removed += await g.collecting;
    }
    return removed;
  }

  private async collectGarbage(g: GroupLog): Promise<number> {
    let removed = 0;
    for (let round = 0; round < ROUNDS_MAX && this.failed === null && !this.closing; round++) {
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

/** Damage at or below the commit index, or a missing committed entry, stops the node (FAULTS P11). */
function checkRecoverable(
  group: GroupId,
  hardState: HardState,
  coveredIndex: number,
  damage: { index: number; reason: string } | null,
): void {
  const advice = 'this node must not vote or serve: restore it from a peer';
  if (damage !== null && damage.index <= hardState.commit) {
    throw new CorruptionError(
      `group ${group}: log entry ${damage.index} is damaged (${damage.reason}) inside the committed prefix ` +
        `(commit index ${hardState.commit}); ${advice}`,
      damage.index,
    );
  }
  if (hardState.commit > coveredIndex) {
    throw new CorruptionError(
      `group ${group}: committed entry ${coveredIndex + 1} is missing (commit index ${hardState.commit}, ` +
        `log ends at ${coveredIndex}); ${advice}`,
      coveredIndex + 1,
    );
  }
}

/** An entry record, or why it cannot be trusted. */
function readEntry(key: Uint8Array, value: Uint8Array, index: number, prevTerm: number): Entry | string {
  const decoded = decodeRecord(key, value);
  if (!decoded.ok) return decoded.reason;
  const entry = asEntry(decoded.payload);
  if (entry === null) return 'invalid entry shape';
  if (entry.index !== index) return `record holds entry ${entry.index}`;
  if (entry.term < 1 || entry.term < prevTerm) return `term ${entry.term} after term ${prevTerm}`;
  return entry;
}

interface PersistPlan {
  ops: KvOp[];
  firstIndex: number;
  prevTerm: number;
  /** The snapshot replaced the whole log. */
  discard: boolean;
  /** Index of the first appended entry. */
  appendFrom: number;
  hardState: HardState;
  snapshotMeta: SnapshotMeta | null;
  /** Entry keys below the new log start remain: delete them after the write. */
  garbage: boolean;
}

/** Validates a request against the group's state and lists its operations; mutates nothing. */
function planPersist(g: GroupLog, request: PersistRequest): PersistPlan {
  const ops: KvOp[] = [];
  let firstIndex = g.firstIndex;
  let prevTerm = g.prevTerm;
  let lastIndex = lastIndexOf(g);
  let commitFloor = g.hardState.commit;
  let snapshotMeta = g.snapshotMeta;
  const meta = request.snapshotMeta ?? null;
  if (meta !== null) {
    check(meta.group === g.group, `snapshot of group ${meta.group} persisted in group ${g.group}`);
    check(meta.index >= (g.snapshotMeta?.index ?? 0), `snapshot ${meta.index} older than the stored one`);
    check(meta.index >= g.firstIndex - 1, `snapshot ${meta.index} below the log start ${g.firstIndex}`);
    check(meta.term >= 1 || meta.index === 0, `snapshot ${meta.index} without a term`);
    // The log is replaced: keys above the snapshot go now (recovery would read them), those below later.
    for (let i = Math.max(firstIndex, meta.index + 1); i <= lastIndex; i++) ops.push(del(entryKey(g.group, i)));
    firstIndex = meta.index + 1;
    prevTerm = meta.term;
    lastIndex = meta.index;
    commitFloor = Math.max(commitFloor, meta.index);
    snapshotMeta = meta;
    ops.push(put(snapshotMetaKey(g.group), meta), put(logStartKey(g.group), { firstIndex, prevTerm }));
  }
  const entries = request.entries ?? [];
  let appendFrom = lastIndex + 1;
  const first = entries[0];
  if (first !== undefined) {
    check(first.index >= firstIndex && first.index <= lastIndex + 1, entriesRange(first.index, firstIndex, lastIndex));
    let before = first.index === firstIndex ? prevTerm : termAt(g, first.index - 1);
    for (const [k, entry] of entries.entries()) {
      check(entry.index === first.index + k, `entries not contiguous at ${entry.index}`);
      check(entry.data instanceof Uint8Array && ENTRY_TYPES.has(entry.type), `entry ${entry.index} is malformed`);
      check(before !== undefined && entry.term >= before && entry.term >= 1, `entry ${entry.index} term goes back`);
      if (meta === null && entry.index <= g.hardState.commit) {
        check(termAt(g, entry.index) === entry.term, `entry ${entry.index} would overwrite a committed entry`);
      }
      before = entry.term;
    }
    const newLast = first.index + entries.length - 1;
    for (let i = newLast + 1; i <= lastIndex; i++) ops.push(del(entryKey(g.group, i)));
    for (const entry of entries) ops.push(put(entryKey(g.group, entry.index), entryPayload(entry)));
    appendFrom = first.index;
    lastIndex = newLast;
  }
  let hardState = g.hardState;
  let hardChanged = false;
  const next = request.hardState ?? null;
  if (next !== null) {
    check(next.term >= hardState.term, `term goes back ${hardState.term} -> ${next.term}`);
    const sameTermVoted = next.term === hardState.term && hardState.vote !== null;
    check(!sameTermVoted || next.vote === hardState.vote, `vote changes within term ${next.term}`);
    check(next.commit >= hardState.commit, `commit goes back ${hardState.commit} -> ${next.commit}`);
    hardState = { term: next.term, vote: next.vote, commit: next.commit };
    if (next.recovery !== undefined) hardState.recovery = { index: next.recovery.index, term: next.recovery.term };
    hardChanged = true;
  }
  if (hardState.commit < commitFloor) {
    hardState = { ...hardState, commit: commitFloor };
    hardChanged = true;
  }
  const covered = Math.max(lastIndex, snapshotMeta?.index ?? 0);
  check(hardState.commit <= covered, `commit ${hardState.commit} beyond the last index ${covered}`);
  if (hardChanged) ops.push(put(hardStateKey(g.group), hardState));
  const garbage = meta !== null && g.firstIndex <= Math.min(meta.index, lastIndexOf(g));
  return { ops, firstIndex, prevTerm, discard: meta !== null, appendFrom, hardState, snapshotMeta, garbage };
}

function promiseOf(g: GroupLog): GroupPromise {
  const hs = g.hardState;
  const lastIndex = Math.max(lastIndexOf(g), g.snapshotMeta?.index ?? 0);
  const lastTerm = lastTermOf(g);
  return { term: hs.term, vote: hs.vote, lastIndex, lastTerm, ...(hs.recovery ? { recovery: hs.recovery } : {}) };
}

function samePromise(a: GroupPromise | undefined, b: GroupPromise): boolean {
  return (
    a !== undefined &&
    a.term === b.term &&
    a.vote === b.vote &&
    a.lastIndex === b.lastIndex &&
    a.lastTerm === b.lastTerm &&
    a.recovery?.index === b.recovery?.index &&
    a.recovery?.term === b.recovery?.term
  );
}

/** The term of the last entry (of the log, else of the snapshot, else 0). */
function lastTermOf(g: GroupLog): number {
  const snapshotIndex = g.snapshotMeta?.index ?? 0;
  const last = lastIndexOf(g);
  if (snapshotIndex > last) return g.snapshotMeta?.term ?? 0;
  return termAt(g, last) ?? 0;
}

function entriesRange(index: number, firstIndex: number, lastIndex: number): string {
  return `entries start at ${index}, outside [${firstIndex}, ${lastIndex + 1}]`;
}

function applyPlan(g: GroupLog, plan: PersistPlan, entries: readonly Entry[]): void {
  if (plan.discard) g.terms = [];
  g.firstIndex = plan.firstIndex;
  g.prevTerm = plan.prevTerm;
  if (entries.length > 0) {
    g.terms.length = plan.appendFrom - g.firstIndex;
    for (const entry of entries) g.terms.push(entry.term);
  }
  g.hardState = plan.hardState;
  g.snapshotMeta = plan.snapshotMeta;
}

async function loadOrFormat(
  kv: KvStore,
  dir: string,
  clusterId: string | undefined,
  create: boolean,
  seq: number,
): Promise<{ identity: Identity; formatted: boolean }> {
  const raw = await kv.get(IDENTITY_KEY);
  if (raw === undefined) {
    const any = await kv.range({ gte: Uint8Array.of(0x00), lt: Uint8Array.of(0xff), limit: 1 });
    if (any.length > 0) throw new CorruptionError(`data dir ${dir} holds records but no identity record`);
    if (!create) throw new NotFormattedError(dir);
    const identity: Identity = {
      clusterId: clusterId ?? randomUUID(),
      storageId: randomUUID(),
      formatVersion: FORMAT_VERSION,
    };
    await kv.batch([put(IDENTITY_KEY, identity), put(PROMISE_SEQ_KEY, { seq })], { sync: true });
    return { identity, formatted: true };
  }
  const decoded = decodeRecord(IDENTITY_KEY, raw);
  const identity = decoded.ok ? asIdentity(decoded.payload) : null;
  if (identity === null) throw new CorruptionError(`identity record of data dir ${dir} is damaged`);
  if (identity.formatVersion > FORMAT_VERSION) {
    throw new StorageError(
      'UNSUPPORTED_FORMAT',
      `data dir ${dir} has format ${identity.formatVersion}; this build reads up to ${FORMAT_VERSION}`,
    );
  }
  if (clusterId !== undefined && clusterId !== identity.clusterId) {
    throw new ClusterMismatchError(clusterId, identity.clusterId, dir);
  }
  return { identity, formatted: false };
}

function describeOpenError(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  return cause === undefined ? describe(error) : `${describe(error)} (${describe(cause)})`;
}
