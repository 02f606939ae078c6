// The leader's side of the core, as functions over CoreState: proposals, ReadIndex, leadership
// transfer, membership changes, and the replication loop (Appends, acknowledgements, commit, snapshots
// to followers that fell behind the log). Elections and the follower live in node.ts.

import { assert } from '../protocol/assert.js';
import { asLogIndex, asTerm } from '../protocol/ids.js';
import type { ChangeResult, MembershipChange } from './membership.js';
import type { Progress } from './progress.js';
import { quorumAckedContext, quorumActive, quorumMatchIndex } from './quorum.js';
import { sendAppends, sendHeartbeats } from './replication.js';
import { ackChunk, nextChunk } from './snapshot.js';
import type { CoreState } from './state.js';
import { EntryType, MessageType } from './types.js';
import type { Entry, Message, NodeId } from './types.js';

export type TransferResult = { ok: true } | { ok: false; reason: 'not-leader' | 'invalid' };

const emptyData = new Uint8Array(0);

/** Appends many proposals as consecutive entries in one go (they share the Append messages). */
export function proposeBatch(st: CoreState, items: readonly { id: number; data: Uint8Array }[]): void {
  if (st.role !== 'leader' || st.leadTransferee !== null) {
    const reason = st.role !== 'leader' ? 'not-leader' : 'transfer-in-progress';
    for (const it of items) st.dropProposal(it.id, reason);
    return;
  }
  const entries: Entry[] = [];
  const ids: number[] = [];
  const q = st.proposals;
  for (const it of items) {
    const bytes = it.data.length;
    if (bytes > st.cfg.maxEntryBytes) {
      st.dropProposal(it.id, 'too-large');
    } else if (q.uncommittedBytes > 0 && q.uncommittedBytes + bytes > st.cfg.maxUncommittedBytes) {
      st.dropProposal(it.id, 'uncommitted-cap');
    } else {
      q.uncommittedBytes += bytes;
      entries.push({ index: asLogIndex(0), term: asTerm(0), type: EntryType.Normal, data: it.data });
      ids.push(it.id);
    }
  }
  if (entries.length === 0) return;
  appendAsLeader(st, entries);
  if (st.role !== 'leader') {
    // Appending committed our own removal: the entries may still commit, but not under our watch.
    for (const id of ids) st.dropProposal(id, 'stepped-down');
    return;
  }
  for (let k = 0; k < entries.length; k++) {
    const e = entries[k] as Entry;
    const id = ids[k] as number;
    st.out.proposed.push({ id, index: e.index, term: e.term });
    q.add(id, e.index, e.term, e.data.length);
  }
  bcastAppend(st);
}

/** Linearizable read: the answer is a ReadState (serve once applied ≥ index) or a DroppedRead. */
export function readIndex(st: CoreState, ctx: number): void {
  if (st.role !== 'leader') {
    st.dropRead(ctx, 'not-leader');
    return;
  }
  // A new leader does not know the commit index until it commits an entry of its term (§6.4).
  if (st.log.term(st.log.committed) !== st.term) {
    st.reads.awaitCommit(ctx);
    return;
  }
  st.stats.readIndexReads++;
  if (st.configs.voterCount() === 1 && st.isVoterSelf()) {
    st.out.readStates.push({ ctx, index: asLogIndex(st.log.committed) });
    return;
  }
  bcastHeartbeat(st, st.reads.enqueue(ctx, st.log.committed));
}

export function transferLeader(st: CoreState, to: NodeId): TransferResult {
  if (st.role !== 'leader') return { ok: false, reason: 'not-leader' };
  const target = st.configs.get(to);
  const pr = st.prs.get(to);
  if (to === st.id || target === undefined || target.role !== 'voter' || pr === undefined) {
    return { ok: false, reason: 'invalid' };
  }
  if (st.leadTransferee === to) return { ok: true };
  st.leadTransferee = to;
  st.electionElapsed = 0;
  st.stats.transfersStarted++;
  if (pr.match === st.log.lastIndex()) sendTimeoutNow(st, to);
  else {
    pr.probeSent = false; // catch the target up now rather than at the next heartbeat answer
    sendAppendsTo(st, pr, true);
  }
  return { ok: true };
}

export function changeMembership(st: CoreState, change: MembershipChange): ChangeResult {
  if (st.role !== 'leader') return { ok: false, reason: 'not-leader' };
  if (st.leadTransferee !== null) return { ok: false, reason: 'transfer-in-progress' };
  if (st.configs.currentIndex > st.log.committed) return { ok: false, reason: 'change-in-progress' };
  // The single-server fix: a config entry may follow only once this term has committed an entry.
  if (st.log.term(st.log.committed) !== st.term) return { ok: false, reason: 'no-commit-in-term' };
  const next = st.configs.next(change, (id) => st.prs.get(id)?.match, st.log.committed);
  if (typeof next === 'string') return { ok: false, reason: next };
  const entry: Entry = { index: asLogIndex(0), term: asTerm(0), type: EntryType.Config, data: emptyData, config: next };
  appendAsLeader(st, [entry]);
  st.stats.configChanges++;
  bcastAppend(st);
  return { ok: true, index: entry.index };
}

/** A new leader's first entry: a no-op of its term lets it commit (and learn) what earlier terms left. */
export function startTerm(st: CoreState): void {
  st.prs.clear();
  st.syncProgress();
  const self = st.prs.get(st.id);
  if (self !== undefined) self.recentActive = true;
  st.proposals.reset();
  appendAsLeader(st, [{ index: asLogIndex(0), term: asTerm(0), type: EntryType.NoOp, data: emptyData }]);
  bcastAppend(st);
}

export function tickLeader(st: CoreState): void {
  st.heartbeatElapsed++;
  st.electionElapsed++;
  if (st.electionElapsed >= st.cfg.electionTicks) {
    st.electionElapsed = 0;
    if (st.cfg.checkQuorum && !quorumActive(st.configs.current, st.prs, st.self())) {
      st.stats.checkQuorumStepDowns++;
      st.becomeFollower(st.term, null);
      return;
    }
    st.leadTransferee = null; // a transfer that did not finish within an election timeout is abandoned
  }
  for (const pr of st.prs.values()) {
    if (pr.state !== 'snapshot' || pr.snapshot === null) continue;
    if (++pr.snapshot.idleTicks >= 2 * st.cfg.heartbeatTicks) sendSnapshotChunk(st, pr);
  }
  if (st.heartbeatElapsed >= st.cfg.heartbeatTicks) {
    st.heartbeatElapsed = 0;
    bcastHeartbeat(st, st.reads.hasPending() ? st.reads.seq : 0);
  }
  announceCommit(st);
}

/**
 * How many tick() calls until one does more than count: a heartbeat, a check-quorum round, a snapshot
 * chunk resent or a commit index announced (then 1). The driver sleeps that long while idle.
 */
export function leaderTicksToEvent(st: CoreState): number {
  const committed = st.log.committed;
  for (const pr of st.prs.values()) {
    if (pr.id === st.id) continue;
    if (pr.state === 'snapshot' && pr.snapshot !== null) return 1;
    if (pr.state === 'replicate' && pr.commitSent < Math.min(committed, pr.match)) return 1;
  }
  const heartbeat = st.cfg.heartbeatTicks - st.heartbeatElapsed;
  const quorumCheck = st.cfg.electionTicks - st.electionElapsed;
  return Math.max(1, Math.min(heartbeat, quorumCheck));
}

export function stepLeader(st: CoreState, m: Message): void {
  const t = m.type;
  if (t !== MessageType.AppendResp && t !== MessageType.HeartbeatResp && t !== MessageType.SnapshotResp) {
    st.stats.ignored++;
    return;
  }
  const pr = st.prs.get(m.from);
  if (pr === undefined || !st.fromCurrentStorage(m)) {
    st.stats.ignored++;
    return;
  }
  pr.recentActive = true;
  if (t === MessageType.AppendResp) handleAppendResp(st, m, pr);
  else if (t === MessageType.HeartbeatResp) handleHeartbeatResp(st, m, pr);
  else if (ackChunk(pr, m)) sendSnapshotChunk(st, pr);
  else st.stats.ignored++;
}

function handleAppendResp(st: CoreState, m: Message, pr: Progress): void {
  const index = m.index ?? 0;
  if (m.reject === true) {
    let probe = m.rejectHint ?? 0;
    if ((m.rejectTerm ?? 0) > 0) probe = st.log.findConflictByTerm(probe, m.rejectTerm ?? 0);
    if (pr.maybeDecrTo(index, probe)) {
      if (pr.state === 'replicate') pr.becomeProbe();
      sendAppendsTo(st, pr, true);
    }
    return;
  }
  if (index > st.log.lastIndex()) {
    st.stats.ignored++; // acknowledges entries we never had: not from this term's log
    return;
  }
  const updated = pr.maybeUpdate(index);
  const wasProbing = pr.state !== 'replicate';
  if (pr.state === 'snapshot') {
    // Installed the snapshot, or caught up some other way: the log can take it from here.
    const snapIndex = pr.snapshot?.snapshot.meta.index ?? 0;
    if (pr.match >= snapIndex || pr.match + 1 >= st.log.firstIndex()) pr.becomeReplicate();
    else if (!updated) return;
  } else if (!updated) {
    if (pr.state === 'replicate') pr.inflights.freeLE(index);
    return;
  } else if (pr.state === 'probe') pr.becomeReplicate();
  else pr.inflights.freeLE(index);
  // Followers learn a new commit index on their next Append or heartbeat, or at the next tick
  // (announceCommit): an empty Append per commit doubled the peer messages per entry. A follower
  // that was probing may not know the commit index yet: tell it even with no entries.
  maybeCommit(st);
  sendAppendsTo(st, pr, wasProbing);
  if (m.from === st.leadTransferee && pr.match === st.log.lastIndex()) sendTimeoutNow(st, m.from);
}

function handleHeartbeatResp(st: CoreState, m: Message, pr: Progress): void {
  pr.probeSent = false;
  if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirst();
  if (pr.match < st.log.lastIndex()) sendAppendsTo(st, pr, true);
  const ctx = m.context ?? 0;
  if (ctx > pr.ackedContext) {
    pr.ackedContext = ctx;
    advanceReads(st);
  }
}

/**
 * Counts replication on a majority of voters; commits only an entry of the current term (Figure 8),
 * unless the `commitOldTerms` fault is planted.
 */
function maybeCommit(st: CoreState): boolean {
  // Our own log counts only as far as it is durable: our Appends may leave before our write.
  const index = quorumMatchIndex(st.configs.current, st.prs, st.self(), st.log.stableLastIndex());
  if (index <= st.log.committed) return false;
  if (st.log.term(index) !== st.term && st.faults.commitOldTerms !== true) return false;
  commitTo(st, index);
  return true;
}

function commitTo(st: CoreState, index: number): void {
  if (!st.log.commitTo(index)) return;
  st.proposals.commitTo(index, st.term);
  if (st.reads.hasAwaitingCommit() && st.log.term(index) === st.term) {
    for (const ctx of st.reads.takeAwaitingCommit()) readIndex(st, ctx);
  }
  if (st.configs.currentIndex <= index && !st.isVoterSelf()) stepDownRemoved(st);
}

/** Our removal is committed: hand leadership to the most caught-up voter and stop leading. */
function stepDownRemoved(st: CoreState): void {
  let best: Progress | null = null;
  for (const m of st.configs.current.members) {
    const pr = st.prs.get(m.id);
    if (m.role !== 'voter' || pr === undefined || m.id === st.id) continue;
    if (best === null || pr.match > best.match) best = pr;
  }
  bcastAppend(st, true); // followers learn the commit of our removal
  if (best !== null && best.match === st.log.lastIndex()) sendTimeoutNow(st, best.id);
  st.becomeFollower(st.term, null);
}

function appendAsLeader(st: CoreState, entries: Entry[]): void {
  let index = st.log.lastIndex();
  for (const e of entries) {
    e.index = asLogIndex(++index);
    e.term = asTerm(st.term);
  }
  st.appendToLog(entries);
  maybeCommit(st); // a majority of followers may suffice; our own copy counts once durable
}

/** advance(): our own write is durable, which may complete a majority (our Appends went out before). */
export function ownWriteDurable(st: CoreState): void {
  st.prs.get(st.id)?.maybeUpdate(st.log.stableLastIndex());
  maybeCommit(st); // followers learn it as handleAppendResp says
}

/** Each tick: an empty Append to every follower not yet told the commit index it could apply. */
function announceCommit(st: CoreState): void {
  const committed = st.log.committed;
  for (const pr of st.prs.values()) {
    if (pr.id === st.id || pr.state !== 'replicate') continue;
    if (pr.commitSent < Math.min(committed, pr.match)) sendAppendsTo(st, pr, true);
  }
}

/** Evicted entries were read back into memory (storage.ts): send what followers were waiting for. */
export function resumeAppends(st: CoreState): void {
  if (st.role === 'leader') bcastAppend(st);
}

/** `tellCommit`: send even empty Appends, so followers learn the commit index now. */
function bcastAppend(st: CoreState, tellCommit = false): void {
  for (const pr of st.prs.values()) if (pr.id !== st.id) sendAppendsTo(st, pr, tellCommit);
}

function bcastHeartbeat(st: CoreState, context: number): void {
  sendHeartbeats(st.prs.values(), st.id, st.log.committed, context, st.sendFn);
}

function sendAppendsTo(st: CoreState, pr: Progress, sendIfEmpty: boolean): void {
  if (!sendAppends(pr, st.log, st.cfg, sendIfEmpty, st.sendFn)) startSnapshot(st, pr);
}

function startSnapshot(st: CoreState, pr: Progress): void {
  const snap = st.log.storage.snapshot();
  assert(snap !== null, `raft invariant: follower ${pr.id} needs compacted entries but there is no snapshot`);
  pr.becomeSnapshot(snap);
  st.stats.snapshotsSent++;
  sendSnapshotChunk(st, pr);
}

function sendSnapshotChunk(st: CoreState, pr: Progress): void {
  if (pr.snapshot === null) return;
  st.send({ type: MessageType.Snapshot, to: pr.id, snapshot: nextChunk(pr.snapshot, st.cfg.snapshotChunkBytes) });
}

function sendTimeoutNow(st: CoreState, to: NodeId): void {
  st.send({ type: MessageType.TimeoutNow, to });
}

function advanceReads(st: CoreState): void {
  if (!st.reads.hasPending()) return;
  const acked = quorumAckedContext(st.configs.current, st.prs, st.self(), st.reads.seq);
  for (const rs of st.reads.confirm(acked)) st.out.readStates.push(rs);
}
