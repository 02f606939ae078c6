// A simulated disk under one node's driver (the DurableLog of src/node/driver.ts): one ordered write
// path with an fsync delay; a write is durable when its fsync completes, and only then does the
// mirror the Raft core reads change. Power loss keeps the durable state plus, at random, a prefix of
// the writes whose fsync had not completed (the OS may have flushed some of them), never a gap.
import type { DurableLog } from '../../../src/node/driver.js';
import type { Rng } from '../../../src/raft/rng.js';
import { MemoryStorage } from '../../../src/raft/storage.js';
import type { Entry, Membership, Ready, Snapshot } from '../../../src/raft/types.js';
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
  private gen = 0;
  private lastDone = 0;
  private pending: DiskWrite[] = [];

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
    return this.mirror;
  }

  persistReady(ready: { hardState: Ready['hardState']; entries: readonly Entry[]; snapshot: Snapshot | null }) {
    const w: DiskWrite = {};
    if (ready.snapshot !== null) w.installed = ready.snapshot;
    if (ready.entries.length > 0) w.entries = ready.entries;
    if (ready.hardState !== null) w.hardState = ready.hardState;
    return this.write(w);
  }

  createSnapshot(snap: Snapshot, options: { compactTo?: number }): Promise<void> {
    const w: DiskWrite = { created: snap };
    if (options.compactTo !== undefined) w.compactTo = options.compactTo;
    return this.write(w);
  }

  private write(w: DiskWrite): Promise<void> {
    const gen = this.gen;
    return new Promise<void>((resolve) => {
      const delay = this.fsyncMinMs + this.rng.float() * (this.fsyncMaxMs - this.fsyncMinMs);
      const done = Math.max(this.sched.now, this.lastDone) + delay;
      this.lastDone = done;
      this.pending.push(w);
      if (this.lieAboutFsync) {
        applyWrite(this.mirror, w);
        resolve();
      }
      this.sched.at(done, () => {
        if (gen !== this.gen) return;
        const head = this.pending.shift();
        if (head !== w) throw new Error('sim disk: writes completed out of order');
        applyWrite(this.durable, w);
        if (!this.lieAboutFsync) applyWrite(this.mirror, w);
        this.writes++;
        this.hooks.onDurable(w);
        resolve();
      });
    });
  }

  /** Writes whose fsync has not completed. */
  get inFlight(): number {
    return this.pending.length;
  }

  /** Power loss: pending writes never complete; a random prefix of them reached the platter. */
  powerLoss(): number {
    const keep = this.pending.length === 0 || this.rng.chance(0.5) ? 0 : this.rng.int(this.pending.length);
    for (let k = 0; k < keep; k++) applyWrite(this.durable, this.pending[k] as DiskWrite);
    const lost = this.pending.length - keep;
    this.pending = [];
    this.gen++;
    this.lastDone = this.sched.now;
    return lost;
  }
}
