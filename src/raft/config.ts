// Core configuration, validated up front so that bad limits fail at construction, not mid-election.

import type { GroupId, NodeId, StorageId } from './types.js';

export interface RaftConfig {
  id: NodeId;
  storageId: StorageId;
  group: GroupId;
  /** Base election timeout; a follower draws uniformly from [electionTicks, 2·electionTicks), a candidate from [⌈electionTicks/2⌉, electionTicks). */
  electionTicks: number;
  heartbeatTicks: number;
  preVote: boolean;
  checkQuorum: boolean;
  /** Bytes of entry data per Append message (at least one entry is always sent). */
  maxMsgBytes: number;
  /** Appends in flight per follower in replicate state (the pipelining window). */
  maxInflight: number;
  /** Leader refuses proposals while this many bytes are appended but not committed. */
  maxUncommittedBytes: number;
  /** Largest single proposal. */
  maxEntryBytes: number;
  snapshotChunkBytes: number;
  /** Bytes of committed entries handed out per Ready. */
  maxApplyBytes: number;
  /** The state machine's applied index at start (defaults to the snapshot's index). */
  applied?: number;
  /** Planted bugs (tests only, to show the simulation catches them); absent means correct behaviour. */
  faults?: RaftFaults;
}

/** Each switch, when true, plants one known bug in the core. Production never sets any. */
export interface RaftFaults {
  /** Count replicas of entries from earlier terms toward commit (the Raft paper's Figure 8 bug). */
  commitOldTerms?: boolean;
  /** Let a new vote and term go out in a Ready that need not be fsynced first (a crash forgets the vote). */
  voteBeforePersist?: boolean;
  /** Keep using a configuration whose entry was truncated away (no revert). */
  keepTruncatedConfig?: boolean;
  /**
   * When a truncation replaces entries already handed out in a Ready still in flight, do not hand the
   * new ones out again (pipelined writes): they are acknowledged but never written.
   */
  keepInProgressOnTruncate?: boolean;
  /**
   * Hand out every entry written here for applying, committed or not (entries now apply before they
   * are durable here: only the commit index keeps an entry a later leader may replace from applying).
   */
  applyUncommitted?: boolean;
}

export const defaultRaftLimits = {
  electionTicks: 10,
  heartbeatTicks: 2,
  preVote: true,
  checkQuorum: true,
  maxMsgBytes: 1 << 20,
  maxInflight: 64,
  maxUncommittedBytes: 64 << 20,
  maxEntryBytes: 4 << 20,
  snapshotChunkBytes: 1 << 20,
  maxApplyBytes: 8 << 20,
} as const;

export function makeRaftConfig(
  base: { id: NodeId; storageId: StorageId; group: GroupId } & Partial<RaftConfig>,
): RaftConfig {
  const cfg: RaftConfig = { ...defaultRaftLimits, ...base };
  validateRaftConfig(cfg);
  return cfg;
}

export function validateRaftConfig(cfg: RaftConfig): void {
  const positive = (name: keyof RaftConfig): void => {
    const v = cfg[name];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      throw new RangeError(`raft config: ${name} must be a positive integer, got ${String(v)}`);
    }
  };
  for (const k of [
    'electionTicks',
    'heartbeatTicks',
    'maxMsgBytes',
    'maxInflight',
    'maxUncommittedBytes',
    'maxEntryBytes',
    'snapshotChunkBytes',
    'maxApplyBytes',
  ] as const) {
    positive(k);
  }
  if (cfg.heartbeatTicks >= cfg.electionTicks) {
    throw new RangeError('raft config: heartbeatTicks must be below electionTicks');
  }
  if (cfg.id === '' || cfg.storageId === '') throw new RangeError('raft config: id and storageId are required');
  if (!Number.isSafeInteger(cfg.group) || cfg.group < 0) throw new RangeError('raft config: bad group');
}
