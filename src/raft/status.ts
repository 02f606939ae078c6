// What the core reports about itself: counters (RaftStats) and a point-in-time NodeStatus for the
// driver's status endpoint and the tests. Read-only views; nothing here changes the core.

import type { Progress, ProgressState } from './progress.js';
import type { Membership, NodeId, RecoveryFloor, StorageId } from './types.js';

export type Role = 'follower' | 'precandidate' | 'candidate' | 'leader';

export interface RaftStats {
  /** Times this node became leader. */
  elections: number;
  campaigns: number;
  preCampaigns: number;
  checkQuorumStepDowns: number;
  /** Follower log suffixes overwritten by a leader. */
  truncations: number;
  snapshotsSent: number;
  snapshotsInstalled: number;
  transfersStarted: number;
  /** Elections won through a TimeoutNow. */
  transfers: number;
  readIndexReads: number;
  /** Config entries appended as leader. */
  configChanges: number;
  configReverts: number;
  proposalsDropped: number;
  readsDropped: number;
  malformed: number;
  wrongGroup: number;
  /** Messages from an older term, ignored or answered with ours. */
  stale: number;
  /** Messages addressed to another storage id of this node (our data dir was wiped or replaced). */
  addressedToOtherStorage: number;
  /** Times this node caught up after a storage loss and may vote again. */
  recoveriesEnded: number;
  /** Votes and acknowledgements whose sender's storage id does not match the membership. */
  storageMismatch: number;
  /** Well-formed messages that make no sense in the current role (ignored). */
  ignored: number;
}

export interface ProgressStatus {
  id: NodeId;
  match: number;
  next: number;
  state: ProgressState;
  inflight: number;
  recentActive: boolean;
}

export interface NodeStatus {
  id: NodeId;
  storageId: StorageId;
  role: Role;
  term: number;
  vote: NodeId | null;
  leader: NodeId | null;
  commit: number;
  applied: number;
  firstIndex: number;
  lastIndex: number;
  membership: Membership;
  configIndex: number;
  leadTransferee: NodeId | null;
  progress: ProgressStatus[];
  /** Set while recovering from a storage loss (not voting, not campaigning). */
  recovering: RecoveryFloor | null;
}

export function newStats(): RaftStats {
  return {
    elections: 0,
    campaigns: 0,
    preCampaigns: 0,
    checkQuorumStepDowns: 0,
    truncations: 0,
    snapshotsSent: 0,
    snapshotsInstalled: 0,
    transfersStarted: 0,
    transfers: 0,
    readIndexReads: 0,
    configChanges: 0,
    configReverts: 0,
    proposalsDropped: 0,
    readsDropped: 0,
    malformed: 0,
    wrongGroup: 0,
    stale: 0,
    recoveriesEnded: 0,
    addressedToOtherStorage: 0,
    storageMismatch: 0,
    ignored: 0,
  };
}

/** The leader's view of every follower (its own match is its last durable index). */
export function progressStatus(prs: Iterable<Progress>, self: NodeId, lastIndex: number): ProgressStatus[] {
  const out: ProgressStatus[] = [];
  for (const pr of prs) {
    out.push({
      id: pr.id,
      match: pr.id === self ? lastIndex : pr.match,
      next: pr.next,
      state: pr.state,
      inflight: pr.inflights.count,
      recentActive: pr.recentActive,
    });
  }
  return out;
}
