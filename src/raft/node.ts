// RaftNode: the pure, synchronous Raft core (a RawNode in etcd-io/raft's terms). Inputs are tick(),
// step(message), propose(), readIndex(), transferLeader() and membership changes; the output is a
// Ready (see types.ts for the driver contract), acknowledged by advance(). No I/O, clock or await.
//
// This file holds the roles: elections (pre-vote, vote, transfer) and what each role does with a
// message. The parts with their own state live beside it: membership.ts (configurations and the
// single-server change rules), snapshot.ts (transfer and install), read-index.ts, recovery.ts (after a
// storage loss), replication.ts and quorum.ts (the leader's flow control and majorities), proposals.ts
// and ready.ts (what the driver gets), status.ts (stats and status).

import { assert } from '../protocol/assert.js';
import { validateRaftConfig } from './config.js';
import type { RaftConfig, RaftFaults } from './config.js';
import { RaftLog } from './log.js';
import { Configs } from './membership.js';
import type { ChangeResult, MembershipChange } from './membership.js';
import { Progress } from './progress.js';
import { ProposalQueue } from './proposals.js';
import { quorumAckedContext, quorumActive, quorumMatchIndex, tallyVotes } from './quorum.js';
import type { Self } from './quorum.js';
import { ReadIndexQueue } from './read-index.js';
import { Outbox, hardStateChanged, readyMustSync } from './ready.js';
import type { ReadyMark } from './ready.js';
import { coversFloor, recoveryEnds, recoveryField } from './recovery.js';
import { sendAppends, sendHeartbeats } from './replication.js';
import type { Outgoing } from './replication.js';
import type { Random } from './rng.js';
import { SnapshotReceiver, ackChunk, buildSnapshot, nextChunk } from './snapshot.js';
import { newStats, progressStatus } from './status.js';
import type { NodeStatus, RaftStats, Role } from './status.js';
import { EntryType, MessageType } from './types.js';
import type {
  DroppedProposal,
  DroppedRead,
  Entry,
  GroupId,
  HardState,
  Member,
  Membership,
  Message,
  NodeId,
  RecoveryFloor,
  Ready,
  Snapshot,
  SoftState,
  Storage,
  StorageId,
} from './types.js';
import { isWellFormed } from './validate.js';

export type TransferResult = { ok: true } | { ok: false; reason: 'not-leader' | 'invalid' };

const emptyData = new Uint8Array(0);
const noFaults: RaftFaults = {};

export class RaftNode {
  readonly id: NodeId;
  readonly storageId: StorageId;
  readonly group: GroupId;
  readonly stats: RaftStats = newStats();
  private readonly cfg: RaftConfig;
  private readonly faults: RaftFaults;
  private readonly rng: Random;
  private readonly log: RaftLog;

  private term = 0;
  private vote: NodeId | null = null;
  /** Non-null after a storage loss until caught up: no votes, no campaigns (FAULTS P11). */
  private recovery: RecoveryFloor | null = null;
  private lead: NodeId | null = null;
  private role: Role = 'follower';
  private readonly configs: Configs;

  private prs = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private leadTransferee: NodeId | null = null;
  private campaignIsTransfer = false;

  private out = new Outbox();
  /** Leader: proposals appended in this term and not committed yet. */
  private proposals = new ProposalQueue();
  private reads = new ReadIndexQueue();
  private receiver = new SnapshotReceiver();

  private prevHard: HardState;
  private prevSoft: SoftState;
  private readyMark: ReadyMark | null = null;
  private readonly sendFn = (m: Outgoing): void => this.send(m);

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
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.recovery = hardState.recovery ?? null;
    this.configs = new Configs(membership, storage.firstIndex() - 1);
    this.configs.loadFrom(storage);
    const latest = this.configs.latest();
    this.setMembership(latest.membership, latest.index);
    this.prevHard = this.hardState();
    // A lone voter has nobody to catch up from: what it lost is gone either way.
    if (this.recovery !== null && this.isVoterSelf() && this.configs.voterCount() === 1) this.recovery = null;
    this.maybeEndRecovery();
    this.resetTimers();
    this.prevSoft = this.softState();
  }

  // ---------------------------------------------------------------- inputs

  tick(): void {
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  /** Feeds one message from the network. Never throws on bad input: it is counted and dropped. */
  step(m: Message): void {
    if (!isWellFormed(m) || m.to !== this.id || m.from === this.id) {
      this.stats.malformed++;
      return;
    }
    if (m.group !== this.group) {
      this.stats.wrongGroup++;
      return;
    }
    if (m.toStorage !== undefined && m.toStorage !== '' && m.toStorage !== this.storageId) {
      this.stats.addressedToOtherStorage++;
    }
    if (m.term > this.term) {
      if (!this.stepHigherTerm(m)) return;
    } else if (m.term < this.term) {
      this.stepLowerTerm(m);
      return;
    }
    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      this.handleVoteRequest(m);
      return;
    }
    if (this.role === 'leader') this.stepLeader(m);
    else if (this.role === 'follower') this.stepFollower(m);
    else this.stepCandidate(m);
  }

  propose(id: number, data: Uint8Array): void {
    this.proposeBatch([{ id, data }]);
  }

  /** Appends many proposals as consecutive entries in one go (they share the Append messages). */
  proposeBatch(items: readonly { id: number; data: Uint8Array }[]): void {
    if (this.role !== 'leader' || this.leadTransferee !== null) {
      const reason = this.role !== 'leader' ? 'not-leader' : 'transfer-in-progress';
      for (const it of items) this.dropProposal(it.id, reason);
      return;
    }
    const entries: Entry[] = [];
    const ids: number[] = [];
    const q = this.proposals;
    for (const it of items) {
      const bytes = it.data.length;
      if (bytes > this.cfg.maxEntryBytes) {
        this.dropProposal(it.id, 'too-large');
      } else if (q.uncommittedBytes > 0 && q.uncommittedBytes + bytes > this.cfg.maxUncommittedBytes) {
        this.dropProposal(it.id, 'uncommitted-cap');
      } else {
        q.uncommittedBytes += bytes;
        entries.push({ index: 0, term: 0, type: EntryType.Normal, data: it.data });
        ids.push(it.id);
      }
    }
    if (entries.length === 0) return;
    this.appendAsLeader(entries);
    if (this.role !== 'leader') {
      // Appending committed our own removal: the entries may still commit, but not under our watch.
      for (const id of ids) this.dropProposal(id, 'stepped-down');
      return;
    }
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k] as Entry;
      const id = ids[k] as number;
      this.out.proposed.push({ id, index: e.index, term: e.term });
      q.add(id, e.index, e.term, e.data.length);
    }
    this.bcastAppend();
  }

  /** Linearizable read: the answer is a ReadState (serve once applied ≥ index) or a DroppedRead. */
  readIndex(ctx: number): void {
    if (this.role !== 'leader') {
      this.dropRead(ctx, 'not-leader');
      return;
    }
    // A new leader does not know the commit index until it commits an entry of its term (§6.4).
    if (this.log.term(this.log.committed) !== this.term) {
      this.reads.awaitCommit(ctx);
      return;
    }
    this.stats.readIndexReads++;
    if (this.configs.voterCount() === 1 && this.isVoterSelf()) {
      this.out.readStates.push({ ctx, index: this.log.committed });
      return;
    }
    this.bcastHeartbeat(this.reads.enqueue(ctx, this.log.committed));
  }

  transferLeader(to: NodeId): TransferResult {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader' };
    const target = this.configs.get(to);
    const pr = this.prs.get(to);
    if (to === this.id || target === undefined || target.role !== 'voter' || pr === undefined) {
      return { ok: false, reason: 'invalid' };
    }
    if (this.leadTransferee === to) return { ok: true };
    this.leadTransferee = to;
    this.electionElapsed = 0;
    this.stats.transfersStarted++;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else {
      pr.probeSent = false; // catch the target up now rather than at the next heartbeat answer
      this.sendAppends(pr, true);
    }
    return { ok: true };
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
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader' };
    if (this.leadTransferee !== null) return { ok: false, reason: 'transfer-in-progress' };
    if (this.configs.currentIndex > this.log.committed) return { ok: false, reason: 'change-in-progress' };
    // The single-server fix: a config entry may follow only once this term has committed an entry.
    if (this.log.term(this.log.committed) !== this.term) return { ok: false, reason: 'no-commit-in-term' };
    const next = this.configs.next(change, (id) => this.prs.get(id)?.match, this.log.committed);
    if (typeof next === 'string') return { ok: false, reason: next };
    const entry: Entry = { index: 0, term: 0, type: EntryType.Config, data: emptyData, config: next };
    this.appendAsLeader([entry]);
    this.stats.configChanges++;
    this.bcastAppend();
    return { ok: true, index: entry.index };
  }

  /** A snapshot of the application's state at an applied index (see snapshot.ts). */
  buildSnapshot(index: number, data: Uint8Array): Snapshot {
    return buildSnapshot(this.log, this.group, index, data, (i) => this.configs.at(i));
  }

  // ---------------------------------------------------------------- Ready / advance

  hasReady(): boolean {
    if (this.readyMark !== null) return false;
    if (this.out.any() || this.log.hasUnstable() || this.log.hasNextCommitted()) return true;
    if (hardStateChanged(this.prevHard, this.hardState())) return true;
    const ss = this.prevSoft;
    return ss.leader !== this.lead || ss.role !== this.softRole() || ss.term !== this.term;
  }

  ready(): Ready {
    assert(this.readyMark === null, 'raft invariant: ready() called again before advance()');
    const entries = this.log.unstableEntries();
    const snapshot = this.log.pendingSnapshot;
    const committedEntries = this.log.nextCommitted(this.cfg.maxApplyBytes);
    const prev = this.prevHard;
    const hs = this.hardState();
    const hardState = hardStateChanged(hs, prev) ? hs : null;
    const lastEntry = entries[entries.length - 1];
    const lastApply = committedEntries[committedEntries.length - 1];
    this.readyMark = {
      hardState,
      lastEntry: lastEntry === undefined ? null : { index: lastEntry.index, term: lastEntry.term },
      snapshotIndex: snapshot?.meta.index ?? null,
      appliedTo: lastApply?.index ?? snapshot?.meta.index ?? this.log.applied,
    };
    const softState = this.softState();
    this.prevSoft = softState;
    const out = this.out.take();
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
      mustSync: readyMustSync(prev, hardState, entries, snapshot, this.faults.voteBeforePersist),
    };
  }

  /** The driver has done everything the last Ready asked (and updated the Storage mirror). */
  advance(): void {
    const mark = this.readyMark;
    assert(mark !== null, 'raft invariant: advance() without ready()');
    if (mark.hardState !== null) this.prevHard = mark.hardState;
    if (mark.snapshotIndex !== null) this.log.stableSnapTo(mark.snapshotIndex);
    if (mark.lastEntry !== null) this.log.stableTo(mark.lastEntry.index, mark.lastEntry.term);
    if (mark.appliedTo > this.log.applied) this.log.applied = mark.appliedTo;
    this.readyMark = null;
    this.configs.foldCompacted(this.log.storage.firstIndex());
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed, ...recoveryField(this.recovery) };
  }

  // ---------------------------------------------------------------- status

  status(): NodeStatus {
    const leading = this.role === 'leader';
    return {
      id: this.id,
      storageId: this.storageId,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.lead,
      commit: this.log.committed,
      applied: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      recovering: this.recovery,
      membership: this.configs.current,
      configIndex: this.configs.currentIndex,
      leadTransferee: this.leadTransferee,
      progress: leading ? progressStatus(this.prs.values(), this.id, this.log.lastIndex()) : [],
    };
  }

  /** Cheap accessors for hot loops (the simulation checks invariants after every step). */
  get currentTerm(): number {
    return this.term;
  }
  get currentRole(): Role {
    return this.role;
  }
  get leader(): NodeId | null {
    return this.lead;
  }
  get commitIndex(): number {
    return this.log.committed;
  }
  get lastIndex(): number {
    return this.log.lastIndex();
  }
  get currentMembership(): Membership {
    return this.configs.current;
  }
  get effectiveConfigIndex(): number {
    return this.configs.currentIndex;
  }
  get recovering(): RecoveryFloor | null {
    return this.recovery;
  }
  termAt(index: number): number | undefined {
    return this.log.term(index);
  }

  private softRole(): SoftState['role'] {
    return this.role === 'follower' && !this.isVoterSelf() ? 'learner' : this.role;
  }

  softState(): SoftState {
    return { leader: this.lead, role: this.softRole(), term: this.term };
  }

  // ---------------------------------------------------------------- membership, recovery

  private isVoterSelf(): boolean {
    return this.configs.isVoter(this.id, this.storageId);
  }

  private self(): Self {
    return { id: this.id, storageId: this.storageId, isVoter: this.isVoterSelf() };
  }

  private canCampaign(): boolean {
    return this.recovery === null && this.isVoterSelf();
  }

  private maybeEndRecovery(): void {
    if (this.recovery === null || !recoveryEnds(this.recovery, this.log)) return;
    this.recovery = null;
    this.stats.recoveriesEnded++;
  }

  /** Whether a vote or acknowledgement from `m.from` may count: a member, with the storage it joined with. */
  private fromCurrentStorage(m: Message): boolean {
    const member = this.configs.get(m.from);
    if (member === undefined) return false;
    // '' is an unbound bootstrap member: any storage counts until the first leader binds it.
    if (member.storageId !== '' && member.storageId !== m.fromStorage) {
      this.stats.storageMismatch++;
      return false;
    }
    return true;
  }

  private setMembership(membership: Membership, index: number): void {
    this.configs.set(membership, index);
    if (this.role === 'leader') this.syncProgress();
    if ((this.role === 'candidate' || this.role === 'precandidate') && !this.isVoterSelf()) {
      this.becomeFollower(this.term, null);
    }
  }

  private syncProgress(): void {
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
  private appendToLog(entries: readonly Entry[]): void {
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

  private resetTimers(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.cfg.electionTicks + this.rng.int(this.cfg.electionTicks);
  }

  private reset(term: number): void {
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

  private becomeFollower(term: number, lead: NodeId | null): void {
    if (this.role === 'leader') this.failLeaderPending();
    this.reset(term);
    this.role = 'follower';
    this.lead = lead;
    this.prs.clear();
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'raft invariant: leader cannot become pre-candidate');
    this.votes.clear();
    this.lead = null;
    this.role = 'precandidate';
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'raft invariant: leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', 'raft invariant: only a candidate becomes leader');
    const byTransfer = this.campaignIsTransfer;
    this.reset(this.term);
    this.role = 'leader';
    this.lead = this.id;
    this.stats.elections++;
    if (byTransfer) this.stats.transfers++;
    this.prs.clear();
    this.syncProgress();
    const self = this.prs.get(this.id);
    if (self !== undefined) self.recentActive = true;
    this.proposals.reset();
    // A no-op of the new term lets the leader commit (and learn) what earlier terms left behind.
    this.appendAsLeader([{ index: 0, term: 0, type: EntryType.NoOp, data: emptyData }]);
    this.bcastAppend();
  }

  /** Every leader-side pending item belongs to its term: fail them all on step-down. */
  private failLeaderPending(): void {
    for (const id of this.proposals.takeAll()) this.dropProposal(id, 'stepped-down');
    for (const ctx of this.reads.takeAll()) this.dropRead(ctx, 'stepped-down');
  }

  private dropProposal(id: number, reason: DroppedProposal['reason']): void {
    this.stats.proposalsDropped++;
    this.out.droppedProposals.push({ id, reason });
  }

  private dropRead(ctx: number, reason: DroppedRead['reason']): void {
    this.stats.readsDropped++;
    this.out.droppedReads.push({ ctx, reason });
  }

  // ---------------------------------------------------------------- elections

  private tickElection(): void {
    this.electionElapsed++;
    if (this.canCampaign() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.campaign(this.cfg.preVote ? 'pre' : 'vote');
    }
  }

  /** Whether we heard from a live leader within the election timeout (check-quorum stickiness). */
  private inLease(): boolean {
    return this.cfg.checkQuorum && this.lead !== null && this.electionElapsed < this.cfg.electionTicks;
  }

  private campaign(kind: 'pre' | 'vote' | 'transfer'): void {
    if (!this.canCampaign()) return;
    let voteTerm: number;
    let type: MessageType;
    if (kind === 'pre') {
      this.becomePreCandidate();
      this.stats.preCampaigns++;
      voteTerm = this.term + 1;
      type = MessageType.PreVote;
    } else {
      this.becomeCandidate();
      this.campaignIsTransfer = kind === 'transfer';
      this.stats.campaigns++;
      voteTerm = this.term;
      type = MessageType.Vote;
    }
    this.votes.set(this.id, true);
    if (this.pollVotes()) return;
    const index = this.log.lastIndex();
    const logTerm = this.log.lastTerm();
    for (const m of this.configs.current.members) {
      if (m.role !== 'voter' || m.id === this.id) continue;
      const msg: Outgoing = { type, to: m.id, term: voteTerm, index, logTerm };
      if (kind === 'transfer') msg.transfer = true;
      this.send(msg);
    }
  }

  /** Tallies votes; moves on when the outcome is decided. Returns whether the role changed. */
  private pollVotes(): boolean {
    const outcome = tallyVotes(this.configs.current, this.votes);
    if (outcome === 'won') {
      if (this.role === 'precandidate') this.campaign('vote');
      else this.becomeLeader();
      return true;
    }
    if (outcome === 'lost') {
      this.becomeFollower(this.term, null);
      return true;
    }
    return false;
  }

  private stepHigherTerm(m: Message): boolean {
    const isVoteReq = m.type === MessageType.Vote || m.type === MessageType.PreVote;
    if (isVoteReq && m.transfer !== true && this.inLease()) {
      // We heard from a leader recently: a disruptive (e.g. removed or partitioned) node must not depose it.
      this.stats.ignored++;
      return false;
    }
    if (m.type === MessageType.PreVote) return true; // a pre-vote never changes our term
    if (m.type === MessageType.PreVoteResp && m.reject !== true) return true; // answers our pre-vote at term+1
    const fromLeader =
      m.type === MessageType.Append || m.type === MessageType.Heartbeat || m.type === MessageType.Snapshot;
    this.becomeFollower(m.term, fromLeader ? m.from : null);
    return true;
  }

  private stepLowerTerm(m: Message): void {
    this.stats.stale++;
    if (m.type === MessageType.Append || m.type === MessageType.Heartbeat) {
      // A deposed leader learns our term and steps down (it may be cut off from everyone else).
      this.send({ type: MessageType.AppendResp, to: m.from, index: this.log.lastIndex() });
    } else if (m.type === MessageType.PreVote) {
      this.send({ type: MessageType.PreVoteResp, to: m.from, reject: true });
    }
  }

  private handleVoteRequest(m: Message): void {
    const pre = m.type === MessageType.PreVote;
    const canVote = this.vote === m.from || (this.vote === null && this.lead === null) || (pre && m.term > this.term);
    const index = m.index ?? 0;
    const logTerm = m.logTerm ?? 0;
    const upToDate = this.log.isUpToDate(index, logTerm) && coversFloor(this.recovery, index, logTerm);
    if (canVote && upToDate && !this.configs.isWiped(this.id, this.storageId)) {
      if (pre) {
        this.send({ type: MessageType.PreVoteResp, to: m.from, term: m.term });
        return;
      }
      // The answer rides in the same Ready as the new hard state, which the driver makes durable
      // before sending anything (mustSync), so a crash cannot forget a vote we announced.
      this.electionElapsed = 0;
      this.vote = m.from;
      this.send({ type: MessageType.VoteResp, to: m.from });
    } else {
      this.send({ type: pre ? MessageType.PreVoteResp : MessageType.VoteResp, to: m.from, reject: true });
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case MessageType.Append:
      case MessageType.Heartbeat:
      case MessageType.Snapshot:
        // A leader exists for this term (for a pre-candidate: for our current term).
        this.becomeFollower(this.term, m.from);
        this.stepFollower(m);
        return;
      case MessageType.VoteResp:
      case MessageType.PreVoteResp: {
        const expected = this.role === 'precandidate' ? MessageType.PreVoteResp : MessageType.VoteResp;
        if (m.type !== expected || !this.fromCurrentStorage(m)) {
          this.stats.ignored++;
          return;
        }
        this.votes.set(m.from, m.reject !== true);
        this.pollVotes();
        return;
      }
      default:
        this.stats.ignored++;
    }
  }

  // ---------------------------------------------------------------- follower

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Append:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.log.commitTo(Math.min(m.commit ?? 0, this.log.lastIndex()));
        this.maybeEndRecovery();
        if ((m.context ?? 0) > 0) this.send({ type: MessageType.HeartbeatResp, to: m.from, context: m.context });
        else this.send({ type: MessageType.HeartbeatResp, to: m.from });
        return;
      case MessageType.Snapshot:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshotChunk(m);
        return;
      case MessageType.TimeoutNow:
        if (this.canCampaign()) this.campaign('transfer');
        else this.stats.ignored++;
        return;
      default:
        this.stats.ignored++;
    }
  }

  private handleAppend(m: Message): void {
    const prevIndex = m.index ?? 0;
    const committed = this.log.committed;
    if (prevIndex < committed) {
      this.send({ type: MessageType.AppendResp, to: m.from, index: committed });
      return;
    }
    if (!this.log.matchTerm(prevIndex, m.logTerm ?? 0)) {
      const hint = this.log.findConflictByTerm(Math.min(prevIndex, this.log.lastIndex()), m.logTerm ?? 0);
      const rejectTerm = this.log.term(hint) ?? 0;
      this.send({
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
    const conflict = this.log.findConflict(entries);
    if (conflict !== undefined) {
      if (conflict <= committed) {
        // A leader never overwrites committed entries; this message cannot be trusted.
        this.stats.malformed++;
        return;
      }
      this.appendToLog(entries.slice(conflict - prevIndex - 1));
    }
    this.log.commitTo(Math.min(m.commit ?? 0, lastNew));
    this.maybeEndRecovery();
    this.send({ type: MessageType.AppendResp, to: m.from, index: lastNew });
  }

  private handleSnapshotChunk(m: Message): void {
    const s = m.snapshot;
    if (s === undefined) return;
    if (s.meta.index <= this.log.committed) {
      // Already have it (or more): tell the leader where we are.
      this.receiver.reset();
      this.send({ type: MessageType.AppendResp, to: m.from, index: this.log.committed });
      return;
    }
    const got = this.receiver.receive(s);
    if (typeof got === 'number') {
      this.send({ type: MessageType.SnapshotResp, to: m.from, index: got, snapshotIndex: s.meta.index });
      return;
    }
    this.installSnapshot(got);
    this.maybeEndRecovery();
    this.send({ type: MessageType.AppendResp, to: m.from, index: this.log.committed });
  }

  private installSnapshot(snap: Snapshot): void {
    const meta = snap.meta;
    if (this.log.matchTerm(meta.index, meta.term)) {
      // Our log already holds that entry: keep the suffix, just learn the commit (etcd does the same).
      this.log.commitTo(meta.index);
      return;
    }
    this.stats.snapshotsInstalled++;
    this.out.dropQueuedAcks(0);
    this.log.restore(snap);
    this.configs.restore(meta.membership, meta.index);
    this.setMembership(meta.membership, meta.index);
  }

  // ---------------------------------------------------------------- leader

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum && !quorumActive(this.configs.current, this.prs, this.self())) {
        this.stats.checkQuorumStepDowns++;
        this.becomeFollower(this.term, null);
        return;
      }
      this.leadTransferee = null; // a transfer that did not finish within an election timeout is abandoned
    }
    for (const pr of this.prs.values()) {
      if (pr.state !== 'snapshot' || pr.snapshot === null) continue;
      if (++pr.snapshot.idleTicks >= 2 * this.cfg.heartbeatTicks) this.sendSnapshotChunk(pr);
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(this.reads.hasPending() ? this.reads.seq : 0);
    }
  }

  private stepLeader(m: Message): void {
    const t = m.type;
    if (t !== MessageType.AppendResp && t !== MessageType.HeartbeatResp && t !== MessageType.SnapshotResp) {
      this.stats.ignored++;
      return;
    }
    const pr = this.prs.get(m.from);
    if (pr === undefined || !this.fromCurrentStorage(m)) {
      this.stats.ignored++;
      return;
    }
    pr.recentActive = true;
    if (t === MessageType.AppendResp) this.handleAppendResp(m, pr);
    else if (t === MessageType.HeartbeatResp) this.handleHeartbeatResp(m, pr);
    else if (ackChunk(pr, m)) this.sendSnapshotChunk(pr);
    else this.stats.ignored++;
  }

  private handleAppendResp(m: Message, pr: Progress): void {
    const index = m.index ?? 0;
    if (m.reject === true) {
      let probe = m.rejectHint ?? 0;
      if ((m.rejectTerm ?? 0) > 0) probe = this.log.findConflictByTerm(probe, m.rejectTerm ?? 0);
      if (pr.maybeDecrTo(index, probe)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppends(pr, true);
      }
      return;
    }
    if (index > this.log.lastIndex()) {
      this.stats.ignored++; // acknowledges entries we never had: not from this term's log
      return;
    }
    const updated = pr.maybeUpdate(index);
    const wasProbing = pr.state !== 'replicate';
    if (pr.state === 'snapshot') {
      // Installed the snapshot, or caught up some other way: the log can take it from here.
      const snapIndex = pr.snapshot?.snapshot.meta.index ?? 0;
      if (pr.match >= snapIndex || pr.match + 1 >= this.log.firstIndex()) pr.becomeReplicate();
      else if (!updated) return;
    } else if (!updated) {
      if (pr.state === 'replicate') pr.inflights.freeLE(index);
      return;
    } else if (pr.state === 'probe') pr.becomeReplicate();
    else pr.inflights.freeLE(index);
    // A follower that was probing may not know the commit index yet: tell it even with no entries.
    if (this.maybeCommit()) this.bcastAppend(true);
    else this.sendAppends(pr, wasProbing);
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  private handleHeartbeatResp(m: Message, pr: Progress): void {
    pr.probeSent = false;
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirst();
    if (pr.match < this.log.lastIndex()) this.sendAppends(pr, true);
    const ctx = m.context ?? 0;
    if (ctx > pr.ackedContext) {
      pr.ackedContext = ctx;
      this.advanceReads();
    }
  }

  /** Counts replication on a majority of voters; commits only an entry of the current term (Figure 8). */
  private maybeCommit(): boolean {
    const index = quorumMatchIndex(this.configs.current, this.prs, this.self(), this.log.lastIndex());
    if (index <= this.log.committed) return false;
    if (this.log.term(index) !== this.term && this.faults.commitOldTerms !== true) return false;
    this.commitTo(index);
    return true;
  }

  private commitTo(index: number): void {
    if (!this.log.commitTo(index)) return;
    this.proposals.commitTo(index, this.term);
    if (this.reads.hasAwaitingCommit() && this.log.term(index) === this.term) {
      for (const ctx of this.reads.takeAwaitingCommit()) this.readIndex(ctx);
    }
    if (this.configs.currentIndex <= index && !this.isVoterSelf()) this.stepDownRemoved();
  }

  /** Our removal is committed: hand leadership to the most caught-up voter and stop leading. */
  private stepDownRemoved(): void {
    let best: Progress | null = null;
    for (const m of this.configs.current.members) {
      const pr = this.prs.get(m.id);
      if (m.role !== 'voter' || pr === undefined || m.id === this.id) continue;
      if (best === null || pr.match > best.match) best = pr;
    }
    this.bcastAppend(); // followers learn the commit of our removal
    if (best !== null && best.match === this.log.lastIndex()) this.sendTimeoutNow(best.id);
    this.becomeFollower(this.term, null);
  }

  private appendAsLeader(entries: Entry[]): void {
    let index = this.log.lastIndex();
    for (const e of entries) {
      e.index = ++index;
      e.term = this.term;
    }
    this.appendToLog(entries);
    const self = this.prs.get(this.id);
    if (self !== undefined) self.maybeUpdate(index);
    this.maybeCommit();
  }

  /** `commitChanged`: send even empty Appends, so followers learn the new commit index promptly. */
  private bcastAppend(commitChanged = false): void {
    for (const pr of this.prs.values()) if (pr.id !== this.id) this.sendAppends(pr, commitChanged);
  }

  private bcastHeartbeat(context: number): void {
    sendHeartbeats(this.prs.values(), this.id, this.log.committed, context, this.sendFn);
  }

  private sendAppends(pr: Progress, sendIfEmpty: boolean): void {
    if (!sendAppends(pr, this.log, this.cfg, sendIfEmpty, this.sendFn)) this.startSnapshot(pr);
  }

  private startSnapshot(pr: Progress): void {
    const snap = this.log.storage.snapshot();
    assert(snap !== null, `raft invariant: follower ${pr.id} needs compacted entries but there is no snapshot`);
    pr.becomeSnapshot(snap);
    this.stats.snapshotsSent++;
    this.sendSnapshotChunk(pr);
  }

  private sendSnapshotChunk(pr: Progress): void {
    if (pr.snapshot === null) return;
    this.send({ type: MessageType.Snapshot, to: pr.id, snapshot: nextChunk(pr.snapshot, this.cfg.snapshotChunkBytes) });
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send({ type: MessageType.TimeoutNow, to });
  }

  private advanceReads(): void {
    if (!this.reads.hasPending()) return;
    const acked = quorumAckedContext(this.configs.current, this.prs, this.self(), this.reads.seq);
    for (const rs of this.reads.confirm(acked)) this.out.readStates.push(rs);
  }

  // ---------------------------------------------------------------- sending

  private send(m: Outgoing): void {
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
