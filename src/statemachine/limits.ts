// Limit keys (docs/design.md §3, issue 13): per-queue and per-key concurrency and rate limits in
// cost units, counted exactly in replicated state, and fair scheduling between keys.
//
// Every non-terminal task belongs to one limit key of its queue (`x.limitKey`, '' without one).
// A key is in the queue's scheduler heap iff it has a ready task and its head task fits the key's
// concurrency, bucket and hold; otherwise in the global wake heap (tokens or hold arrive at
// `wakeAt`, a due transition) or in none (empty, or over its concurrency until a lease ends).
//
// Fairness is deficit round-robin by cost in its exact (virtual time) form: a lease serves the
// eligible key with the least virtual time, which then advances by cost × VT_SCALE / weight; a
// key that (re)enters the scheduler starts no earlier than the last grant's virtual time, so an
// idle or blocked key banks no credit. Both heaps make a lease O(log keys).

import type { KeyLimits, QueueSettings, RateLimit } from '../protocol/index.js';
import { assert } from '../protocol/assert.js';
import { touchJob } from './digest.js';
import type { Hasher } from './hash.js';
import type { Queue, Task } from './records.js';
import { LimitKey, S_LEASED, W_NONE, W_SCHED, W_WAKE, isTerminal } from './records.js';
import type { MachineState } from './state.js';
import { bucket } from './state.js';
import { available, capOf, fits, refillAt, take } from './buckets.js';
import * as shared from './shared-limits.js';

export { available, fits, refillAt } from './buckets.js';

/** Virtual time per cost unit at weight 1: divisible by every weight 1..10, so those shares are exact. */
export const VT_SCALE = 5040;
const NONE = -2;
const SCHED = -1;

export interface EffectiveLimits {
  concurrency: number | null;
  rate: RateLimit | null;
  weight: number;
}

const UNLIMITED: EffectiveLimits = Object.freeze({ concurrency: null, rate: null, weight: 1 });

/** The limits of a key without an override, per settings object (settings are replaced, never mutated). */
const defaults = new WeakMap<QueueSettings, EffectiveLimits>();

/** A key's limits: its override, else the queue's key defaults. Unkeyed tasks ('') get only a weight. */
export function limitsFor(s: QueueSettings, name: string): EffectiveLimits {
  const d = s.keyLimits;
  const o: KeyLimits | undefined = name === '' ? undefined : s.keys?.[name];
  if (d === undefined && o === undefined) return UNLIMITED;
  if (o === undefined && name !== '') {
    let l = defaults.get(s);
    if (l === undefined) {
      l = Object.freeze({ concurrency: d?.concurrency ?? null, rate: d?.rate ?? null, weight: d?.weight ?? 1 });
      defaults.set(s, l);
    }
    return l;
  }
  const weight = o?.weight ?? d?.weight ?? 1;
  if (name === '') return { concurrency: null, rate: null, weight };
  // An override's explicit null lifts the default for that key.
  const concurrency = o?.concurrency !== undefined ? o.concurrency : (d?.concurrency ?? null);
  const rate = o?.rate !== undefined ? o.rate : (d?.rate ?? null);
  return { concurrency, rate, weight };
}

export function costOf(t: Task): number {
  return t.x?.cost ?? 1;
}

export function hashLimiter(st: MachineState, k: LimitKey): Hasher {
  if (k.pa === 0 && k.pb === 0) {
    st.h.reset().tag(34).str(k.q.name).optStr(k.name);
    k.pa = st.h.a;
    k.pb = st.h.b;
  }
  const h = st.h.resume(k.pa, k.pb).int(k.vtime).int(k.tokens).int(k.tokensAt);
  return h.int(k.heldUntil).int(k.where).int(k.wakeAt);
}

/** Bracket every change of a limiter's replicated fields (limits digest lane). */
export function touchKey(st: MachineState, k: LimitKey, f: () => void): void {
  st.lsum.subPair(k.a, k.b);
  f();
  const h = hashLimiter(st, k);
  k.a = h.a;
  k.b = h.b;
  st.lsum.add(h);
}

export function addLimiter(st: MachineState, k: LimitKey): void {
  rehash(st, k);
}

/** The limiter's hash into the limits digest lane (its old hash already taken out, or none). */
function rehash(st: MachineState, k: LimitKey): void {
  const h = hashLimiter(st, k);
  k.a = h.a;
  k.b = h.b;
  st.lsum.add(h);
}

/** The task's limit key, created on first use. */
export function keyOf(st: MachineState, t: Task): LimitKey {
  const x = t.x;
  if (x === undefined || x.limitKey === undefined) return t.q.k0;
  // Several calls per change of state: the key is cached on the task while it lives.
  const cached = x.lk;
  if (cached !== undefined && !cached.gone) return cached;
  const name = x.limitKey;
  const q = t.q;
  let k = q.lkeys.get(name);
  if (k === undefined) {
    k = new LimitKey(q, name);
    q.lkeys.set(name, k);
    addLimiter(st, k);
  }
  x.lk = k;
  return k;
}

// ------------------------------------------------------------------ placement of keys

/** Where the key belongs now: NONE, SCHED, or the mono instant it wakes. */
function target(st: MachineState, k: LimitKey): number {
  const head = k.ready.peek();
  if (head === undefined) return NONE;
  const c = costOf(head);
  const l = limitsFor(k.q.settings, k.name as string);
  if (!fits(k.inUse, c, l.concurrency)) return NONE;
  let at = k.heldUntil > st.mono ? k.heldUntil : 0;
  if (l.rate !== null) at = Math.max(at, refillAt(k, l.rate, c, st.mono));
  if (k.q.settings.sharedLimit != null) {
    const sl = shared.limitOf(st, k.q);
    const s = sl === undefined ? 0 : shared.keyAt(st, sl, k.name as string, c);
    if (s < 0) return NONE;
    at = Math.max(at, s);
  }
  return at > st.mono ? at : SCHED;
}

function detachKey(st: MachineState, k: LimitKey): void {
  if (k.where === W_SCHED) k.q.sched.remove(k);
  else if (k.where === W_WAKE) st.wake.remove(k);
  k.where = W_NONE;
  k.wakeAt = 0;
}

/** Re-place a key after its ready heap, counts, bucket, hold or settings changed. */
export function settleKey(st: MachineState, k: LimitKey): void {
  const at = target(st, k);
  const same = at === NONE ? k.where === W_NONE : at === SCHED ? k.where === W_SCHED : k.wakeAt === at;
  if (!same) {
    touchKey(st, k, () => {
      detachKey(st, k);
      if (at === SCHED) {
        // No banked credit: a key (re)enters no earlier than the last grant.
        if (k.vtime < k.q.lim.vtime) k.vtime = k.q.lim.vtime;
        k.where = W_SCHED;
        k.q.sched.push(k);
      } else if (at !== NONE) {
        k.where = W_WAKE;
        k.wakeAt = at;
        st.wake.push(k);
      }
    });
  }
  if (k.pending === 0 && k.leased === 0) retire(st, k);
}

/**
 * An empty key goes at once, or once its bucket is full and its hold over (lazily, in sweep). The
 * unkeyed tasks' key stays for the queue's life.
 */
function retire(st: MachineState, k: LimitKey): void {
  assert(k.ready.size === 0 && k.where === W_NONE, 'an empty key is in no heap');
  if (k === k.q.k0) return;
  const until = quietAt(st, k);
  if (until <= st.mono) {
    st.lsum.subPair(k.a, k.b);
    k.q.lkeys.delete(k.name as string);
    k.gone = true;
    // A resettle walk about to visit this key goes on with the next one.
    for (const j of st.jobs) if (j.key === k) touchJob(st, j, () => j.advanceKey());
    const sl = shared.limitOf(st, k.q);
    if (sl !== undefined) shared.retireShared(st, sl, k.name as string);
  } else st.limitTimers.push({ at: bucket(st, until), key: `${k.q.name}\u0000${k.name as string}` });
}

/** When an empty key has nothing left to remember: bucket full, hold over. */
function quietAt(st: MachineState, k: LimitKey): number {
  let at = k.heldUntil;
  const r = limitsFor(k.q.settings, k.name as string).rate;
  if (r !== null && k.tokens >= 0) {
    const have = available(k, r, st.mono);
    const cap = capOf(r);
    if (have < cap) at = Math.max(at, st.mono + Math.ceil((cap - have) / r.limit));
  }
  const sl = shared.limitOf(st, k.q);
  return sl === undefined ? at : Math.max(at, shared.quietAt(st, sl, k.name as string));
}

/** Lazy removals of empty keys (from sweep); returns the budget left. */
export function sweepKeys(st: MachineState, budget: number): number {
  for (let e = st.limitTimers.peek(); budget > 0 && e !== undefined && e.at <= st.mono; e = st.limitTimers.peek()) {
    budget--;
    st.limitTimers.pop();
    const s = e.key as string;
    const i = s.indexOf('\u0000');
    const k = st.queues.get(s.slice(0, i))?.lkeys.get(s.slice(i + 1));
    if (k !== undefined && k.pending === 0 && k.leased === 0) retire(st, k);
  }
  return budget;
}

/** Count a task's change of state on its key and queue (from placement's setState). */
export function account(st: MachineState, t: Task, from: number, to: number): LimitKey {
  const k = keyOf(st, t);
  const q = t.q;
  if (from === S_LEASED) {
    const c = costOf(t);
    k.inUse -= c;
    k.leased--;
    q.lim.inUse -= c;
  } else if (from >= 0) k.pending--;
  if (to === S_LEASED) {
    const c = costOf(t);
    k.inUse += c;
    k.leased++;
    q.lim.inUse += c;
  } else if (!isTerminal(to)) k.pending++;
  assert(k.inUse >= 0 && k.pending >= 0 && q.lim.inUse >= 0, 'limit counts stay non-negative');
  if (q.settings.sharedLimit != null && (from === S_LEASED) !== (to === S_LEASED)) accountShared(st, t, k, from);
  return k;
}

/** A lease began or ended under a shared limit: its counts; the same key in the limit's other queues is re-placed. */
function accountShared(st: MachineState, t: Task, k: LimitKey, from: number): void {
  const sl = shared.limitOf(st, t.q);
  if (sl === undefined) return;
  const c = costOf(t);
  const freed = from === S_LEASED;
  if (shared.countShared(st, sl, k.name as string, freed ? -c : c, freed ? -1 : 1) && from >= 0)
    for (const p of shared.peers(st, sl, t.q, k.name as string)) settleKey(st, p);
}

// ------------------------------------------------------------------ lease side

/**
 * The key a lease serves next and its head task, or null: the queue's concurrency or bucket stops
 * it (a short bucket parks the queue's limiter in the wake heap). Within a key, priority orders.
 */
export function pick(st: MachineState, q: Queue): Task | null {
  if (q.lim.where === W_WAKE) return null;
  const k = q.sched.peek();
  if (k === undefined) return null;
  const t = k.ready.peek() as Task;
  const c = costOf(t);
  if (!fits(q.lim.inUse, c, q.settings.concurrency)) return null;
  const r = q.settings.rate ?? null;
  const sl = q.settings.sharedLimit == null ? undefined : shared.limitOf(st, q);
  if (r !== null || sl !== undefined) {
    let at = r === null ? 0 : refillAt(q.lim, r, c, st.mono);
    const s = sl === undefined ? 0 : shared.totalAt(st, sl, c);
    if (s < 0) return null;
    at = Math.max(at, s);
    if (at > 0) {
      touchKey(st, q.lim, () => {
        q.lim.where = W_WAKE;
        q.lim.wakeAt = at;
        st.wake.push(q.lim);
      });
      return null;
    }
  }
  return t;
}

/** Would a lease grant now? O(1) (no state change). */
export function canPick(st: MachineState, q: Queue): boolean {
  if (q.lim.where === W_WAKE) return false;
  const k = q.sched.peek();
  if (k === undefined) return false;
  const c = costOf(k.ready.peek() as Task);
  if (!fits(q.lim.inUse, c, q.settings.concurrency)) return false;
  const r = q.settings.rate ?? null;
  if (r !== null && refillAt(q.lim, r, c, st.mono) !== 0) return false;
  const sl = q.settings.sharedLimit == null ? undefined : shared.limitOf(st, q);
  return sl === undefined || shared.totalAt(st, sl, c) === 0;
}

/** Charge a grant of `t` (before it is leased): buckets and virtual time. */
export function charge(st: MachineState, t: Task): void {
  const k = keyOf(st, t);
  const q = t.q;
  const c = costOf(t);
  const l = limitsFor(q.settings, k.name as string);
  // touchKey's bracket written out (once per grant: no closures on the hot path).
  st.lsum.subPair(q.lim.a, q.lim.b);
  q.lim.vtime = k.vtime;
  if (q.settings.rate) take(q.lim, q.settings.rate, c, st.mono);
  rehash(st, q.lim);
  st.lsum.subPair(k.a, k.b);
  k.vtime += Math.floor((c * VT_SCALE) / l.weight);
  if (k.where === W_SCHED) q.sched.update(k);
  if (l.rate !== null) take(k, l.rate, c, st.mono);
  rehash(st, k);
  const sl = q.settings.sharedLimit == null ? undefined : shared.limitOf(st, q);
  if (sl !== undefined && shared.chargeShared(st, sl, k.name as string, c))
    for (const p of shared.peers(st, sl, q, k.name as string)) settleKey(st, p);
}

/** A handler reported its key rate limited: hold the key back until mono + ms. */
export function hold(st: MachineState, t: Task, ms: number): void {
  const k = keyOf(st, t);
  const until = st.mono + ms;
  if (until > k.heldUntil) touchKey(st, k, () => (k.heldUntil = until));
  settleKey(st, k);
}

/** Due wake-ups (from runDue): keys whose tokens or hold arrived, queues whose bucket refilled. */
export function wakeDue(st: MachineState, budget: number): number {
  for (let k = st.wake.peek(); budget > 0 && k !== undefined && k.wakeAt <= st.mono; k = st.wake.peek()) {
    budget--;
    const lk = k;
    if (lk.name === null) touchKey(st, lk, () => detachKey(st, lk));
    else settleKey(st, lk);
  }
  return budget;
}

/**
 * Settings changed: the queue's own limiter leaves the wake heap (pick places it again); its keys
 * are re-placed by a resettle job (jobs.ts), a capped number per entry.
 */
export function unparkQueueLimiter(st: MachineState, q: Queue): void {
  if (q.lim.where === W_WAKE) touchKey(st, q.lim, () => detachKey(st, q.lim));
}

/** The queue goes: its limiters leave the digest and the wake heap. */
export function dropLimiters(st: MachineState, q: Queue): void {
  const sl = shared.limitOf(st, q);
  if (sl !== undefined) {
    shared.moveUsage(st, sl, q, -1);
    sl.queues = sl.queues.filter((n) => n !== q.name);
  }
  for (const k of [q.lim, ...q.lkeys.values()]) {
    if (k.where === W_WAKE) st.wake.remove(k);
    else if (k.where === W_SCHED) q.sched.remove(k);
    st.lsum.subPair(k.a, k.b);
    k.gone = true;
  }
  q.lkeys.clear();
}
