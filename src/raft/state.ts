// CoreState: the Raft core's state as one record, with the transitions every role shares (appending,
// membership, stepping down, sending). RaftNode (node.ts: elections, follower) and leader.ts (the
// leader's replication, proposals, reads, transfers) both work on it; nothing outside src/raft sees it.

import { asLogIndex, asTerm } from '../protocol/ids.js';
import { validateRaftConfig } from './config.js';
import type { RaftConfig, RaftFaults } from './config.js';
import { RaftLog } from './log.js';
import { Configs } from './membership.js';
import { Progress } from './progress.js';
import { ProposalQueue } from './proposals.js';
import type { Self } from './quorum.js';
import { ReadIndexQueue } from './read-index.js';
import { Outbox } from './ready.js';
import { recoveryEnds, recoveryField } from './recovery.js';
import type { Outgoing } from './replication.js';
import type { Random } from './rng.js';
import { SnapshotReceiver } from './snapshot.js';
import { newStats } from './status.js';
import type { RaftStats, Role } from './status.js';
import { EntryType } from './types.js';
import type {
  DroppedProposal,
  DroppedRead,
  Entry,
  GroupId,
  HardState,
  Membership,
  Message,
  NodeId,
  RecoveryFloor,
  Storage,
  StorageId,
} from './types.js';

const noFaults: RaftFaults = {};

export class CoreState {
  readonly id: NodeId;
  readonly storageId: StorageId;
  readonly group: GroupId;
  readonly stats: RaftStats = newStats();
  readonly cfg: RaftConfig;
  readonly faults: RaftFaults;
  readonly rng: Random;
  readonly log: RaftLog;
  readonly configs: Configs;

  term = 0;
  vote: NodeId | null = null;
  /** Non-null after a storage loss until caught up: no votes, no campaigns (docs/faults.md P11). */
  recovery: RecoveryFloor | null = null;
  lead: NodeId | null = null;
  role: Role = 'follower';

  /** Leader: one per member (and itself). */
  prs = new Map<NodeId, Progress>();
  /** (Pre-)candidate: answers so far. */
  votes = new Map<NodeId, boolean>();
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  leadTransferee: NodeId | null = null;
  campaignIsTransfer = false;

  /** What the next Ready hands out. */
  out = new Outbox();
  /** Leader: proposals appended in this term and not committed yet. */
  proposals = new ProposalQueue();
  reads = new ReadIndexQueue();
  receiver = new SnapshotReceiver();
  readonly sendFn = (m: Outgoing): void => this.send(m);

  /** Loads the durable state; the caller then settles recovery and starts the timers. */
  constructor(config: RaftConfig, storage: Storage, rng: Random) {
    validateRaftConfig(config);
    this.cfg = config;
    this.faults = config.faults ?? noFaults;
    this.rng = rng;
    this.id = config.id;
    this.storageId = config.storageId;
    this.group = config.group;
    const { hardState, membership } = storage.initialState();
    const snapIndex = storage.snapshot()?.meta.index ?? 0;
    const applied = config.applied ?? Math.max(snapIndex, storage.firstIndex() - 1);
    const committed = Math.max(hardState.commit, applied);
    this.log = new RaftLog(storage, committed, applied);
    this.log.plantKeepInProgress = this.faults.keepInProgressOnTruncate === true;
    this.log.plantApplyUncommitted = this.faults.applyUncommitted === true;
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.recovery = hardState.recovery ?? null;
    this.configs = new Configs(membership, storage.firstIndex() - 1);
    this.configs.loadFrom(storage);
    const latest = this.configs.latest();
    this.setMembership(latest.membership, latest.index);
  }

  hardState(): HardState {
    return {
      term: asTerm(this.term),
      vote: this.vote,
      commit: asLogIndex(this.log.committed),
      ...recoveryField(this.recovery),
    };
  }

  // ---------------------------------------------------------------- membership, recovery

  isVoterSelf(): boolean {
    return this.configs.isVoter(this.id, this.storageId);
  }

  self(): Self {
    return { id: this.id, storageId: this.storageId, isVoter: this.isVoterSelf() };
  }

  canCampaign(): boolean {
    return this.recovery === null && this.isVoterSelf();
  }

  maybeEndRecovery(): void {
    if (this.recovery === null || !recoveryEnds(this.recovery, this.log)) return;
    this.recovery = null;
    this.stats.recoveriesEnded++;
  }

  /** Whether a vote or acknowledgement from `m.from` may count: a member, with the storage it joined with. */
  fromCurrentStorage(m: Message): boolean {
    const member = this.configs.get(m.from);
    if (member === undefined) return false;
    // '' is an unbound bootstrap member: any storage counts until the first leader binds it.
    if (member.storageId !== '' && member.storageId !== m.fromStorage) {
      this.stats.storageMismatch++;
      return false;
    }
    return true;
  }

  setMembership(membership: Membership, index: number): void {
    this.configs.set(membership, index);
    if (this.role === 'leader') this.syncProgress();
    if ((this.role === 'candidate' || this.role === 'precandidate') && !this.isVoterSelf()) {
      this.becomeFollower(this.term, null);
    }
  }

  /** Leader: one Progress per member, reset for a member that came back with another disk. */
  syncProgress(): void {
    for (const id of [...this.prs.keys()]) {
      if (!this.configs.has(id) && id !== this.id) this.prs.delete(id);
    }
    if (this.leadTransferee !== null && !this.configs.has(this.leadTransferee)) this.leadTransferee = null;
    const next = this.log.lastIndex() + 1;
    for (const m of this.configs.current.members) {
      const pr = this.prs.get(m.id);
      if (pr === undefined) {
        this.prs.set(m.id, new Progress(m.id, m.storageId, next, this.cfg.maxInflight));
      } else if (pr.storageId === '' && m.storageId !== '') {
        // Bootstrap binding: the same disk that acknowledged so far, now named.
        pr.storageId = m.storageId;
      } else if (pr.storageId !== m.storageId) {
        // Same id, another disk: nothing it acknowledged before counts.
        this.prs.set(m.id, new Progress(m.id, m.storageId, next, this.cfg.maxInflight));
      }
    }
  }

  /** Appends entries (from a leader's Append or our own proposals), reverting configs they overwrite. */
  appendToLog(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    if (first.index <= this.log.lastIndex()) {
      this.stats.truncations++;
      this.out.dropQueuedAcks(first.index);
      this.revertConfigsFrom(first.index);
    }
    this.log.append(entries);
    for (const e of entries) {
      if (e.type === EntryType.Config && e.config !== undefined) {
        this.configs.push(e.index, e.config);
        this.setMembership(e.config, e.index);
      }
    }
  }

  /** A config takes effect when appended, so a truncated config entry must be undone. */
  private revertConfigsFrom(index: number): void {
    if (this.faults.keepTruncatedConfig === true) return;
    if (!this.configs.truncateFrom(index)) return;
    this.stats.configReverts++;
    const latest = this.configs.latest();
    this.setMembership(latest.membership, latest.index);
  }

  // ---------------------------------------------------------------- role changes

  resetTimers(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.cfg.electionTicks + this.rng.int(this.cfg.electionTicks);
  }

  /**
   * A candidate retries sooner than a follower times out: from [⌈T/2⌉, T) ticks, not [T, 2T). Two
   * followers that time out together both become candidates and split the vote; each then waits a
   * whole follower timeout again, so one failover took two (docs/decisions.md, "A split vote is
   * retried within half an election timeout"). The leader stickiness does not apply to a candidate
   * (it has no leader), so the shorter wait cannot depose a live leader.
   */
  resetCandidateTimeout(): void {
    const half = Math.ceil(this.cfg.electionTicks / 2);
    this.randomizedElectionTimeout = half + this.rng.int(this.cfg.electionTicks - half);
  }

  reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = null;
    }
    this.lead = null;
    this.resetTimers();
    this.votes.clear();
    this.leadTransferee = null;
    this.campaignIsTransfer = false;
  }

  becomeFollower(term: number, lead: NodeId | null): void {
    if (this.role === 'leader') this.failLeaderPending();
    this.reset(term);
    this.role = 'follower';
    this.lead = lead;
    this.prs.clear();
  }

  /** Every leader-side pending item belongs to its term: fail them all on step-down. */
  private failLeaderPending(): void {
    for (const id of this.proposals.takeAll()) this.dropProposal(id, 'stepped-down');
    for (const ctx of this.reads.takeAll()) this.dropRead(ctx, 'stepped-down');
  }

  dropProposal(id: number, reason: DroppedProposal['reason']): void {
    this.stats.proposalsDropped++;
    this.out.droppedProposals.push({ id, reason });
  }

  dropRead(ctx: number, reason: DroppedRead['reason']): void {
    this.stats.readsDropped++;
    this.out.droppedReads.push({ ctx, reason });
  }

  send(m: Outgoing): void {
    const msg = m as Message;
    msg.group = this.group;
    msg.from = this.id;
    msg.fromStorage = this.storageId;
    const to = this.configs.get(msg.to);
    if (to !== undefined && to.storageId !== '') msg.toStorage = to.storageId;
    if (msg.term === undefined) msg.term = this.term;
    this.out.msgs.push(msg);
  }
}
