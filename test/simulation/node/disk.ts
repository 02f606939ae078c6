// A simulated disk under one node's driver (the DurableLog of src/node/driver.ts): one ordered write
// path with an fsync delay; a write is durable when its fsync completes, and only then does the
// mirror the Raft core reads change. Power loss keeps the durable state plus, at random, a prefix of
// the writes whose fsync had not completed (the OS may have flushed some of them), never a gap.
import type { LogIndex } from '../../../src/protocol/ids.js';
import { asLogIndex } from '../../../src/protocol/ids.js';
import type { DurableLog } from '../../../src/node/driver.js';
import type { EntryRange } from '../../../src/node/storage/store-recovery.js';
import { gatheringSink, type SnapshotSink } from '../../../src/node/driver-types.js';
import type { Rng } from '../../../src/raft/rng.js';
import { MemoryStorage } from '../../../src/raft/storage.js';
import type { Entry, Membership, Ready, Snapshot, SnapshotMeta } from '../../../src/raft/types.js';
import { applyWrite, type DiskWrite } from '../disk.js';
import type { Scheduler } from './scheduler.js';

export interface DiskHooks {
  /** A write became durable (after the mirror changed). */
  onDurable(w: DiskWrite): void;
}

export class SimDurableLog implements DurableLog {
  durable: MemoryStorage;
  mirror: MemoryStorage;
  fsyncMinMs = 0.3;
  fsyncMaxMs = 3;
  writes = 0;
  /** Planted bug for the checker's own test: report writes durable (and update the mirror) at once. */
  lieAboutFsync = false;
  /**
   * Planted bug: a leader's own log writes count as durable at once — what a core that counted
   * itself for commit before its write is durable would do, now that its Appends go out early.
   */
  lieForLeader: (() => boolean) | null = null;
  /** Planted bug: report unsynced commit-only writes as durable (a read may then be served past them). */
  lieAboutCommit = false;
  /** Planted bug: a streamed snapshot loses its second chunk on the way to the disk. */
  skipSnapshotChunk = false;
  /** Planted bug: a read of evicted entries starts one entry too far (each index gets its successor's entry). */
  plantShiftedRead = false;
  /** Reads of evicted entries served. */
  reads = 0;
  private gen = 0;
  private lastDone = 0;
  private pending: { w: DiskWrite; sync: boolean }[] = [];
  /** Completed writes without an fsync of their own: durable once a later synced write completes. */
  private volatile: DiskWrite[] = [];
  private writtenCommit = 0;
  /** The highest commit index handed to a write (at call time): a snapshot may not go beyond it. */
  private issuedCommit = 0;
  private syncedCommit = 0;

  constructor(
    private readonly sched: Scheduler,
    private readonly rng: Rng,
    membership: Membership,
    private readonly hooks: DiskHooks,
  ) {
    this.durable = new MemoryStorage(membership);
    this.mirror = this.durable.clone();
  }

  /** At (re)start: the mirror is what the disk holds. */
  open(): MemoryStorage {
    this.mirror = this.durable.clone();
    this.writtenCommit = this.syncedCommit = this.durable.hardState().commit;
    this.issuedCommit = Math.max(this.writtenCommit, this.durable.snapshot()?.meta.index ?? 0);
    return this.mirror;
  }

  persistReady(ready: {
    hardState: Ready['hardState'];
    entries: readonly Entry[];
    snapshot: Snapshot | null;
    sync?: boolean;
  }): Promise<void> {
    const w: DiskWrite = {};
    if (ready.snapshot !== null) w.installed = ready.snapshot;
    if (ready.entries.length > 0) w.entries = ready.entries;
    if (ready.hardState !== null) w.hardState = ready.hardState;
    const sync = ready.sync ?? true;
    const commit = ready.hardState?.commit ?? 0;
    this.issuedCommit = Math.max(this.issuedCommit, commit, ready.snapshot?.meta.index ?? 0);
    return this.write(w, sync, () => {
      this.writtenCommit = Math.max(this.writtenCommit, commit);
      if (sync || this.lieAboutCommit) this.syncedCommit = this.writtenCommit;
    });
  }

  durableCommit(): LogIndex {
    return asLogIndex(this.syncedCommit);
  }

  sync(): Promise<void> {
    return this.write({}, true, () => {
      this.syncedCommit = this.writtenCommit;
    });
  }

  /** What the disk holds (synced writes only), after a read delay; never answered across a crash. */
  readEntries(range: EntryRange): Promise<Entry[]> {
    const gen = this.gen;
    this.reads++;
    return new Promise<Entry[]>((resolve) => {
      this.sched.at(this.sched.now + this.fsyncMinMs + this.rng.float() * this.fsyncMinMs, () => {
        if (gen !== this.gen) return;
        const d = this.durable;
        const lo = Math.max(range.lo, d.firstIndex());
        const hi = Math.min(range.hi, d.lastIndex() + 1, lo + range.maxEntries);
        if (lo !== range.lo || lo >= hi) return resolve([]);
        // The planted bug reads from one key too far: entry i+1's data under index i.
        const shift = this.plantShiftedRead ? 1 : 0;
        const got = d.entries(lo + shift, Math.min(hi + shift, d.lastIndex() + 1), range.maxBytes);
        resolve(shift === 0 ? got : got.map((e, j) => ({ ...e, index: asLogIndex(lo + j) })));
      });
    });
  }

  beginSnapshot(meta: SnapshotMeta): SnapshotSink {
    return gatheringSink(meta, (snap, options) => this.createSnapshot(snap, options), this.skipSnapshotChunk ? 1 : -1);
  }

  createSnapshot(snap: Snapshot, options: { compactTo?: number }): Promise<void> {
    // The real store (DurableStore.recordSnapshot) refuses a snapshot beyond the commit index written.
    if (snap.meta.index > this.issuedCommit) {
      return Promise.reject(
        new Error(`snapshot ${snap.meta.index} beyond the commit index ${this.issuedCommit} written`),
      );
    }
    const w: DiskWrite = { created: snap };
    if (options.compactTo !== undefined) w.compactTo = options.compactTo;
    return this.write(w);
  }

  /** `settled` runs when the write is reported done (before its promise resolves). */
  private write(w: DiskWrite, sync = true, settled: () => void = () => {}): Promise<void> {
    const gen = this.gen;
    const lie = this.lieAboutFsync || (w.entries !== undefined && this.lieForLeader?.() === true);
    return new Promise<void>((resolve) => {
      // An unsynced write costs no fsync, but still waits its turn on the one write path.
      const delay = sync ? this.fsyncMinMs + this.rng.float() * (this.fsyncMaxMs - this.fsyncMinMs) : 0.01;
      const done = Math.max(this.sched.now, this.lastDone) + delay;
      this.lastDone = done;
      const item = { w, sync };
      this.pending.push(item);
      if (lie) {
        applyWrite(this.mirror, w);
        settled();
        resolve();
      }
      this.sched.at(done, () => {
        if (gen !== this.gen) return;
        const head = this.pending.shift();
        if (head !== item) throw new Error('sim disk: writes completed out of order');
        if (!lie) applyWrite(this.mirror, w);
        if (sync) {
          for (const v of this.volatile) applyWrite(this.durable, v);
          this.volatile = [];
          applyWrite(this.durable, w);
          this.writes++;
          this.hooks.onDurable(w);
        } else {
          this.volatile.push(w);
        }
        if (!lie) {
          settled();
          resolve();
        }
      });
    });
  }

  /** Writes whose fsync has not completed. */
  get inFlight(): number {
    return this.pending.length + this.volatile.length;
  }

  /** Power loss: pending writes never complete; a random prefix of them reached the platter. */
  powerLoss(): number {
    const unsynced = [...this.volatile, ...this.pending.map((p) => p.w)];
    const keep = unsynced.length === 0 || this.rng.chance(0.5) ? 0 : this.rng.int(unsynced.length);
    for (let k = 0; k < keep; k++) applyWrite(this.durable, unsynced[k] as DiskWrite);
    const lost = unsynced.length - keep;
    this.pending = [];
    this.volatile = [];
    this.gen++;
    this.lastDone = this.sched.now;
    return lost;
  }
}
