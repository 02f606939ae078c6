// A simulated disk: writes become durable when synced; a crash keeps only a random prefix of the
// unsynced ones (the OS may or may not have flushed them), so mustSync mistakes lose data.

import { MemoryStorage } from '../../src/raft/storage.js';
import type { Rng } from '../../src/raft/rng.js';
import type { Entry, HardState, Membership, Snapshot } from '../../src/raft/types.js';

export interface DiskWrite {
  /** A snapshot received from the leader: replaces the log. */
  installed?: Snapshot;
  /** A snapshot the local state machine took: kept next to the log. */
  created?: Snapshot;
  entries?: readonly Entry[];
  hardState?: HardState;
  compactTo?: number;
}

export function applyWrite(s: MemoryStorage, w: DiskWrite): void {
  if (w.installed !== undefined) s.applySnapshot(w.installed);
  if (w.entries !== undefined && w.entries.length > 0) s.append(w.entries);
  if (w.hardState !== undefined) s.setHardState(w.hardState);
  if (w.created !== undefined) s.createSnapshot(w.created);
  if (w.compactTo !== undefined) s.compact(w.compactTo);
}

/** How many synced states a disk that can lose its synced tail keeps to roll back to. */
const HISTORY = 3;

export class SimDisk {
  durable: MemoryStorage;
  private pending: DiskWrite[] = [];
  /** The durable state before each of the last synced writes (only when tail loss is simulated). */
  private history: MemoryStorage[] = [];

  constructor(
    membership: Membership,
    private readonly keepHistory = false,
  ) {
    this.durable = new MemoryStorage(membership);
  }

  write(w: DiskWrite, sync: boolean): void {
    if (!sync) {
      this.pending.push(w);
      return;
    }
    this.flush();
    if (this.keepHistory) {
      this.history.push(this.durable.clone());
      if (this.history.length > HISTORY) this.history.shift();
    }
    applyWrite(this.durable, w);
  }

  /**
   * A disk that loses synced writes (docs/faults.md F7: a minority's records corrupted or truncated): the
   * last `k` synced writes vanish. Returns how many did, and what the node had promised before.
   */
  loseSyncedTail(k: number): { lost: number; hardTerm: number; term: number; index: number } {
    const before = this.durable;
    const snap = before.snapshot()?.meta;
    const last = before.lastIndex();
    const promise = {
      hardTerm: before.hardState().term,
      index: Math.max(last, snap?.index ?? 0),
      term: snap !== undefined && snap.index >= last ? snap.term : (before.term(last) ?? 0),
    };
    const n = Math.min(k, this.history.length);
    if (n > 0) this.durable = this.history[this.history.length - n] as MemoryStorage;
    this.history = [];
    return { lost: n, ...promise };
  }

  flush(): void {
    for (const w of this.pending) applyWrite(this.durable, w);
    this.pending = [];
  }

  get unsynced(): number {
    return this.pending.length;
  }

  /** Power loss: a random proper prefix of the unsynced writes survives. Returns how many were lost. */
  crash(rng: Rng): number {
    const keep = this.pending.length === 0 || rng.chance(0.5) ? 0 : rng.int(this.pending.length);
    for (let k = 0; k < keep; k++) applyWrite(this.durable, this.pending[k] as DiskWrite);
    const lost = this.pending.length - keep;
    this.pending = [];
    return lost;
  }

  wipe(membership: Membership): void {
    this.durable = new MemoryStorage(membership);
    this.pending = [];
    this.history = [];
  }
}
