// The driver's Ready write (Ready step 1), with the commit index written lazily.
//
// A commit-only hard state is not written at once: it rides the next write (entries, vote, a stale
// read's sync) or the next tick's unsynced write, so a batch costs one LevelDB write, not two. A
// quorum can tell the commit index again (docs/decisions.md, "commit index written lazily").
import type { Ready } from '../raft/types.js';
import type { DurableLog } from './driver-types.js';

export class DeferredCommitWriter {
  private deferred: Ready['hardState'] = null;

  constructor(
    private readonly durable: DurableLog,
    private readonly fatal: (err: unknown) => void,
    /** Planted bug (simulation only): see DriverOptions.plantStaleDeferred. */
    private readonly plantStale = false,
  ) {}

  /** A commit index waits to be written. */
  get pending(): boolean {
    return this.deferred !== null;
  }

  /**
   * Queued now (the store writes in call order); null when the Ready writes nothing. Only a commit index
   * moved: it waits for the next write.
   */
  persist(rd: Ready): Promise<void> | null {
    if (rd.snapshot === null && rd.entries.length === 0 && rd.hardState !== null && !rd.mustSync) {
      this.deferred = rd.hardState;
    } else if (rd.snapshot !== null || rd.hardState !== null || rd.entries.length > 0) {
      // Readys come in order: a newer hard state supersedes the deferred one.
      const hardState = rd.hardState ?? this.deferred;
      if (!this.plantStale || rd.hardState === null) this.deferred = null;
      return this.durable.persistReady({ hardState, entries: rd.entries, snapshot: rd.snapshot });
    }
    return null;
  }

  /** Writes a deferred commit index without fsync and without waiting (on a tick: restarts start closer). */
  flush(): void {
    const hardState = this.deferred;
    if (hardState === null) return;
    this.deferred = null;
    this.durable.persistReady({ hardState, entries: [], snapshot: null, sync: false }).catch(this.fatal);
  }

  /** For a stale read: the deferred commit index (if any) written and fsynced, else every earlier write synced. */
  async sync(): Promise<void> {
    const hardState = this.deferred;
    if (hardState === null) return this.durable.sync();
    this.deferred = null;
    await this.durable.persistReady({ hardState, entries: [], snapshot: null });
  }
}
