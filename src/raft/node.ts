// RaftNode: the pure, synchronous Raft core (a RawNode in etcd-io/raft's terms). Inputs are tick(),
// step(message), propose(), readIndex(), transferLeader() and membership changes; the output is a
// Ready (see types.ts for the driver contract), acknowledged by advance(). No I/O, clock or await.
//
// This file holds the public surface, elections (pre-vote, vote, transfer) and the follower. The rest
// lives beside it: state.ts (the state record and the transitions every role shares), leader.ts
// (proposals, reads, transfers, replication), membership.ts (configurations and the single-server
// change rules), snapshot.ts (transfer and install), read-index.ts, recovery.ts (after a storage
// loss), replication.ts and quorum.ts (flow control and majorities), proposals.ts and ready.ts (what
// the driver gets), status.ts (stats and status).

import { assert } from '../protocol/assert.js';
import { asTerm } from '../protocol/ids.js';
import type { RaftConfig } from './config.js';
import * as leader from './leader.js';
import type { TransferResult } from './leader.js';
import type { ChangeResult, MembershipChange } from './membership.js';
import { tallyVotes } from './quorum.js';
import { acknowledges, hardStateChanged, readyMustSync, sameVote } from './ready.js';
import type { ReadyMark } from './ready.js';
import { coversFloor } from './recovery.js';
import type { Outgoing } from './replication.js';
import type { Random } from './rng.js';
import { buildSnapshot, snapshotMetaAt } from './snapshot.js';
import { CoreState } from './state.js';
import { progressStatus } from './status.js';
import type { NodeStatus, RaftStats, Role } from './status.js';
import { MessageType } from './types.js';
import type {
  GroupId,
  HardState,
  Member,
  Membership,
  Message,
  NodeId,
  RecoveryFloor,
  Ready,
  Snapshot,
  SnapshotMeta,
  SoftState,
  Storage,
  StorageId,
} from './types.js';
import { isWellFormed } from './validate.js';

export type { TransferResult } from './leader.js';

export class RaftNode {
  readonly id: NodeId;
  readonly storageId: StorageId;
  readonly group: GroupId;
  readonly stats: RaftStats;
  private readonly st: CoreState;
  /** The hard state as of the last Ready handed out (what the next Ready's write builds on). */
  private prevHard: HardState;
  /** The hard state as of the last Ready the driver reported durable (advance). */
  private durableHard: HardState;
  private prevSoft: SoftState;
  /** Readys handed out and not yet advanced, oldest first (several when the driver pipelines writes). */
  private readonly marks: ReadyMark[] = [];

  constructor(config: RaftConfig, storage: Storage, rng: Random) {
    const st = new CoreState(config, storage, rng);
    this.st = st;
    this.id = st.id;
    this.storageId = st.storageId;
    this.group = st.group;
    this.stats = st.stats;
    this.prevHard = st.hardState();
    this.durableHard = this.prevHard;
    // A lone voter has nobody to catch up from: what it lost is gone either way.
    if (st.recovery !== null && st.isVoterSelf() && st.configs.voterCount() === 1) st.recovery = null;
    st.maybeEndRecovery();
    st.resetTimers();
    this.prevSoft = this.softState();
  }

  // ---------------------------------------------------------------- inputs

  tick(): void {
    if (this.st.role === 'leader') leader.tickLeader(this.st);
    else this.tickElection();
  }

  /**
   * How many tick() calls (≥ 1) until one can do anything but count, if nothing else comes in: a
   * driver may sleep that long, provided it steps messages only after the ticks that went by.
   */
  ticksToNextEvent(): number {
    const st = this.st;
    if (st.role === 'leader') return leader.leaderTicksToEvent(st);
    if (!st.canCampaign()) return st.cfg.electionTicks;
    return Math.max(1, st.randomizedElectionTimeout - st.electionElapsed);
  }

  /** Feeds one message from the network. Never throws on bad input: it is counted and dropped. */
  step(m: Message): void {
    const st = this.st;
    if (!isWellFormed(m) || m.to !== this.id || m.from === this.id) {
      st.stats.malformed++;
      return;
    }
    if (m.group !== this.group) {
      st.stats.wrongGroup++;
      return;
    }
    if (m.toStorage !== undefined && m.toStorage !== '' && m.toStorage !== this.storageId) {
      st.stats.addressedToOtherStorage++;
    }
    if (m.term > st.term) {
      if (!this.stepHigherTerm(m)) return;
    } else if (m.term < st.term) {
      this.stepLowerTerm(m);
      return;
    }
    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      this.handleVoteRequest(m);
      return;
    }
    if (st.role === 'leader') leader.stepLeader(st, m);
    else if (st.role === 'follower') this.stepFollower(m);
    else this.stepCandidate(m);
  }

  propose(id: number, data: Uint8Array): void {
    leader.proposeBatch(this.st, [{ id, data }]);
  }

  /** Appends many proposals as consecutive entries in one go (they share the Append messages). */
  proposeBatch(items: readonly { id: number; data: Uint8Array }[]): void {
    leader.proposeBatch(this.st, items);
  }

  /** The storage has data in memory again that it could not give before (a leader sends what waited). */
  resumeAppends(): void {
    leader.resumeAppends(this.st);
  }

  /** Linearizable read: the answer is a ReadState (serve once applied ≥ index) or a DroppedRead. */
  readIndex(ctx: number): void {
    leader.readIndex(this.st, ctx);
  }

  transferLeader(to: NodeId): TransferResult {
    return leader.transferLeader(this.st, to);
  }

  addLearner(member: Omit<Member, 'role'>): ChangeResult {
    return this.changeMembership({ type: 'addLearner', member: { ...member, role: 'learner' } });
  }

  promote(id: NodeId): ChangeResult {
    return this.changeMembership({ type: 'promote', id });
  }

  removeMember(id: NodeId): ChangeResult {
    return this.changeMembership({ type: 'remove', id });
  }

  changeMembership(change: MembershipChange): ChangeResult {
    return leader.changeMembership(this.st, change);
  }

  /** A snapshot of the application's state at an applied index (see snapshot.ts). */
  buildSnapshot(index: number, data: Uint8Array): Snapshot {
    return buildSnapshot(this.st.log, this.group, index, data, (i) => this.st.configs.at(i));
  }

  /** The meta of a snapshot at an applied index, whose data the driver streams to its file. */
  snapshotMeta(index: number): SnapshotMeta {
    return snapshotMetaAt(this.st.log, this.group, index, (i) => this.st.configs.at(i));
  }

  // ---------------------------------------------------------------- Ready / advance

  hasReady(): boolean {
    const st = this.st;
    if (st.out.any() || st.log.hasUnstable() || st.log.hasNextCommitted()) return true;
    if (hardStateChanged(this.prevHard, st.hardState())) return true;
    const ss = this.prevSoft;
    return ss.leader !== st.lead || ss.role !== this.softRole() || ss.term !== st.term;
  }

  /**
   * What to do next. May be called again before advance() (pipelined writes): each Ready hands out
   * only what earlier ones did not, and advance() acknowledges the oldest one still in flight.
   */
  ready(): Ready {
    const log = this.st.log;
    const entries = log.takeUnstable();
    const snapshot = log.takeSnapshot();
    const committedEntries = log.nextCommitted(this.st.cfg.maxApplyBytes);
    const prev = this.prevHard;
    const hs = this.st.hardState();
    const hardState = hardStateChanged(hs, prev) ? hs : null;
    if (hardState !== null) this.prevHard = hardState;
    const lastEntry = entries[entries.length - 1];
    this.marks.push({
      hardState,
      lastEntry: lastEntry === undefined ? null : { index: lastEntry.index, term: lastEntry.term },
      epoch: log.rewriteEpoch,
      snapshotIndex: snapshot?.meta.index ?? null,
      appliedTo: log.applying,
    });
    const softState = this.softState();
    this.prevSoft = softState;
    const out = this.st.out.take();
    return {
      softState,
      hardState,
      entries,
      snapshot,
      messages: out.msgs,
      committedEntries,
      readStates: out.readStates,
      droppedProposals: out.droppedProposals,
      droppedReads: out.droppedReads,
      proposed: out.proposed,
      mustSync: readyMustSync(prev, hardState, entries, snapshot, this.st.faults.voteBeforePersist),
      // The term and vote must be durable already, not merely handed out in a Ready still in flight.
      sendBeforePersist:
        this.st.role === 'leader' &&
        snapshot === null &&
        sameVote(this.durableHard, hs) &&
        !out.msgs.some(acknowledges),
    };
  }

  /** The driver has done everything the oldest Ready in flight asked (and updated the Storage mirror). */
  advance(): void {
    const mark = this.marks.shift();
    assert(mark !== undefined, 'raft invariant: advance() without ready()');
    const log = this.st.log;
    if (mark.hardState !== null) this.durableHard = mark.hardState;
    if (mark.snapshotIndex !== null) log.stableSnapTo(mark.snapshotIndex);
    if (mark.lastEntry !== null) log.stableTo(mark.lastEntry.index, mark.lastEntry.term, mark.epoch);
    if (mark.appliedTo > log.applied) log.applied = mark.appliedTo;
    if (this.st.role === 'leader' && mark.lastEntry !== null) leader.ownWriteDurable(this.st);
    this.st.configs.foldCompacted(log.storage.firstIndex());
  }

  // ---------------------------------------------------------------- status

  status(): NodeStatus {
    const st = this.st;
    return {
      id: this.id,
      storageId: this.storageId,
      role: st.role,
      term: st.term,
      vote: st.vote,
      leader: st.lead,
      commit: st.log.committed,
      applied: st.log.applied,
      firstIndex: st.log.firstIndex(),
      lastIndex: st.log.lastIndex(),
      recovering: st.recovery,
      membership: st.configs.current,
      configIndex: st.configs.currentIndex,
      leadTransferee: st.leadTransferee,
      progress: st.role === 'leader' ? progressStatus(st.prs.values(), this.id, st.log.stableLastIndex()) : [],
    };
  }

  /** Cheap accessors for hot loops (the simulation checks invariants after every step). */
  get currentTerm(): number {
    return this.st.term;
  }
  get currentRole(): Role {
    return this.st.role;
  }
  get leader(): NodeId | null {
    return this.st.lead;
  }
  get commitIndex(): number {
    return this.st.log.committed;
  }
  get lastIndex(): number {
    return this.st.log.lastIndex();
  }
  /**
   * The last index whose entry (as this log now holds it) is durable here: committed entries past it
   * may already be applied. A snapshot at an applied index must not go beyond it.
   */
  get durableLastIndex(): number {
    return this.st.log.stableLastIndex();
  }
  /** The largest proposal this node accepts (bytes of one entry's data). */
  get maxEntryBytes(): number {
    return this.st.cfg.maxEntryBytes;
  }
  get currentMembership(): Membership {
    return this.st.configs.current;
  }
  get effectiveConfigIndex(): number {
    return this.st.configs.currentIndex;
  }
  get recovering(): RecoveryFloor | null {
    return this.st.recovery;
  }
  termAt(index: number): number | undefined {
    return this.st.log.term(index);
  }

  private softRole(): SoftState['role'] {
    return this.st.role === 'follower' && !this.st.isVoterSelf() ? 'learner' : this.st.role;
  }

  softState(): SoftState {
    return { leader: this.st.lead, role: this.softRole(), term: asTerm(this.st.term) };
  }

  // ---------------------------------------------------------------- role changes

  private becomePreCandidate(): void {
    assert(this.st.role !== 'leader', 'raft invariant: leader cannot become pre-candidate');
    this.st.votes.clear();
    this.st.lead = null;
    this.st.role = 'precandidate';
  }

  private becomeCandidate(): void {
    assert(this.st.role !== 'leader', 'raft invariant: leader cannot become candidate');
    this.st.reset(this.st.term + 1);
    this.st.vote = this.id;
    this.st.role = 'candidate';
    this.st.resetCandidateTimeout();
  }

  private becomeLeader(): void {
    const st = this.st;
    assert(st.role === 'candidate', 'raft invariant: only a candidate becomes leader');
    const byTransfer = st.campaignIsTransfer;
    st.reset(st.term);
    st.role = 'leader';
    st.lead = this.id;
    st.stats.elections++;
    if (byTransfer) st.stats.transfers++;
    leader.startTerm(st);
  }

  // ---------------------------------------------------------------- elections

  private tickElection(): void {
    this.st.electionElapsed++;
    if (this.st.canCampaign() && this.st.electionElapsed >= this.st.randomizedElectionTimeout) {
      this.st.electionElapsed = 0;
      this.campaign(this.st.cfg.preVote ? 'pre' : 'vote');
    }
  }

  /** Whether we heard from a live leader within the election timeout (check-quorum stickiness). */
  private inLease(): boolean {
    return this.st.cfg.checkQuorum && this.st.lead !== null && this.st.electionElapsed < this.st.cfg.electionTicks;
  }

  private campaign(kind: 'pre' | 'vote' | 'transfer'): void {
    if (!this.st.canCampaign()) return;
    let voteTerm: number;
    let type: MessageType;
    if (kind === 'pre') {
      this.becomePreCandidate();
      this.st.stats.preCampaigns++;
      voteTerm = this.st.term + 1;
      type = MessageType.PreVote;
    } else {
      this.becomeCandidate();
      this.st.campaignIsTransfer = kind === 'transfer';
      this.st.stats.campaigns++;
      voteTerm = this.st.term;
      type = MessageType.Vote;
    }
    this.st.votes.set(this.st.id, true);
    if (this.pollVotes()) return;
    const index = this.st.log.lastIndex();
    const logTerm = this.st.log.lastTerm();
    for (const m of this.st.configs.current.members) {
      if (m.role !== 'voter' || m.id === this.st.id) continue;
      const msg: Outgoing = { type, to: m.id, term: voteTerm, index, logTerm };
      if (kind === 'transfer') msg.transfer = true;
      this.st.send(msg);
    }
  }

  /** Tallies votes; moves on when the outcome is decided. Returns whether the role changed. */
  private pollVotes(): boolean {
    const outcome = tallyVotes(this.st.configs.current, this.st.votes);
    if (outcome === 'won') {
      if (this.st.role === 'precandidate') this.campaign('vote');
      else this.becomeLeader();
      return true;
    }
    if (outcome === 'lost') {
      this.st.becomeFollower(this.st.term, null);
      return true;
    }
    return false;
  }

  private stepHigherTerm(m: Message): boolean {
    const isVoteReq = m.type === MessageType.Vote || m.type === MessageType.PreVote;
    if (isVoteReq && m.transfer !== true && this.inLease()) {
      // We heard from a leader recently: a disruptive (e.g. removed or partitioned) node must not depose it.
      this.st.stats.ignored++;
      return false;
    }
    if (m.type === MessageType.PreVote) return true; // a pre-vote never changes our term
    if (m.type === MessageType.PreVoteResp && m.reject !== true) return true; // answers our pre-vote at term+1
    const fromLeader =
      m.type === MessageType.Append || m.type === MessageType.Heartbeat || m.type === MessageType.Snapshot;
    this.st.becomeFollower(m.term, fromLeader ? m.from : null);
    return true;
  }

  private stepLowerTerm(m: Message): void {
    this.st.stats.stale++;
    if (m.type === MessageType.Append || m.type === MessageType.Heartbeat) {
      // A deposed leader learns our term and steps down (it may be cut off from everyone else).
      this.st.send({ type: MessageType.AppendResp, to: m.from, index: this.st.log.lastIndex() });
    } else if (m.type === MessageType.PreVote) {
      this.st.send({ type: MessageType.PreVoteResp, to: m.from, reject: true });
    }
  }

  private handleVoteRequest(m: Message): void {
    const pre = m.type === MessageType.PreVote;
    const canVote =
      this.st.vote === m.from || (this.st.vote === null && this.st.lead === null) || (pre && m.term > this.st.term);
    const index = m.index ?? 0;
    const logTerm = m.logTerm ?? 0;
    const upToDate = this.st.log.isUpToDate(index, logTerm) && coversFloor(this.st.recovery, index, logTerm);
    if (canVote && upToDate && !this.st.configs.isWiped(this.st.id, this.st.storageId)) {
      if (pre) {
        this.st.send({ type: MessageType.PreVoteResp, to: m.from, term: m.term });
        return;
      }
      // The answer rides in the same Ready as the new hard state, which the driver makes durable
      // before sending anything (mustSync), so a crash cannot forget a vote we announced.
      this.st.electionElapsed = 0;
      this.st.vote = m.from;
      this.st.send({ type: MessageType.VoteResp, to: m.from });
    } else {
      this.st.send({ type: pre ? MessageType.PreVoteResp : MessageType.VoteResp, to: m.from, reject: true });
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case MessageType.Append:
      case MessageType.Heartbeat:
      case MessageType.Snapshot:
        // A leader exists for this term (for a pre-candidate: for our current term).
        this.st.becomeFollower(this.st.term, m.from);
        this.stepFollower(m);
        return;
      case MessageType.VoteResp:
      case MessageType.PreVoteResp: {
        const expected = this.st.role === 'precandidate' ? MessageType.PreVoteResp : MessageType.VoteResp;
        if (m.type !== expected || !this.st.fromCurrentStorage(m)) {
          this.st.stats.ignored++;
          return;
        }
        this.st.votes.set(m.from, m.reject !== true);
        this.pollVotes();
        return;
      }
      default:
        this.st.stats.ignored++;
    }
  }

  // ---------------------------------------------------------------- follower

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Append:
        this.st.electionElapsed = 0;
        this.st.lead = m.from;
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.st.electionElapsed = 0;
        this.st.lead = m.from;
        this.st.log.commitTo(Math.min(m.commit ?? 0, this.st.log.lastIndex()));
        this.st.maybeEndRecovery();
        if ((m.context ?? 0) > 0) this.st.send({ type: MessageType.HeartbeatResp, to: m.from, context: m.context });
        else this.st.send({ type: MessageType.HeartbeatResp, to: m.from });
        return;
      case MessageType.Snapshot:
        this.st.electionElapsed = 0;
        this.st.lead = m.from;
        this.handleSnapshotChunk(m);
        return;
      case MessageType.TimeoutNow:
        if (this.st.canCampaign()) this.campaign('transfer');
        else this.st.stats.ignored++;
        return;
      default:
        this.st.stats.ignored++;
    }
  }

  private handleAppend(m: Message): void {
    const prevIndex = m.index ?? 0;
    const committed = this.st.log.committed;
    if (prevIndex < committed) {
      this.st.send({ type: MessageType.AppendResp, to: m.from, index: committed });
      return;
    }
    if (!this.st.log.matchTerm(prevIndex, m.logTerm ?? 0)) {
      const hint = this.st.log.findConflictByTerm(Math.min(prevIndex, this.st.log.lastIndex()), m.logTerm ?? 0);
      const rejectTerm = this.st.log.term(hint) ?? 0;
      this.st.send({
        type: MessageType.AppendResp,
        to: m.from,
        index: prevIndex,
        reject: true,
        rejectHint: hint,
        rejectTerm,
      });
      return;
    }
    const entries = m.entries ?? [];
    const lastNew = prevIndex + entries.length;
    const conflict = this.st.log.findConflict(entries);
    if (conflict !== undefined) {
      if (conflict <= committed) {
        // A leader never overwrites committed entries; this message cannot be trusted.
        this.st.stats.malformed++;
        return;
      }
      this.st.appendToLog(entries.slice(conflict - prevIndex - 1));
    }
    this.st.log.commitTo(Math.min(m.commit ?? 0, lastNew));
    this.st.maybeEndRecovery();
    this.st.send({ type: MessageType.AppendResp, to: m.from, index: lastNew });
  }

  private handleSnapshotChunk(m: Message): void {
    const s = m.snapshot;
    if (s === undefined) return;
    if (s.meta.index <= this.st.log.committed) {
      // Already have it (or more): tell the leader where we are.
      this.st.receiver.reset();
      this.st.send({ type: MessageType.AppendResp, to: m.from, index: this.st.log.committed });
      return;
    }
    const got = this.st.receiver.receive(s);
    if (typeof got === 'number') {
      this.st.send({ type: MessageType.SnapshotResp, to: m.from, index: got, snapshotIndex: s.meta.index });
      return;
    }
    this.installSnapshot(got);
    this.st.maybeEndRecovery();
    this.st.send({ type: MessageType.AppendResp, to: m.from, index: this.st.log.committed });
  }

  private installSnapshot(snap: Snapshot): void {
    const meta = snap.meta;
    if (this.st.log.matchTerm(meta.index, meta.term)) {
      // Our log already holds that entry: keep the suffix, just learn the commit (etcd does the same).
      this.st.log.commitTo(meta.index);
      return;
    }
    this.st.stats.snapshotsInstalled++;
    this.st.out.dropQueuedAcks(0);
    this.st.log.restore(snap);
    this.st.configs.restore(meta.membership, meta.index);
    this.st.setMembership(meta.membership, meta.index);
  }

  // ---------------------------------------------------------------- leader
}
