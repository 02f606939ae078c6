// Time (docs/design.md §2): before each entry's commands, the transitions due at its stamps — lease
// expiries, delayed tasks on mono, delayed tasks on wall, TTL expiries — capped per entry; then
// the lazy removals (retention, idempotency keys, sessions) at bucket boundaries, capped too.

import { assert } from '../protocol/assert.js';
import { bumpTotal, hashKey, mut } from './digest.js';
import { afterDead } from './deadletters.js';
import { splitKeyTimer } from './enqueue.js';
import { sweepKeys, wakeDue } from './limits.js';
import { endAttempt, finish, removeTask, toTerminal, toWaiting } from './placement.js';
import type { Task } from './records.js';
import {
  S_DEAD,
  S_DELAYED,
  S_EXPIRED,
  S_LEASED,
  S_WAITING,
  T_EXPIRED,
  T_LEASE_EXPIRED,
  isTerminal,
} from './records.js';
import { removeSession } from './sessions.js';
import { cancelRequested, endCancelled } from './cancel.js';
import type { MachineState } from './state.js';
import { bucket, ev } from './state.js';
import { note } from './story.js';

/** The earliest instants at which something is due (mono: leases, delays, TTL; wall: runAt). */
export function nextDue(st: MachineState): { mono: number | null; wall: number | null } {
  let mono: number | null = null;
  const cands = [
    st.leaseHeap.peek()?.dueMono,
    st.monoDelay.peek()?.dueMono,
    st.ttlTimers.peek()?.at,
    // A key or queue waiting for tokens or a hold: its tasks become leasable then.
    st.wake.peek()?.wakeAt,
  ];
  for (const c of cands) if (c !== undefined && (mono === null || c < mono)) mono = c;
  // Pending admin work is due now: the leader proposes advanceTime to continue it.
  if (st.jobs.length > 0 && (mono === null || st.mono < mono)) mono = st.mono;
  const w = st.wallDelay.peek();
  return { mono, wall: w === undefined ? null : w.dueWall };
}

/** Transitions due at this entry's stamps, in a defined order, capped per entry. */
export function runDue(st: MachineState): void {
  let budget = st.limits.transitionsPerEntryMax;
  for (let t = st.leaseHeap.peek(); budget > 0 && t !== undefined && t.dueMono <= st.mono; t = st.leaseHeap.peek()) {
    budget--;
    expireLease(st, t);
  }
  for (let t = st.monoDelay.peek(); budget > 0 && t !== undefined && t.dueMono <= st.mono; t = st.monoDelay.peek()) {
    budget--;
    delayedReady(st, t);
  }
  for (let t = st.wallDelay.peek(); budget > 0 && t !== undefined && t.dueWall <= st.wall; t = st.wallDelay.peek()) {
    budget--;
    delayedReady(st, t);
  }
  for (let e = st.ttlTimers.peek(); budget > 0 && e !== undefined && e.at <= st.mono; e = st.ttlTimers.peek()) {
    budget--;
    st.ttlTimers.pop();
    const t = st.tasks.get(e.key as number);
    if (t !== undefined && ttlDue(st, t)) expireTtl(st, t);
  }
  budget = wakeDue(st, budget);
  if (budget === 0) st.counters.transitionsDeferred++;
}

/** TTL applies to never-leased pending tasks only. */
export function ttlDue(st: MachineState, t: Task): boolean {
  const at = t.x?.ttlAt;
  return at !== undefined && at <= st.mono && t.leases === 0 && (t.state === S_WAITING || t.state === S_DELAYED);
}

export function expireTtl(st: MachineState, t: Task): void {
  finish(st, t, S_EXPIRED, 'ttl', T_EXPIRED, 'expired');
}

function delayedReady(st: MachineState, t: Task): void {
  mut(st, t, () => {
    toWaiting(st, t);
    note(st, t, 'ready');
  });
  ev(st, t, 'ready');
}

function expireLease(st: MachineState, t: Task): void {
  assert(t.state === S_LEASED, 'only a leased task is in the lease heap');
  if (cancelRequested(t)) {
    endCancelled(st, t, 'lease_expired', null);
    return;
  }
  const maxDeliveries = t.x?.maxDeliveries ?? t.q.settings.maxDeliveries;
  let dead = false;
  mut(st, t, () => {
    t.deliveries++;
    dead = t.deliveries >= maxDeliveries;
    endAttempt(st, t, 'lease_expired', null, null);
    if (dead) toTerminal(st, t, S_DEAD, 'max_deliveries');
    else {
      toWaiting(st, t);
      note(st, t, 'retry', `lease expired: delivery ${t.deliveries} of ${maxDeliveries}, waiting again`);
    }
    t.worker = undefined;
  });
  bumpTotal(st, t.q, T_LEASE_EXPIRED);
  st.counters.leasesExpired++;
  if (dead) afterDead(st, t);
  else ev(st, t, 'lease_expired');
}

/** Lazy expiries in ≥ 1 s buckets: retention, idempotency keys, sessions. Capped per entry. */
export function sweep(st: MachineState): void {
  let budget = st.limits.sweepPerEntryMax;
  for (
    let e = st.retentionTimers.peek();
    budget > 0 && e !== undefined && e.at <= st.mono;
    e = st.retentionTimers.peek()
  ) {
    budget--;
    st.retentionTimers.pop();
    const t = st.tasks.get(e.key as number);
    if (t !== undefined && isTerminal(t.state) && t.removeAt === e.at) removeTask(st, t, true);
  }
  for (let e = st.keyTimers.peek(); budget > 0 && e !== undefined && e.at <= st.mono; e = st.keyTimers.peek()) {
    budget--;
    st.keyTimers.pop();
    const [qn, key] = splitKeyTimer(e.key as string);
    const q = st.queues.get(qn);
    const k = q?.keys.get(key);
    if (q !== undefined && k !== undefined && k.expiresAt <= st.mono) {
      st.sum.sub(hashKey(st, q.name, key, k.id, k.expiresAt));
      q.keys.delete(key);
      st.keyCount--;
    }
  }
  budget = sweepKeys(st, budget);
  for (let e = st.sessionTimers.peek(); budget > 0 && e !== undefined && e.at <= st.mono; e = st.sessionTimers.peek()) {
    budget--;
    st.sessionTimers.pop();
    const s = st.sessions.get(e.key as string);
    if (s === undefined) continue;
    const end = s.lastMono + s.timeoutMs;
    if (end <= st.mono) removeSession(st, s);
    else st.sessionTimers.push({ at: bucket(st, end), key: s.id });
  }
}
