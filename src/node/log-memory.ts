// How much of the log's data the node keeps in memory (issue 11, D). The mirror the Raft core reads
// held every entry since the last snapshot: up to the snapshot threshold's worth of log (170 MiB with
// 1,000,000 waiting tasks), though only a lagging follower ever reads an applied entry again. Now the
// data of applied entries beyond the newest `keepBytes` is evicted (MemoryStorage.evict); when a
// follower needs it, the core finds it unavailable, and this reads it back from the durable log.
//
// A read-back pins the log from its first index for a while, so that what was read is not evicted
// again before the leader sent it (the follower catches up chunk by chunk).
import type { MemoryStorage } from '../raft/storage.js';
import type { DriverLogger, DurableLog } from './driver-types.js';

/** One read-back at most this much: a follower far behind catches up in such steps. */
const READ_MAX_BYTES = 4 * 1024 * 1024;
const READ_MAX_ENTRIES = 4096;
/** A read-back keeps its entries and everything after them in memory this long. */
const PIN_MS = 5000;

export interface LogMemoryDeps {
  storage: MemoryStorage;
  durable: Pick<DurableLog, 'readEntries'>;
  /** Bytes of applied entries' data kept in memory (the newest ones). */
  keepBytes: number;
  log: DriverLogger;
  /** The node's monotonic clock, in ms. */
  now(): number;
  /** Data is back in memory: the core may send what waited for it. */
  readBack(): void;
}

export class LogMemory {
  private reading = false;
  /** Entries from this index on stay in memory until pinUntil (a read-back in progress). */
  private pinFrom = Infinity;
  private pinUntil = -Infinity;
  /** Entries read back into memory (metrics). */
  entriesRead = 0;

  constructor(private readonly d: LogMemoryDeps) {}

  /** Bytes of entry data in memory now. */
  get heldBytes(): number {
    return this.d.storage.heldBytes;
  }

  /** After each Ready: starts a read-back the core asked for, and evicts beyond `keepBytes` of applied data. */
  afterReady(applied: number): void {
    const s = this.d.storage;
    const wanted = s.takeWanted();
    if (wanted !== null) this.readBack(wanted.lo, wanted.hi);
    // A quarter over the budget before evicting: a pass per Ready would touch a few entries each time.
    if (s.heldBytes <= this.d.keepBytes * 1.25) return;
    const pinned = this.d.now() < this.pinUntil ? this.pinFrom - 1 : Infinity;
    s.evict(Math.min(applied, pinned), this.d.keepBytes);
  }

  private readBack(lo: number, hi: number): void {
    // One at a time: the core asks again (its next round to that follower) for what is still missing.
    if (this.reading) return;
    this.reading = true;
    const now = this.d.now();
    this.pinFrom = now < this.pinUntil ? Math.min(this.pinFrom, lo) : lo;
    this.pinUntil = now + PIN_MS;
    this.d.durable
      .readEntries({ lo, hi, maxBytes: READ_MAX_BYTES, maxEntries: READ_MAX_ENTRIES })
      .then((entries) => {
        this.reading = false;
        if (this.d.storage.rehydrate(entries) === null) return;
        this.entriesRead += entries.length;
        this.d.readBack();
      })
      .catch((err: unknown) => {
        // Not fatal: the entries stay in the durable log; the core asks again, and a snapshot serves
        // the follower once they are compacted.
        this.reading = false;
        this.d.log.warn({ err: String(err), lo, hi }, 'could not read evicted log entries back');
      });
  }
}
