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

export class SimDisk {
  durable: MemoryStorage;
  private pending: DiskWrite[] = [];

  constructor(membership: Membership) {
    this.durable = new MemoryStorage(membership);
  }

  write(w: DiskWrite, sync: boolean): void {
    if (!sync) {
      this.pending.push(w);
      return;
    }
    this.flush();
    applyWrite(this.durable, w);
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
  }
}
