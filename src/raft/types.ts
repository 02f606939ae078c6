// The Raft core's vocabulary: entries, persisted state, messages and the Ready contract.
// Everything here is plain data (msgpackr-encodable) so the node can persist and send it as is.

import type { LogIndex, Term } from '../protocol/ids.js';

export type NodeId = string;
/** Random id written when a data dir is formatted; a wiped disk comes back with a new one (docs/design.md §5). */
export type StorageId = string;
/** Every message, entry and storage key names its Raft group, so one node can later host several. */
export type GroupId = number;

export interface Member {
  id: NodeId;
  storageId: StorageId;
  /** Advertised client address: what NOT_LEADER hints and status report. */
  address: string;
  /** Learners receive the log but do not vote or count for commit until promoted. */
  role: 'voter' | 'learner';
  /**
   * How members dial its peer port, for a member added at run time (docs/operations.md): bootstrap
   * members are dialed from each node's --peers. Carried, never read, by the core.
   */
  peerAddress?: string;
}

/**
 * A configuration. `outgoing` is set only while a joint-consensus change is in progress
 * (decisions need a majority of both `members` voters and `outgoing` voters).
 */
export interface Membership {
  members: Member[];
  outgoing?: Member[];
}

export const EntryType = {
  /** Application data: an encoded state-machine envelope (src/protocol). */
  Normal: 0,
  /** Appended by a new leader so that it can commit an entry of its own term (Raft §5.4.2). */
  NoOp: 1,
  /** A membership change; takes effect when appended, reverts if truncated. */
  Config: 2,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  index: LogIndex;
  term: Term;
  type: EntryType;
  /** Normal: the application's bytes. Empty for NoOp. */
  data: Uint8Array;
  /** Config: the membership that takes effect at this index. */
  config?: Membership;
}

/**
 * Set when storage lost state this node may already have promised to peers (a synced record gone,
 * docs/faults.md P11): an upper bound of the (index, term) of the last entry its log had before the loss,
 * so of every entry it may have acknowledged. Until its log is repaired, the node does not campaign,
 * and it votes only for a candidate whose log is at least as up to date as this bound — which, by
 * Raft's election rule, holds every committed entry the lost part held.
 */
export interface RecoveryFloor {
  index: LogIndex;
  /** The term of that last entry (or any larger term: a larger bound is only more cautious). */
  term: Term;
}

/** Must be durable before any message that depends on it is sent. */
export interface HardState {
  term: Term;
  /** Who this node voted for in `term` (null: nobody yet). */
  vote: NodeId | null;
  commit: LogIndex;
  /** Present while recovering from lost storage (see RecoveryFloor). */
  recovery?: RecoveryFloor;
}

export interface SnapshotMeta {
  group: GroupId;
  index: LogIndex;
  term: Term;
  /** The configuration in effect at `index` (hashicorp: snapshots store the committed configuration). */
  membership: Membership;
}

export interface Snapshot {
  meta: SnapshotMeta;
  /** The application's state at meta.index (opaque to Raft). */
  data: Uint8Array;
}

/**
 * The core's read-only view of stable storage (etcd-io/raft `Storage`), synchronous: the node keeps
 * an in-memory mirror of what it has made durable. Indexes are 1-based; index 0 / term 0 is the
 * empty log. After compaction, firstIndex() - 1 ≤ snapshot.index (a few entries may be kept behind the
 * snapshot for slightly lagging followers).
 */
export interface Storage {
  initialState(): { hardState: HardState; membership: Membership };
  /**
   * Entries in [lo, hi), at least one if lo < hi, then up to maxBytes of `data` in total. Throws
   * CompactedError below firstIndex, and UnavailableError when entry lo's data is not in memory (the
   * entries returned stop before the first such entry).
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of entry i; for i = firstIndex()-1 the snapshot's term; undefined if unknown (compacted or beyond last). */
  term(i: number): Term | undefined;
  firstIndex(): LogIndex;
  lastIndex(): LogIndex;
  /** The newest durable snapshot, or null. */
  snapshot(): Snapshot | null;
}

export class CompactedError extends Error {
  constructor(readonly index: number) {
    super(`raft: index ${index} is compacted`);
    this.name = 'CompactedError';
  }
}

/**
 * The entry at `index` is in the log, but its data is not in memory now (MemoryStorage.evict): the
 * driver reads it back from the durable log, and the leader sends it once it is back.
 */
export class UnavailableError extends Error {
  constructor(readonly index: number) {
    super(`raft: the data of entry ${index} is not in memory`);
    this.name = 'UnavailableError';
  }
}

export const MessageType = {
  PreVote: 'PreVote',
  PreVoteResp: 'PreVoteResp',
  Vote: 'Vote',
  VoteResp: 'VoteResp',
  Append: 'Append',
  AppendResp: 'AppendResp',
  Heartbeat: 'Heartbeat',
  HeartbeatResp: 'HeartbeatResp',
  /** One chunk of a snapshot; the last chunk has `done: true`. */
  Snapshot: 'Snapshot',
  SnapshotResp: 'SnapshotResp',
  TimeoutNow: 'TimeoutNow',
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/**
 * One message between cores. Fields beyond the header are used per type; every message names its
 * group, term and both endpoints with the sender's storage id (docs/design.md §5 storage identity).
 */
export interface Message {
  type: MessageType;
  group: GroupId;
  term: number;
  from: NodeId;
  fromStorage: StorageId;
  /**
   * The sender's advertised client address, sent by the driver only while the membership still has
   * unbound members (bootstrap), so that the first leader can commit every member's identity.
   */
  fromAddress?: string;
  to: NodeId;
  /**
   * The storage id the sender's membership binds `to` to (when bound): a node whose data dir was
   * wiped learns from it that the cluster knows it by another identity.
   */
  toStorage?: StorageId;
  /** Append: index/term of the entry before `entries`; Vote/PreVote: candidate's last index/term. */
  index?: number;
  logTerm?: number;
  entries?: Entry[];
  /** Leader's commit index (Append, Heartbeat). */
  commit?: number;
  /** Responses: rejected, with a hint for fast back-off (conflicting term and the first index to retry). */
  reject?: boolean;
  rejectHint?: number;
  rejectTerm?: number;
  /** Heartbeat round-trip context for ReadIndex. */
  context?: number;
  /** Snapshot chunk. */
  snapshot?: { meta: SnapshotMeta; offset: number; chunk: Uint8Array; done: boolean; total: number };
  /** SnapshotResp: the index of the snapshot being acknowledged (`index` holds the bytes received). */
  snapshotIndex?: number;
  /** Vote request forced by leadership transfer (ignores leases / check-quorum stickiness). */
  transfer?: boolean;
}

export interface ReadState {
  /** Caller's request id, from readIndex(ctx). */
  ctx: number;
  /** The read may be served once applied >= index. */
  index: LogIndex;
}

export type ProposalFailure = 'not-leader' | 'stepped-down' | 'too-large' | 'uncommitted-cap' | 'transfer-in-progress';

export type ReadFailure = 'not-leader' | 'stepped-down';

export interface DroppedRead {
  /** Caller's request id from readIndex(ctx). */
  ctx: number;
  reason: ReadFailure;
}

export interface DroppedProposal {
  /** Caller's proposal id from propose(). */
  id: number;
  reason: ProposalFailure;
}

export interface SoftState {
  leader: NodeId | null;
  role: 'follower' | 'candidate' | 'precandidate' | 'leader' | 'learner';
  term: Term;
}

/**
 * What the driver must do, in this order, before calling advance():
 * 1. persist `snapshot` (if any), then `hardState` and `entries` in ONE durable (fsynced) write;
 *    an entry whose index is ≤ the stored last index replaces that suffix (truncation);
 * 2. only then send `messages` (every message may depend on step 1) — unless `sendBeforePersist`;
 * 3. apply `committedEntries` in order (they are already durable on a majority);
 * 4. serve `readStates` once applied ≥ their index; fail `droppedProposals` and `droppedReads`.
 * Messages to a node's own id never appear. `step()` may be called between ready() and advance().
 * ready() may be called again before advance() (pipelined writes): each Ready hands out only what
 * earlier ones did not, advance() acknowledges the oldest one in flight, so the writes must complete
 * and step 2 happen in the order the Readys were taken. `committedEntries` are durable on a majority
 * and handed out for writing here (in this Ready or an earlier one), not necessarily durable here yet,
 * so step 3 may happen as soon as the Ready is taken; a snapshot at an applied index must then be
 * recorded only behind the writes of the entries it covers. None is handed out beside a `snapshot`.
 */
export interface Ready {
  softState: SoftState;
  hardState: HardState | null;
  entries: Entry[];
  snapshot: Snapshot | null;
  messages: Message[];
  committedEntries: Entry[];
  readStates: ReadState[];
  droppedProposals: DroppedProposal[];
  /** ReadIndex requests that failed (not leader, or leadership lost before they were confirmed). */
  droppedReads: DroppedRead[];
  /**
   * Whether the write of step 1 must be fsynced before step 2. False only when nothing but the commit
   * index changed (the commit index can be recovered from peers; a term, vote or entry cannot).
   */
  mustSync: boolean;
  /**
   * The messages depend on nothing this Ready persists: a leader whose term and vote are already
   * durable replicates its new entries while it writes them (Raft thesis §10.2.1). Safe because the
   * leader counts its own log for commit only up to what advance() reported durable.
   */
  sendBeforePersist: boolean;
  /** Proposals appended to the log in this Ready: id -> index, so the driver can wait for their apply. */
  proposed: { id: number; index: LogIndex; term: Term }[];
}
