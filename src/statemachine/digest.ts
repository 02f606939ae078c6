// Digest bookkeeping (README "Digest"): the digest is a sum of per-record hashes, kept up to date by
// subtracting a record's hash before each change and adding it after. Every task mutation goes
// through mut(), every queue mutation through mutQueue() (bumpTotal for one total).
//
// Cached session answers enter the sum lazily: an answer is hashed when the digest is next taken
// (flushDigest), and one dropped before then (its session's floor moved on) is never hashed (issue
// 11: hashing every answer's object was the largest item of applying). The sum is the same either
// way. Tasks stay eager: hashing them lazily kept a set of them, and cost more in GC than it saved.

import type { NackAnswer } from '../protocol/index.js';
import { assert } from '../protocol/assert.js';
import type { Hasher } from './hash.js';
import { hex32 } from './hash.js';
import type { AdminJob, Attempt, CachedAnswer, Queue, Session, Task } from './records.js';
import type { TaskExtra } from './records.js';
import { H_DROPPED, H_IN_SUM, H_PENDING, NO_EXTRA } from './records.js';
import type { MachineState } from './state.js';
import { hashStory } from './story.js';

export function hashTask(st: MachineState, t: Task): Hasher {
  const h = st.h.reset().tag(30).int(t.id).str(t.q.name).int(t.ph).int(t.len).int(t.priority);
  h.int(t.state)
    .int(t.attempts)
    .int(t.deliveries)
    .int(t.leases)
    .int(t.dueMono + t.dueWall) // at most one is non-zero
    .int(t.token)
    .int(t.enqMono)
    .int(t.enqWall)
    .optStr(t.worker)
    .opt(t.leaseMsCur)
    .optStr(t.reason)
    .opt(t.endedMono)
    .opt(t.removeAt);
  // The story's indexes and terms (issue 15); only when recorded, as tasks restored from before.
  if (t.enqIndex !== undefined || t.endedIndex !== undefined)
    h.tag(7).opt(t.enqIndex).opt(t.enqTerm).opt(t.endedIndex).opt(t.endedTerm);
  hashHistory(h, t.history);
  hashStory(h, t.story);
  const x = t.x;
  if (x === undefined && t.headers === undefined) return h.tag(1);
  return hashExtra(h, t.headers, x ?? NO_EXTRA);
}

/** The task's extra record (headers included, though they live on the task: records.ts). */
function hashExtra(h: Hasher, headers: Record<string, string> | undefined, x: Readonly<TaskExtra>): Hasher {
  h.tag(2).value(headers).optStr(x.group).optStr(x.key).opt(x.ttlAt).opt(x.maxAttempts).opt(x.maxDeliveries);
  h.opt(x.leaseMs)
    .tag(x.wallDue ? 1 : 0)
    .opt(x.progress)
    .value(x.checkpoint);
  h.value(x.result).optStr(x.lastError);
  h.value(x.deadLetterOf).opt(x.deadLetterId).opt(x.redrivenFrom).opt(x.redrivenTo);
  // Only when set, so a task without them hashes as before limits existed (raftq-sm/3 digests).
  if (x.limitKey !== undefined || x.cost !== undefined) h.tag(6).optStr(x.limitKey).opt(x.cost);
  if (x.backoff !== undefined) h.tag(7).value(x.backoff);
  // Likewise for workflows (flows.ts, cancel.ts): only when set.
  if (x.cancelReq !== undefined || x.deps !== undefined || x.dependants !== undefined || x.flow !== undefined) {
    h.tag(8)
      .tag(x.cancelReq === true ? 1 : 0)
      .value(x.deps)
      .value(x.dependants)
      .opt(x.flow);
  }
  // Lease-holder secrets (issue #14): only when set, so tasks without one hash as before.
  if (x.leaseSecret !== undefined) h.tag(9).optStr(x.leaseSecret);
  // The publishing topic (state machine version 2): only when set.
  if (x.topic !== undefined) h.tag(10).str(x.topic);
  return h;
}

/** Attempts and their answers have fixed shapes: hash them field by field (no key sorting). */
function hashHistory(h: Hasher, history: Attempt[] | undefined): void {
  if (history === undefined) {
    h.tag(1);
    return;
  }
  h.tag(4).int(history.length);
  for (const a of history) {
    h.int(a.token).str(a.worker).int(a.leasedMono).int(a.leasedWall).optStr(a.end).opt(a.endedMono).optStr(a.error);
    if (a.leasedTerm !== undefined) h.tag(7).int(a.leasedTerm).opt(a.endedIndex).opt(a.endedTerm);
    const ans = a.answer as (NackAnswer & { state?: string }) | null;
    if (ans === null || ans === undefined) h.tag(1);
    else h.tag(5).optStr(ans.state).opt(ans.runAtMono).optStr(ans.deadLetterId);
  }
}

/** Past this many pending answers, an entry's end hashes them (memory stays bounded). */
const LAZY_MAX = 65_536;

export function addTask(st: MachineState, t: Task): void {
  const h = hashTask(st, t);
  t.ha = h.a;
  t.hb = h.b;
  st.sum.add(h);
}

/** Bracket every task mutation: its old hash leaves the digest, its new one enters. */
export function mut(st: MachineState, t: Task, f: () => void): void {
  if (st.cows.length > 0) for (const c of st.cows) c.before(t);
  st.sum.subPair(t.ha, t.hb);
  f();
  addTask(st, t);
}

/** A session answer is cached: hashed into the sum at the next digest if still cached then. */
export function answerCached(st: MachineState, c: CachedAnswer): void {
  st.pendingAnswers.add(c);
}

/** A cached answer is dropped (its session's floor moved, or the session ended). */
export function answerDropped(st: MachineState, c: CachedAnswer): void {
  // Out of the pending set at once: a dropped answer must not live on (into the old generation) until the next digest.
  if (c.h === H_IN_SUM) st.sum.subPair(c.a, c.b);
  else st.pendingAnswers.delete(c);
  c.h = H_DROPPED;
}

/** Every pending answer into the sum, as it is now. */
export function flushDigest(st: MachineState): void {
  for (const c of st.pendingAnswers) {
    assert(c.h === H_PENDING, 'digest: a pending answer is neither hashed nor dropped');
    const h = hashAnswer(st, c.s.id, c.seq, c.answer);
    c.a = h.a;
    c.b = h.b;
    c.h = H_IN_SUM;
    st.sum.add(h);
  }
  st.pendingAnswers.clear();
}

/** At an entry's end: flushDigest when the pending answers grew past LAZY_MAX. */
export function boundLazyDigest(st: MachineState): void {
  if (st.pendingAnswers.size > LAZY_MAX) flushDigest(st);
}

export function hashAnswer(st: MachineState, session: string, seq: number, answer: unknown): Hasher {
  return st.h.reset().tag(41).str(session).int(seq).value(answer);
}

export function hashQueue(st: MachineState, q: Queue): Hasher {
  const h = st.h.reset().tag(31).str(q.name).int(q.settingsA).int(q.settingsB);
  const totals = q.totals;
  for (let i = 0; i < totals.length; i++) h.int(totals[i] as number);
  // Only while a delete runs, so the digest of every state without one is unchanged.
  if (q.deleting) h.tag(9);
  return h;
}

/** Queue totals change on most commands: a queue leaves the digest once per entry and re-enters at its end. */
export function mutQueue(st: MachineState, q: Queue, f: () => void): void {
  outOfSum(st, q);
  f();
}

function outOfSum(st: MachineState, q: Queue): void {
  if (q.dirty) return;
  st.sum.sub(hashQueue(st, q));
  q.dirty = true;
  st.dirtyQueues.push(q);
}

/** mutQueue for one total (several per task): no closure. */
export function bumpTotal(st: MachineState, q: Queue, total: number): void {
  outOfSum(st, q);
  q.totals[total] = (q.totals[total] as number) + 1;
}

export function flushQueues(st: MachineState): void {
  for (const q of st.dirtyQueues) {
    if (!q.dirty) continue;
    q.dirty = false;
    st.sum.add(hashQueue(st, q));
  }
  st.dirtyQueues.length = 0;
}

export function hashKey(st: MachineState, q: string, key: string, id: number, expiresAt: number): Hasher {
  return st.h.reset().tag(32).str(q).str(key).int(id).int(expiresAt);
}

export function sessionFields(st: MachineState, s: Session): Hasher {
  return st.h.reset().tag(40).str(s.id).int(s.timeoutMs).int(s.lastMono).int(s.floor);
}

/** A session's record after its fields changed: the old hash leaves the sum, the new one enters. */
export function rehashSession(st: MachineState, s: Session): void {
  st.sum.subPair(s.a, s.b);
  const h = sessionFields(st, s);
  s.a = h.a;
  s.b = h.b;
  st.sum.add(h);
}

/** Bracket every change of an admin job (its cursor): its old hash leaves the digest, its new one enters. */
export function touchJob(st: MachineState, j: AdminJob, f: () => void): void {
  st.sum.subPair(j.a, j.b);
  f();
  const h = st.h
    .reset()
    .tag(33)
    .str(j.kind)
    .str(j.q.name)
    .int(j.next?.id ?? 0)
    .int(j.upTo);
  // Only redrive and resettle jobs hash more (the other kinds keep the hashes of earlier formats).
  if (j.redrive !== null) h.int(j.redrive.left).optStr(j.redrive.toQueue);
  if (j.kind === 'resettle') h.optStr(j.key?.name ?? null);
  j.a = h.a;
  j.b = h.b;
  st.sum.add(h);
}

/**
 * The digest of the whole state: the scalars and the sum of every record's hash. `legacy` leaves
 * out the limiters' lane: what a raftq-sm/3 snapshot (before limits) recorded.
 */
export function digestOf(st: MachineState, legacy = false): string {
  flushDigest(st);
  flushQueues(st);
  assert(st.dirtyQueues.length === 0, 'digest: every queue is back in the sum');
  const g = st.h.reset().int(st.applied).int(st.mono).int(st.wall).int(st.nextTaskId).int(st.nextSessionId);
  g.int(st.sum.a).int(st.sum.b);
  if (!legacy) g.int(st.lsum.a).int(st.lsum.b);
  // Only above 1, so every state of version 1 keeps the digest the release before versions gave it.
  if (st.activeVersion > 1) g.tag(60).int(st.activeVersion);
  return hex32(g.a) + hex32(g.b);
}
