// Ports and options of the node driver (src/node/driver.ts): everything it does not own is injected,
// so the same driver runs in the deterministic simulation and in the real process.
import type { Answer, ErrorDetail } from '../protocol/index.js';
import type { LogIndex } from '../protocol/ids.js';
import type { RaftNode } from '../raft/node.js';
import type { MemoryStorage } from '../raft/storage.js';
import type { Entry, Message, Ready, Snapshot, SnapshotMeta } from '../raft/types.js';
import type { QueueStateMachine } from '../statemachine/index.js';
import type { FsyncSummary } from '../rpc/executor.js';
import type { ClockSource } from './log-clock.js';
import type { EntryRange } from './storage/store-recovery.js';

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/**
 * The durable side of the Ready contract, and the owner of the in-memory mirror the core reads
 * (NodeStorage in production, a simulated disk in tests): it updates the mirror only after the
 * write it reflects is durable, in write order.
 */
export interface DurableLog {
  /**
   * Ready step 1: snapshot (file, then meta), hard state and entries in one durable write; then the mirror.
   * Several may be in flight (the driver pipelines): they are validated when called and complete in call
   * order, each making every earlier one durable.
   */
  persistReady(ready: {
    hardState: Ready['hardState'];
    entries: readonly Entry[];
    snapshot: Snapshot | null;
    /** false: only the commit index moved; written without fsync, durable with the next synced write. */
    sync?: boolean;
  }): Promise<void>;
  /** The highest commit index known durable (a restart starts from at least this). */
  durableCommit(): LogIndex;
  /** Makes every earlier write durable. */
  sync(): Promise<void>;
  /**
   * Entries [lo, hi) as the durable log holds them now: at least one if any is there, then up to
   * maxBytes of data and maxEntries entries; short at the first one missing or damaged.
   */
  readEntries(range: EntryRange): Promise<Entry[]>;
  /**
   * A snapshot the application takes in chunks, at `meta.index`: its data goes to the file as the chunks
   * come (no copy of the whole state in memory). See SnapshotSink for the order of the durable steps.
   */
  beginSnapshot(meta: SnapshotMeta): SnapshotSink;
}

/**
 * The file of a snapshot being taken. `write` queues chunks in order (the producer checks
 * `pendingBytes` and waits for `drained()` when over its budget). `commit` is the crash-safe order:
 * every chunk written, the file complete and fsynced and its directory entry fsynced, only then its
 * meta recorded as the snapshot, then the log compacted to `compactTo`. A failure rejects `commit`
 * (fatal: the disk's state is unknown). `abort` drops the file (the snapshot became moot).
 */
export interface SnapshotSink {
  write(chunk: Uint8Array): void;
  readonly pendingBytes: number;
  /**
   * Bytes of the first chunks written that the sink holds no more (chunks go out in order): their
   * buffers may be reused. A sink that keeps the chunks until commit keeps this at 0.
   */
  readonly releasedBytes: number;
  /** Resolves once nothing is queued (also after a failure, which `commit` then reports). */
  drained(): Promise<void>;
  commit(options: { compactTo?: LogIndex }): Promise<void>;
  abort(): void;
}

/**
 * A sink that gathers the chunks and hands the whole snapshot to `createSnapshot` on commit: for
 * in-memory disks (the simulation, tests). `skip` drops the chunk of that number (a planted bug).
 */
export function gatheringSink(
  meta: SnapshotMeta,
  createSnapshot: (snap: Snapshot, options: { compactTo?: LogIndex }) => Promise<void>,
  skip = -1,
): SnapshotSink {
  const chunks: Uint8Array[] = [];
  let seen = 0;
  return {
    write(chunk) {
      if (seen++ !== skip) chunks.push(chunk);
    },
    pendingBytes: 0,
    releasedBytes: 0,
    drained: () => Promise.resolve(),
    commit: (options) => createSnapshot({ meta, data: new Uint8Array(Buffer.concat(chunks)) }, options),
    abort: () => {
      chunks.length = 0;
    },
  };
}

export interface DriverLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface DriverOptions {
  clusterId: string;
  raft: RaftNode;
  storage: MemoryStorage;
  durable: DurableLog;
  sm: QueueStateMachine;
  send(msgs: Message[]): void;
  /** This node's advertised client address, sent to peers while the membership is still unbound. */
  advertise?: string;
  clock: ClockSource;
  timers: Timers;
  log: DriverLogger;
  /** Milliseconds per Raft tick. */
  tickMs: number;
  /** The Raft core's electionTicks (a follower's timeout draws from [electionTicks, 2·electionTicks)), for status. */
  electionTicks?: number;
  snapshotEvery: number;
  /** Entries kept below a snapshot so that slightly lagging followers need no InstallSnapshot. */
  snapshotKeep?: number;
  /** Bytes of log kept below a snapshot at most, whatever `snapshotKeep` says (default 16 MiB). */
  snapshotKeepBytes?: number;
  /** Applied log bytes after which a snapshot is due even below `snapshotEvery` entries (default 64 MiB). */
  snapshotEveryBytes?: number;
  /** Bytes of applied entries' data the log keeps in memory (the newest; default 16 MiB; log-memory.ts). */
  logMemoryBytes?: number;
  /** Snapshot chunks taken per event-loop turn at most (default 64, of up to 256 tasks each; a turn also ends after 4 ms). */
  snapshotSliceChunks?: number;
  /** Milliseconds between two slices of a snapshot (default 4: the snapshot takes at most about half a core). */
  snapshotSliceGapMs?: number;
  /** Commit index persisted at start: the node is not ready until applied reaches it. */
  startCommit: number;
  /** Called with each applied entry's index (metrics, digests). */
  onApplied?(index: number): void;
  /**
   * Called when one execute call's commands are answered, with the milliseconds since they were
   * proposed (after a held lease's hold): the node's share of a client's latency (metrics).
   */
  onCommandsAnswered?(ms: number): void;
  /** Called when the leader this node knows changes (metrics). */
  onLeaderChange?(leader: string | null, term: number): void;
  /** This node's recent fsync latency, for status (the console shows each member's). */
  fsyncSummary?(): FsyncSummary | null;
  /** Fatal: the node must stop (e.g. a failed fsync, a failed assertion). */
  onFatal(err: Error): void;
  /** Minimum time between advanceTime proposals. */
  advanceMinIntervalMs?: number;
  /** Most commands packed into one entry. */
  commandsPerEntryMax?: number;
  /**
   * Readys whose writes may be in flight at once (pipelined persistence; 1: one at a time). The next
   * batch is proposed and written while earlier ones are still being fsynced; their messages and
   * advance() still follow in order.
   */
  pipelineDepth?: number;
  /**
   * A leader proposes queued commands only while fewer of its writes carrying entries are in flight:
   * what arrives meanwhile is batched into the next entry (default 1).
   */
  proposalWritesMax?: number;
  /** Commands queued, proposing or in flight beyond this are refused (bounded buffering). */
  pendingCommandsMax?: number;
  /** Linearizable reads waiting for their read index or for apply beyond this are refused. */
  pendingReadsMax?: number;
  /**
   * Planted bug (simulation only): a deferred commit-only hard state is kept after a newer hard state
   * was written, and the next tick writes it over the newer one (an older term and vote on disk).
   */
  plantStaleDeferred?: boolean;
  /**
   * Planted bug (simulation only): a Ready's messages go out when it is taken, with its write (and the
   * earlier ones still in flight) not yet durable: acknowledgements and votes the disk does not hold.
   */
  plantSendBeforeWrite?: boolean;
  /**
   * Planted bug (simulation only): a Ready that writes nothing completes at once even with earlier
   * writes in flight: its messages (an answer to a repeated Append) claim entries not yet durable.
   */
  plantCompleteEarly?: boolean;
  /** Planted bug (simulation only): a snapshot reuses its chunks' buffers before the sink let go of them. */
  plantSnapshotEarlyReuse?: boolean;
}

export function errAnswer(error: ErrorDetail): Answer {
  return { ok: false, error };
}

/** A leader's refusal when more commands than `pendingCommandsMax` would be queued or in flight. */
export function tooManyCommands(): Answer {
  return errAnswer({
    code: 'RESOURCE_EXHAUSTED',
    message: 'too many commands in flight',
    limit: 'pendingCommands',
    retryAfterMs: 100,
  });
}
