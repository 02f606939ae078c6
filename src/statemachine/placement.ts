// Task placement: which state a task is in and which heap holds it. A task sits in at most one
// heap (`pos`): waiting and at the head of its group → its queue's ready heap; delayed → the mono
// or wall delay heap (none while its queue is paused); leased → the lease heap; terminal → none.
// Every change of state goes through here and ends with assertPlaced.

import type { TaskEventType } from '../protocol/index.js';
import { assert } from '../protocol/assert.js';
import { customIdRemoved } from './custom-id.js';
import { bumpTotal, mut, touchJob } from './digest.js';
import { account, keyOf, settleKey } from './limits.js';
import type { Group, LimitKey, Task } from './records.js';
import { S_DELAYED, S_LEASED, S_WAITING, S_WAITING_CHILDREN, T_REMOVED, isTerminal } from './records.js';
import type { MachineState } from './state.js';
import { bucket, ev } from './state.js';

export function groupOf(t: Task): Group | undefined {
  const g = t.x?.group;
  return g === undefined ? undefined : t.q.groups.get(g);
}

/** Not blocked by an earlier task of its group. */
export function eligible(t: Task): boolean {
  const g = groupOf(t);
  return g === undefined || g.tasks[g.head] === t;
}

/** Postcondition of every state change: heap membership matches the state. */
export function assertPlaced(st: MachineState, t: Task): void {
  switch (t.state) {
    case S_WAITING:
      assert(eligible(t) ? keyOf(st, t).ready.has(t) : t.pos < 0, 'a waiting task is ready iff it heads its group');
      return;
    case S_DELAYED: {
      const heap = t.x?.wallDue === true ? st.wallDelay : st.monoDelay;
      if (t.q.reparking) assert(t.pos < 0 || heap.has(t), 'a delayed task is in its delay heap or none');
      else assert(t.q.settings.paused ? t.pos < 0 : heap.has(t), 'a delayed task is timed iff its queue runs');
      return;
    }
    case S_LEASED:
      assert(st.leaseHeap.has(t), 'a leased task is in the lease heap');
      return;
    case S_WAITING_CHILDREN:
      assert(t.pos < 0, 'a task waiting for its dependencies is in no heap');
      return;
    default:
      assert(isTerminal(t.state) && t.pos < 0, 'a terminal task is in no heap');
  }
}

function setState(t: Task, s: number, st: MachineState): LimitKey {
  assert(!isTerminal(t.state), 'a terminal state is final');
  const c = t.q.counts;
  c[t.state] = (c[t.state] as number) - 1;
  c[s] = (c[s] as number) + 1;
  if (isTerminal(s)) st.nonTerminal--;
  const k = account(st, t, t.state, s);
  t.state = s;
  return k;
}

/**
 * Take the task out of whichever heap holds it (ready, delayed or leased). Precondition: it is
 * where its state says. In a heap, the heap's own check verifies it is the one its state names;
 * in none, assertPlaced verifies its state allows that (a new task, `fresh`, is in none yet).
 */
function detach(st: MachineState, t: Task, fresh = false): void {
  if (t.pos < 0) {
    if (!fresh) assertPlaced(st, t);
    return;
  }
  if (t.state === S_WAITING) keyOf(st, t).ready.remove(t);
  else if (t.state === S_DELAYED) (t.x?.wallDue === true ? st.wallDelay : st.monoDelay).remove(t);
  else if (t.state === S_LEASED) st.leaseHeap.remove(t);
  assert(t.pos < 0, 'a detached task is in no heap');
}

/** Inside mut(): leased until `due` (mono). The caller records the attempt. */
export function toLeased(st: MachineState, t: Task, due: number): void {
  detach(st, t);
  const k = setState(t, S_LEASED, st);
  t.dueMono = due;
  t.dueWall = 0;
  st.leaseHeap.push(t);
  assertPlaced(st, t);
  settleKey(st, k);
}

/** Inside mut(): make it waiting, and ready unless an earlier task of its group blocks it. */
export function toWaiting(st: MachineState, t: Task, fresh = false): void {
  detach(st, t, fresh);
  const k = setState(t, S_WAITING, st);
  t.dueMono = 0;
  t.dueWall = 0;
  if (t.x !== undefined) t.x.wallDue = false;
  if (eligible(t)) k.ready.push(t);
  assertPlaced(st, t);
  settleKey(st, k);
}

/** Inside mut(): delayed until `at` on mono (or wall). A paused queue parks it outside the heaps. */
export function toDelayed(st: MachineState, t: Task, at: number, wallDue: boolean, fresh = false): void {
  detach(st, t, fresh);
  const k = setState(t, S_DELAYED, st);
  t.dueMono = wallDue ? 0 : at;
  t.dueWall = wallDue ? at : 0;
  if (wallDue || t.x !== undefined) t.extra().wallDue = wallDue;
  if (!t.q.settings.paused) (wallDue ? st.wallDelay : st.monoDelay).push(t);
  assertPlaced(st, t);
  settleKey(st, k);
}

/** Inside mut(): a terminal state. Schedules retention; afterTerminal does the rest. */
export function toTerminal(st: MachineState, t: Task, s: number, reason: string): void {
  detach(st, t);
  const k = setState(t, s, st);
  t.reason = reason;
  t.endedMono = st.mono;
  t.endedIndex = st.index;
  t.endedTerm = st.term;
  t.removeAt = bucket(st, st.mono + t.q.settings.retentionMs);
  t.worker = undefined;
  if (t.x !== undefined) t.x.wallDue = false;
  st.retentionTimers.push({ at: t.removeAt, key: t.id });
  assertPlaced(st, t);
  settleKey(st, k);
}

/** Inside mut(): waiting for its dependencies (flows.ts): in no heap until they complete. */
export function toWaitingChildren(st: MachineState, t: Task, fresh = false): void {
  detach(st, t, fresh);
  const k = setState(t, S_WAITING_CHILDREN, st);
  t.dueMono = 0;
  t.dueWall = 0;
  assertPlaced(st, t);
  settleKey(st, k);
}

/** Placement of a new (`fresh`) or updated task: delayed by `delayMs` (mono) or until `runAt` (wall), else waiting. */
export function place(
  st: MachineState,
  t: Task,
  delayMs: number | undefined,
  runAt: number | undefined,
  fresh = false,
): void {
  if (delayMs !== undefined && delayMs > 0) toDelayed(st, t, st.mono + delayMs, false, fresh);
  else if (runAt !== undefined && runAt > st.wall) toDelayed(st, t, runAt, true, fresh);
  else toWaiting(st, t, fresh);
}

/** After a task became terminal (outside its mut): totals, group head, events. Dead letters: deadletters.ts. */
export function afterTerminal(st: MachineState, t: Task, total: number, evType: TaskEventType): void {
  bumpTotal(st, t.q, total);
  advanceGroup(st, t);
  ev(st, t, evType, t.reason);
  // Its dependants learn the outcome (flows.ts, through the state's hook to keep imports one way).
  if (t.x?.dependants !== undefined) st.onDependencyEnded(st, t);
}

function advanceGroup(st: MachineState, t: Task): void {
  const name = t.x?.group;
  if (name === undefined) return;
  const g = t.q.groups.get(name);
  if (g === undefined || g.tasks[g.head] !== t) return;
  while (g.head < g.tasks.length && isTerminal((g.tasks[g.head] as Task).state)) g.head++;
  if (g.head >= g.tasks.length) {
    t.q.groups.delete(name);
    return;
  }
  if (g.head > 64 && g.head * 2 > g.tasks.length) {
    g.tasks = g.tasks.slice(g.head);
    g.head = 0;
  }
  const next = g.tasks[g.head] as Task;
  if (next.state === S_WAITING && next.pos < 0) {
    const k = keyOf(st, next);
    k.ready.push(next);
    settleKey(st, k);
  }
}

/** A pending task ends (cancel, TTL, purge): no attempt to close. */
export function finish(
  st: MachineState,
  t: Task,
  s: number,
  reason: string,
  total: number,
  evType: TaskEventType,
): void {
  mut(st, t, () => toTerminal(st, t, s, reason));
  afterTerminal(st, t, total, evType);
}

/** Close the current attempt (if still open) with how it ended and the answer a repeat gets. */
export function endAttempt(st: MachineState, t: Task, end: string, error: string | null, answer: unknown): void {
  if (t.x?.leaseSecret !== undefined) t.x.leaseSecret = undefined; // the holder's proof ends with the attempt
  const h = t.history;
  const a = h?.[h.length - 1];
  if (a === undefined || a.token !== t.token || a.end !== null) return;
  a.end = end;
  a.endedMono = st.mono;
  a.endedIndex = st.index;
  a.endedTerm = st.term;
  a.error = error;
  a.answer = answer;
}

export function removeTask(st: MachineState, t: Task, byRetention: boolean): void {
  assert(isTerminal(t.state) && t.pos < 0, 'only terminal tasks are removed');
  // A job whose cursor is this task moves on to the next one.
  for (const j of st.jobs) if (j.next === t) touchJob(st, j, () => (j.next = t.qnext));
  if (st.cows.length > 0) for (const c of st.cows) c.before(t);
  st.sum.subPair(t.ha, t.hb);
  customIdRemoved(st, t);
  st.tasks.delete(t.id);
  st.payloads.release(t);
  if (st.payloads.wantsCompaction()) st.payloads.compact(st.tasks.values());
  t.q.unlink(t);
  const c = t.q.counts;
  c[t.state] = (c[t.state] as number) - 1;
  if (byRetention) bumpTotal(st, t.q, T_REMOVED);
  ev(st, t, 'removed', byRetention ? 'retention' : 'deleted');
}
