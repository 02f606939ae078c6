// RaftNode: the pure, synchronous Raft core (a RawNode in etcd-io/raft's terms). Inputs are tick(),
// step(message), propose(), readIndex(), transferLeader() and membership changes; the output is a
// Ready (see types.ts for the driver contract), acknowledged by advance(). No I/O, clock or await.
//
// Membership changes are single-server (one voter added or removed at a time) with the known fix:
// a leader first commits an entry of its own term, at most one change is uncommitted, a change takes
// effect when appended and reverts when its entry is truncated. `Membership.outgoing` stays unused.

import { validateRaftConfig } from './config.js';
import type { RaftConfig } from './config.js';
import { assert } from '../protocol/assert.js';
import { RaftLog } from './log.js';
import { Progress } from './progress.js';
import type { ProgressState } from './progress.js';
import type { Random } from './rng.js';
import { CompactedError, EntryType, MessageType } from './types.js';
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
  ReadState,
  RecoveryFloor,
  Ready,
  Snapshot,
  SnapshotMeta,
  SoftState,
  Storage,
  StorageId,
} from './types.js';
import { isWellFormed } from './validate.js';

export type Role = 'follower' | 'precandidate' | 'candidate' | 'leader';

export type MembershipChange =
  | { type: 'addLearner'; member: Member }
  | { type: 'promote'; id: NodeId }
  | { type: 'remove'; id: NodeId }
  /**
   * Bootstrap identity (DESIGN.md §5): fills in storage ids that are still unbound ('') and advertised
   * addresses. Ids and roles must stay the same; a bound storage id never changes this way.
   */
  | { type: 'bind'; members: Member[] };

export type ChangeRefusal =
  'not-leader' | 'change-in-progress' | 'no-commit-in-term' | 'transfer-in-progress' | 'learner-lagging' | 'invalid';

export type ChangeResult = { ok: true; index: number } | { ok: false; reason: ChangeRefusal };

export type TransferResult = { ok: true } | { ok: false; reason: 'not-leader' | 'invalid' };

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

/** A proposal appended by this leader, tagged with its term; failed as 'stepped-down' if the term ends first. */
interface PendingProposal {
  id: number;
  index: number;
  term: number;
  bytes: number;
}

/** A ReadIndex request; pending reads live only within one leader term (cleared on step-down). */
interface PendingRead {
  ctx: number;
  index: number;
  seq: number;
}

interface IncomingSnapshot {
  meta: SnapshotMeta;
  chunks: Uint8Array[];
  received: number;
}

interface ReadyMark {
  hardState: HardState | null;
  lastEntry: { index: number; term: number } | null;
  snapshotIndex: number | null;
  appliedTo: number;
}

function newStats(): RaftStats {
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

const emptyData = new Uint8Array(0);

/** The membership with unbound storage ids and addresses filled in, or 'invalid'. */
export function bindMembers(current: readonly Member[], next: readonly Member[]): Membership | 'invalid' {
  if (next.length !== current.length) return 'invalid';
  const out: Member[] = [];
  let changed = false;
  for (const m of current) {
    const n = next.find((x) => x.id === m.id);
    if (n === undefined || n.role !== m.role) return 'invalid';
    if (m.storageId !== '' && n.storageId !== m.storageId) return 'invalid';
    if (n.storageId !== m.storageId || n.address !== m.address) changed = true;
    out.push({ ...m, storageId: n.storageId, address: n.address });
  }
  return changed ? { members: out } : 'invalid';
}

/** The index of the value a majority has reached (values need not be sorted). */
export function quorumValue(values: number[]): number {
  if (values.length === 0) return 0;
  values.sort((a, b) => b - a);
  return values[values.length >> 1] ?? 0;
}

export class RaftNode {
  readonly id: NodeId;
  readonly storageId: StorageId;
  readonly group: GroupId;
  readonly stats: RaftStats = newStats();
  protected readonly cfg: RaftConfig;
  protected readonly rng: Random;
  protected readonly log: RaftLog;

  protected term = 0;
  protected vote: NodeId | null = null;
  /** Non-null after a storage loss until caught up: no votes, no campaigns (FAULTS P11). */
  protected recovery: RecoveryFloor | null = null;
  protected lead: NodeId | null = null;
  protected role: Role = 'follower';

  protected membership: Membership;
  protected configIndex: number;
  /** Config entries above the base (newest last), so a truncation can revert to the one before. */
  protected configs: { index: number; membership: Membership }[] = [];
  protected baseMembership: Membership;
  protected baseConfigIndex: number;
  private memberById = new Map<NodeId, Member>();

  protected prs = new Map<NodeId, Progress>();
  protected votes = new Map<NodeId, boolean>();
  protected electionElapsed = 0;
  protected heartbeatElapsed = 0;
  protected randomizedElectionTimeout = 0;
  protected leadTransferee: NodeId | null = null;
  private campaignIsTransfer = false;

  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private droppedProposals: DroppedProposal[] = [];
  private droppedReads: DroppedRead[] = [];
  private proposed: { id: number; index: number; term: number }[] = [];
  /** Leader: proposals appended in this term and not committed yet (index order). */
  private pendingProposals: PendingProposal[] = [];
  private pendingProposalHead = 0;
  private uncommittedBytes = 0;
  private pendingReads: PendingRead[] = [];
  /** Leader: reads that arrived before the first commit of the term. */
  private readsAwaitingCommit: number[] = [];
  private readSeq = 0;
  private incoming: IncomingSnapshot | null = null;

  private prevHard: HardState;
  private prevSoft: SoftState;
  private readyMark: ReadyMark | null = null;

  constructor(config: RaftConfig, storage: Storage, rng: Random) {
    validateRaftConfig(config);
    this.cfg = config;
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
    this.baseMembership = membership;
    this.baseConfigIndex = storage.firstIndex() - 1;
    this.membership = membership;
    this.configIndex = this.baseConfigIndex;
    this.loadConfigsFromLog(storage);
    this.prevHard = { term: this.term, vote: this.vote, commit: committed, ...this.recoveryField() };
    // A lone voter has nobody to catch up from: what it lost is gone either way.
    if (this.recovery !== null && this.isVoterSelf() && this.voterQuorumSize() === 1) this.recovery = null;
    this.maybeEndRecovery();
    this.resetTimers();
    this.prevSoft = this.softState();
  }

  private loadConfigsFromLog(storage: Storage): void {
    const lo = storage.firstIndex();
    const hi = storage.lastIndex() + 1;
    if (lo >= hi) {
      this.setMembership(this.baseMembership, this.baseConfigIndex);
      return;
    }
    for (const e of storage.entries(lo, hi, Number.MAX_SAFE_INTEGER)) {
      if (e.type === EntryType.Config && e.config !== undefined)
        this.configs.push({ index: e.index, membership: e.config });
    }
    const last = this.configs[this.configs.length - 1];
    this.setMembership(last?.membership ?? this.baseMembership, last?.index ?? this.baseConfigIndex);
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
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        break;
      case 'candidate':
      case 'precandidate':
        this.stepCandidate(m);
        break;
      case 'follower':
        this.stepFollower(m);
        break;
    }
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
    for (const it of items) {
      const bytes = it.data.length;
      if (bytes > this.cfg.maxEntryBytes) {
        this.dropProposal(it.id, 'too-large');
      } else if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.cfg.maxUncommittedBytes) {
        this.dropProposal(it.id, 'uncommitted-cap');
      } else {
        this.uncommittedBytes += bytes;
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
      this.proposed.push({ id, index: e.index, term: e.term });
      this.pendingProposals.push({ id, index: e.index, term: e.term, bytes: e.data.length });
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
      this.readsAwaitingCommit.push(ctx);
      return;
    }
    this.stats.readIndexReads++;
    if (this.voterQuorumSize() === 1 && this.isVoterSelf()) {
      this.readStates.push({ ctx, index: this.log.committed });
      return;
    }
    this.readSeq++;
    this.pendingReads.push({ ctx, index: this.log.committed, seq: this.readSeq });
    this.bcastHeartbeat(this.readSeq);
  }

  transferLeader(to: NodeId): TransferResult {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader' };
    const target = this.memberById.get(to);
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
    if (this.configIndex > this.log.committed) return { ok: false, reason: 'change-in-progress' };
    // The single-server fix: a config entry may follow only once this term has committed an entry.
    if (this.log.term(this.log.committed) !== this.term) return { ok: false, reason: 'no-commit-in-term' };
    const next = this.nextMembership(change);
    if (typeof next === 'string') return { ok: false, reason: next };
    const entry: Entry = { index: 0, term: 0, type: EntryType.Config, data: emptyData, config: next };
    this.appendAsLeader([entry]);
    this.stats.configChanges++;
    this.bcastAppend();
    return { ok: true, index: entry.index };
  }

  private nextMembership(change: MembershipChange): Membership | ChangeRefusal {
    const members = this.membership.members;
    switch (change.type) {
      case 'addLearner': {
        if (this.memberById.has(change.member.id)) return 'invalid';
        return { members: [...members, { ...change.member, role: 'learner' }] };
      }
      case 'promote': {
        const m = this.memberById.get(change.id);
        if (m === undefined || m.role !== 'learner') return 'invalid';
        const pr = this.prs.get(change.id);
        if (pr === undefined || pr.match < this.log.committed) return 'learner-lagging';
        return { members: members.map((x) => (x.id === change.id ? { ...x, role: 'voter' as const } : x)) };
      }
      case 'remove': {
        const m = this.memberById.get(change.id);
        if (m === undefined) return 'invalid';
        const rest = members.filter((x) => x.id !== change.id);
        if (!rest.some((x) => x.role === 'voter')) return 'invalid';
        return { members: rest };
      }
      case 'bind':
        return bindMembers(members, change.members);
    }
  }

  /**
   * Builds a snapshot of the application's state at an applied index, carrying the configuration in
   * effect there. The driver persists it (storage.createSnapshot), then may compact the log.
   */
  buildSnapshot(index: number, data: Uint8Array): Snapshot {
    assert(index <= this.log.applied, `raft invariant: snapshot at ${index} beyond applied ${this.log.applied}`);
    const term = this.log.term(index);
    assert(term !== undefined, `raft invariant: snapshot at ${index}: term unknown (compacted?)`);
    return { meta: { group: this.group, index, term, membership: this.membershipAt(index) }, data };
  }

  private membershipAt(index: number): Membership {
    let m = this.baseMembership;
    for (const c of this.configs) {
      if (c.index > index) break;
      m = c.membership;
    }
    return m;
  }

  // ---------------------------------------------------------------- Ready / advance

  hasReady(): boolean {
    if (this.readyMark !== null) return false;
    if (this.msgs.length > 0 || this.log.hasUnstable() || this.log.hasNextCommitted()) return true;
    if (this.readStates.length > 0 || this.droppedProposals.length > 0 || this.droppedReads.length > 0) return true;
    if (this.proposed.length > 0) return true;
    const hs = this.prevHard;
    if (hs.term !== this.term || hs.vote !== this.vote || hs.commit !== this.log.committed) return true;
    if ((hs.recovery ?? null) !== this.recovery) return true;
    const ss = this.prevSoft;
    return ss.leader !== this.lead || ss.role !== this.softRole() || ss.term !== this.term;
  }

  ready(): Ready {
    assert(this.readyMark === null, 'raft invariant: ready() called again before advance()');
    const entries = this.log.unstableEntries();
    const snapshot = this.log.pendingSnapshot;
    const committedEntries = this.log.nextCommitted(this.cfg.maxApplyBytes);
    const prev = this.prevHard;
    const hs: HardState = { term: this.term, vote: this.vote, commit: this.log.committed, ...this.recoveryField() };
    const hardChanged =
      hs.term !== prev.term ||
      hs.vote !== prev.vote ||
      hs.commit !== prev.commit ||
      (hs.recovery ?? null) !== (prev.recovery ?? null);
    const hardState = hardChanged ? hs : null;
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
    const rd: Ready = {
      softState,
      hardState,
      entries,
      snapshot,
      messages: this.msgs,
      committedEntries,
      readStates: this.readStates,
      droppedProposals: this.droppedProposals,
      droppedReads: this.droppedReads,
      proposed: this.proposed,
      mustSync: this.readyMustSync(prev, hardState, entries, snapshot),
    };
    this.msgs = [];
    this.readStates = [];
    this.droppedProposals = [];
    this.droppedReads = [];
    this.proposed = [];
    return rd;
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
    this.foldCompactedConfigs();
  }

  /**
   * Whether the Ready's write must be fsynced before its messages go out: a term, vote, entry or
   * snapshot must (a vote or an acknowledgement depends on it); a commit index alone need not.
   */
  protected readyMustSync(
    prev: HardState,
    hs: HardState | null,
    entries: readonly Entry[],
    snapshot: Snapshot | null,
  ): boolean {
    if (entries.length > 0 || snapshot !== null) return true;
    return hs !== null && (hs.term !== prev.term || hs.vote !== prev.vote);
  }

  private foldCompactedConfigs(): void {
    const first = this.log.storage.firstIndex();
    while (this.configs.length > 0 && (this.configs[0]?.index ?? Infinity) < first) {
      const c = this.configs.shift() as { index: number; membership: Membership };
      this.baseMembership = c.membership;
      this.baseConfigIndex = c.index;
    }
  }

  // ---------------------------------------------------------------- status

  status(): NodeStatus {
    const progress: ProgressStatus[] = [];
    if (this.role === 'leader') {
      for (const pr of this.prs.values()) {
        progress.push({
          id: pr.id,
          match: pr.id === this.id ? this.log.lastIndex() : pr.match,
          next: pr.next,
          state: pr.state,
          inflight: pr.inflights.count,
          recentActive: pr.recentActive,
        });
      }
    }
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
      membership: this.membership,
      configIndex: this.configIndex,
      leadTransferee: this.leadTransferee,
      progress,
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
    return this.membership;
  }
  get effectiveConfigIndex(): number {
    return this.configIndex;
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

  // ---------------------------------------------------------------- membership helpers

  protected isVoterSelf(): boolean {
    const me = this.memberById.get(this.id);
    return me !== undefined && me.role === 'voter' && me.storageId === this.storageId;
  }

  private canCampaign(): boolean {
    return this.recovery === null && this.isVoterSelf();
  }

  get recovering(): RecoveryFloor | null {
    return this.recovery;
  }

  private recoveryField(): { recovery?: RecoveryFloor } {
    return this.recovery === null ? {} : { recovery: this.recovery };
  }

  /** While recovering: whether a log ending at (index, term) is at least as up to date as the floor. */
  private coversFloor(index: number, term: number): boolean {
    const r = this.recovery;
    return r === null || term > r.term || (term === r.term && index >= r.index);
  }

  /**
   * Recovery ends once our log again holds every entry that could have been committed with our lost
   * acknowledgements: it is itself as up to date as the floor; or a leader's commit index reached the
   * floor's index; or that commit holds an entry of a later term than the floor's (that leader's log
   * has all earlier commits, and terms only grow along a log, so nothing we acked beyond it can be
   * committed).
   */
  private maybeEndRecovery(): void {
    const r = this.recovery;
    if (r === null) return;
    const committed = this.log.committed;
    if (
      this.coversFloor(this.log.lastIndex(), this.log.lastTerm()) ||
      committed >= r.index ||
      (this.log.term(committed) ?? 0) > r.term
    ) {
      this.recovery = null;
      this.stats.recoveriesEnded++;
    }
  }

  /** A node whose own storage id differs from the membership's lost its disk: it must not vote. */
  private isWipedSelf(): boolean {
    const me = this.memberById.get(this.id);
    return me !== undefined && me.storageId !== '' && me.storageId !== this.storageId;
  }

  private voterQuorumSize(): number {
    let n = 0;
    for (const m of this.membership.members) if (m.role === 'voter') n++;
    return n;
  }

  /** Whether a vote or acknowledgement from `m.from` may count: a member, with the storage it joined with. */
  private fromCurrentStorage(m: Message): boolean {
    const member = this.memberById.get(m.from);
    if (member === undefined) return false;
    // '' is an unbound bootstrap member: any storage counts until the first leader binds it.
    if (member.storageId !== '' && member.storageId !== m.fromStorage) {
      this.stats.storageMismatch++;
      return false;
    }
    return true;
  }

  protected setMembership(membership: Membership, index: number): void {
    this.membership = membership;
    this.configIndex = index;
    this.memberById.clear();
    for (const m of membership.members) this.memberById.set(m.id, m);
    if (this.role === 'leader') this.syncProgress();
    if ((this.role === 'candidate' || this.role === 'precandidate') && !this.isVoterSelf()) {
      this.becomeFollower(this.term, null);
    }
  }

  private syncProgress(): void {
    for (const id of [...this.prs.keys()]) {
      if (!this.memberById.has(id) && id !== this.id) this.prs.delete(id);
    }
    if (this.leadTransferee !== null && !this.memberById.has(this.leadTransferee)) this.leadTransferee = null;
    const next = this.log.lastIndex() + 1;
    for (const m of this.membership.members) {
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
      this.dropQueuedAcks(first.index);
      this.revertConfigsFrom(first.index);
    }
    this.log.append(entries);
    for (const e of entries) {
      if (e.type === EntryType.Config && e.config !== undefined) {
        this.configs.push({ index: e.index, membership: e.config });
        this.setMembership(e.config, e.index);
      }
    }
  }

  /**
   * Acknowledgements still queued (not yet handed out in a Ready) for entries that are being replaced
   * would claim what the log no longer holds once the Ready is persisted: withdraw them.
   */
  private dropQueuedAcks(fromIndex: number): void {
    this.msgs = this.msgs.filter(
      (m) => m.type !== MessageType.AppendResp || m.reject === true || (m.index ?? 0) < fromIndex,
    );
  }

  /** A config takes effect when appended, so a truncated config entry must be undone. */
  protected revertConfigsFrom(index: number): void {
    let reverted = false;
    while (this.configs.length > 0 && (this.configs[this.configs.length - 1]?.index ?? 0) >= index) {
      this.configs.pop();
      reverted = true;
    }
    if (!reverted) return;
    this.stats.configReverts++;
    const last = this.configs[this.configs.length - 1];
    this.setMembership(last?.membership ?? this.baseMembership, last?.index ?? this.baseConfigIndex);
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

  protected becomeFollower(term: number, lead: NodeId | null): void {
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
    this.pendingProposals = [];
    this.pendingProposalHead = 0;
    this.uncommittedBytes = 0;
    // A no-op of the new term lets the leader commit (and learn) what earlier terms left behind.
    this.appendAsLeader([{ index: 0, term: 0, type: EntryType.NoOp, data: emptyData }]);
    this.bcastAppend();
  }

  /** Every leader-side pending item belongs to its term: fail them all on step-down. */
  private failLeaderPending(): void {
    for (let k = this.pendingProposalHead; k < this.pendingProposals.length; k++) {
      this.dropProposal((this.pendingProposals[k] as PendingProposal).id, 'stepped-down');
    }
    this.pendingProposals = [];
    this.pendingProposalHead = 0;
    this.uncommittedBytes = 0;
    for (const r of this.pendingReads) this.dropRead(r.ctx, 'stepped-down');
    for (const ctx of this.readsAwaitingCommit) this.dropRead(ctx, 'stepped-down');
    this.pendingReads = [];
    this.readsAwaitingCommit = [];
  }

  private dropProposal(id: number, reason: DroppedProposal['reason']): void {
    this.stats.proposalsDropped++;
    this.droppedProposals.push({ id, reason });
  }

  private dropRead(ctx: number, reason: DroppedRead['reason']): void {
    this.stats.readsDropped++;
    this.droppedReads.push({ ctx, reason });
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

  protected campaign(kind: 'pre' | 'vote' | 'transfer'): void {
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
    for (const m of this.membership.members) {
      if (m.role !== 'voter' || m.id === this.id) continue;
      const msg: Parameters<RaftNode['send']>[0] = { type, to: m.id, term: voteTerm, index, logTerm };
      if (kind === 'transfer') msg.transfer = true;
      this.send(msg);
    }
  }

  /** Tallies votes; moves on when the outcome is decided. Returns whether the role changed. */
  private pollVotes(): boolean {
    let granted = 0;
    let rejected = 0;
    let voters = 0;
    for (const m of this.membership.members) {
      if (m.role !== 'voter') continue;
      voters++;
      const v = this.votes.get(m.id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    const quorum = (voters >> 1) + 1;
    if (granted >= quorum) {
      if (this.role === 'precandidate') this.campaign('vote');
      else this.becomeLeader();
      return true;
    }
    if (rejected > voters - quorum) {
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
    const upToDate =
      this.log.isUpToDate(m.index ?? 0, m.logTerm ?? 0) && this.coversFloor(m.index ?? 0, m.logTerm ?? 0);
    if (canVote && upToDate && !this.isWipedSelf()) {
      if (pre) this.send({ type: MessageType.PreVoteResp, to: m.from, term: m.term });
      else this.persistVoteThenRespond(m);
    } else {
      this.send({ type: pre ? MessageType.PreVoteResp : MessageType.VoteResp, to: m.from, reject: true });
    }
  }

  /**
   * Records the vote; the response rides in the same Ready as the new hard state, which the driver
   * makes durable before sending anything (mustSync), so a crash cannot forget a vote we announced.
   */
  protected persistVoteThenRespond(m: Message): void {
    this.electionElapsed = 0;
    this.vote = m.from;
    this.send({ type: MessageType.VoteResp, to: m.from });
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
    const meta = s.meta;
    if (meta.index <= this.log.committed) {
      // Already have it (or more): tell the leader where we are.
      this.incoming = null;
      this.send({ type: MessageType.AppendResp, to: m.from, index: this.log.committed });
      return;
    }
    let inc = this.incoming;
    if (inc === null || inc.meta.index !== meta.index || inc.meta.term !== meta.term) {
      if (s.offset !== 0) {
        this.send({ type: MessageType.SnapshotResp, to: m.from, index: 0, snapshotIndex: meta.index });
        return;
      }
      inc = { meta, chunks: [], received: 0 };
      this.incoming = inc;
    }
    if (s.offset === inc.received && s.chunk.length > 0) {
      inc.chunks.push(s.chunk);
      inc.received += s.chunk.length;
    }
    if (!s.done || inc.received < s.total) {
      this.send({ type: MessageType.SnapshotResp, to: m.from, index: inc.received, snapshotIndex: meta.index });
      return;
    }
    this.incoming = null;
    this.installSnapshot({ meta, data: concatChunks(inc.chunks, inc.received) });
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
    this.dropQueuedAcks(0);
    this.log.restore(snap);
    this.configs = [];
    this.baseMembership = meta.membership;
    this.baseConfigIndex = meta.index;
    this.setMembership(meta.membership, meta.index);
  }

  // ---------------------------------------------------------------- leader

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum && !this.quorumActive()) {
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
      this.bcastHeartbeat(this.pendingReads.length > 0 ? this.readSeq : 0);
    }
  }

  /** Check-quorum: did a majority of voters talk to us since the last round? Resets the marks. */
  private quorumActive(): boolean {
    let active = 0;
    let voters = 0;
    for (const m of this.membership.members) {
      if (m.role !== 'voter') continue;
      voters++;
      const pr = this.prs.get(m.id);
      if (m.id === this.id ? this.isVoterSelf() : pr?.recentActive === true) active++;
    }
    for (const pr of this.prs.values()) pr.recentActive = pr.id === this.id;
    return active >= (voters >> 1) + 1;
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.AppendResp:
      case MessageType.HeartbeatResp:
      case MessageType.SnapshotResp:
        break;
      default:
        this.stats.ignored++;
        return;
    }
    const pr = this.prs.get(m.from);
    if (pr === undefined || !this.fromCurrentStorage(m)) {
      this.stats.ignored++;
      return;
    }
    pr.recentActive = true;
    if (m.type === MessageType.AppendResp) this.handleAppendResp(m, pr);
    else if (m.type === MessageType.HeartbeatResp) this.handleHeartbeatResp(m, pr);
    else this.handleSnapshotResp(m, pr);
  }

  private handleAppendResp(m: Message, pr: Progress): void {
    const index = m.index ?? 0;
    if (m.reject === true) {
      let probe = m.rejectHint ?? 0;
      if ((m.rejectTerm ?? 0) > 0) probe = this.log.findConflictByTerm(probe, m.rejectTerm ?? 0);
      if (this.maybeDecrTo(pr, index, probe)) {
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

  /** A rejection moves `next` back (fast back-off); stale rejections are ignored. */
  private maybeDecrTo(pr: Progress, rejected: number, probe: number): boolean {
    if (pr.state === 'snapshot') return false;
    if (pr.state === 'replicate') {
      if (rejected <= pr.match) return false;
      pr.next = pr.match + 1;
      return true;
    }
    if (pr.next - 1 !== rejected) return false;
    pr.next = Math.max(Math.min(rejected, probe + 1), pr.match + 1);
    pr.probeSent = false;
    return true;
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

  private handleSnapshotResp(m: Message, pr: Progress): void {
    const t = pr.snapshot;
    // snapshotIndex tells acks of an earlier transfer apart; without it a stale offset is harmless (the
    // follower only assembles chunks of one snapshot, in order, and answers with what it really holds).
    const other =
      m.snapshotIndex !== undefined && m.snapshotIndex !== null && m.snapshotIndex !== t?.snapshot.meta.index;
    if (pr.state !== 'snapshot' || t === null || other) {
      this.stats.ignored++;
      return;
    }
    t.acked = Math.min(m.index ?? 0, t.snapshot.data.length);
    this.sendSnapshotChunk(pr);
  }

  /** Counts replication on a majority of voters; commits only an entry of the current term (Figure 8). */
  protected maybeCommit(): boolean {
    const index = this.quorumMatchIndex();
    if (index <= this.log.committed || this.log.term(index) !== this.term) return false;
    this.commitTo(index);
    return true;
  }

  /** The highest index stored on a majority of voters (with the storage they joined with). */
  protected quorumMatchIndex(): number {
    const values: number[] = [];
    for (const m of this.membership.members) {
      if (m.role !== 'voter') continue;
      if (m.id === this.id) values.push(m.storageId === this.storageId ? this.log.lastIndex() : 0);
      else {
        const pr = this.prs.get(m.id);
        values.push(pr !== undefined && pr.storageId === m.storageId ? pr.match : 0);
      }
    }
    return quorumValue(values);
  }

  protected commitTo(index: number): void {
    if (!this.log.commitTo(index)) return;
    const pending = this.pendingProposals;
    while (this.pendingProposalHead < pending.length) {
      const p = pending[this.pendingProposalHead] as PendingProposal;
      if (p.index > index) break;
      assert(p.term === this.term, `raft invariant: pending proposal ${p.id} of term ${p.term} outlived its term`);
      this.uncommittedBytes -= p.bytes;
      this.pendingProposalHead++;
    }
    if (this.pendingProposalHead > 1024 && this.pendingProposalHead * 2 > pending.length) {
      this.pendingProposals = pending.slice(this.pendingProposalHead);
      this.pendingProposalHead = 0;
    }
    if (this.readsAwaitingCommit.length > 0 && this.log.term(index) === this.term) {
      const waiting = this.readsAwaitingCommit;
      this.readsAwaitingCommit = [];
      for (const ctx of waiting) this.readIndex(ctx);
    }
    if (this.configIndex <= index && !this.isVoterSelf()) this.stepDownRemoved();
  }

  /** Our removal is committed: hand leadership to the most caught-up voter and stop leading. */
  private stepDownRemoved(): void {
    let best: Progress | null = null;
    for (const m of this.membership.members) {
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
    const committed = this.log.committed;
    for (const pr of this.prs.values()) {
      if (pr.id === this.id) continue;
      const msg: Parameters<RaftNode['send']>[0] = {
        type: MessageType.Heartbeat,
        to: pr.id,
        commit: Math.min(pr.match, committed),
      };
      if (context > 0) msg.context = context;
      this.send(msg);
    }
  }

  /** Sends Appends to one follower while its flow-control window allows (pipelining in replicate state). */
  private sendAppends(pr: Progress, sendIfEmpty: boolean): void {
    const last = this.log.lastIndex();
    for (let round = 0; round < this.cfg.maxInflight; round++) {
      if (pr.isPaused()) return;
      const prevIndex = pr.next - 1;
      const prevTerm = this.log.term(prevIndex);
      if (prevTerm === undefined) {
        this.startSnapshot(pr);
        return;
      }
      let entries: Entry[];
      try {
        entries = this.log.slice(pr.next, last + 1, this.cfg.maxMsgBytes);
      } catch (e) {
        if (!(e instanceof CompactedError)) throw e;
        this.startSnapshot(pr);
        return;
      }
      if (entries.length === 0 && !sendIfEmpty) return;
      this.send({
        type: MessageType.Append,
        to: pr.id,
        index: prevIndex,
        logTerm: prevTerm,
        entries,
        commit: this.log.committed,
      });
      const lastSent = entries[entries.length - 1];
      if (pr.state === 'replicate' && lastSent !== undefined) {
        pr.next = lastSent.index + 1;
        pr.inflights.add(lastSent.index);
      } else {
        pr.probeSent = true;
      }
      if (pr.state !== 'replicate' || pr.next > last) return;
      sendIfEmpty = false;
    }
  }

  private startSnapshot(pr: Progress): void {
    const snap = this.log.storage.snapshot();
    assert(snap !== null, `raft invariant: follower ${pr.id} needs compacted entries but there is no snapshot`);
    pr.becomeSnapshot(snap);
    this.stats.snapshotsSent++;
    this.sendSnapshotChunk(pr);
  }

  private sendSnapshotChunk(pr: Progress): void {
    const t = pr.snapshot;
    if (t === null) return;
    const data = t.snapshot.data;
    const offset = t.acked;
    const chunk = data.subarray(offset, Math.min(data.length, offset + this.cfg.snapshotChunkBytes));
    t.idleTicks = 0;
    this.send({
      type: MessageType.Snapshot,
      to: pr.id,
      snapshot: {
        meta: t.snapshot.meta,
        offset,
        chunk,
        done: offset + chunk.length >= data.length,
        total: data.length,
      },
    });
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send({ type: MessageType.TimeoutNow, to });
  }

  private advanceReads(): void {
    if (this.pendingReads.length === 0) return;
    const values: number[] = [];
    for (const m of this.membership.members) {
      if (m.role !== 'voter') continue;
      if (m.id === this.id) values.push(this.isVoterSelf() ? this.readSeq : 0);
      else values.push(this.prs.get(m.id)?.ackedContext ?? 0);
    }
    const acked = quorumValue(values);
    let k = 0;
    while (k < this.pendingReads.length && (this.pendingReads[k] as PendingRead).seq <= acked) {
      const r = this.pendingReads[k] as PendingRead;
      this.readStates.push({ ctx: r.ctx, index: r.index });
      k++;
    }
    if (k > 0) this.pendingReads = this.pendingReads.slice(k);
  }

  // ---------------------------------------------------------------- sending

  protected send(m: Omit<Message, 'group' | 'from' | 'fromStorage' | 'term'> & { term?: number }): void {
    const msg = m as Message;
    msg.group = this.group;
    msg.from = this.id;
    msg.fromStorage = this.storageId;
    const to = this.memberById.get(msg.to);
    if (to !== undefined && to.storageId !== '') msg.toStorage = to.storageId;
    if (msg.term === undefined) msg.term = this.term;
    this.msgs.push(msg);
  }
}

function concatChunks(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1 && chunks[0] !== undefined) return chunks[0];
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
