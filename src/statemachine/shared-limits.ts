// Shared limits (issue 13, docs/sdk.md "Shared limits"): a named limit several queues reference
// (`settings.sharedLimit`). Its total concurrency and bucket are checked when a lease picks, like a
// queue's own (limits.ts pick); its per-key concurrency and bucket decide, like a key's own, whether
// a limit key is eligible (limits.ts target), so a lease skips a key the shared limit holds back.
// A key's eligibility then also depends on the same key in the limit's other queues: whenever a
// shared key's units are freed or its tokens taken, limits.ts re-places that key in those queues.
//
// This module is the bookkeeping limits.ts calls (it imports nothing of limits.ts: no cycle);
// commands, reads and snapshots are in shared-limits-commands.ts. No clock: `st.mono` only.

import { assert } from '../protocol/assert.js';
import { available, capOf, fits, refillAt, take } from './buckets.js';
import type { LimitKey, Queue } from './records.js';
import { SharedKey, type SharedLimit } from './shared-records.js';
import type { MachineState } from './state.js';

/** The shared limit `q` references, if any. */
export function limitOf(st: MachineState, q: Queue): SharedLimit | undefined {
  const n = q.settings.sharedLimit;
  return n === undefined || n === null ? undefined : st.shared.get(n);
}

function hashKey(st: MachineState, l: SharedLimit, k: SharedKey): void {
  st.h.reset().tag(35).str(l.name).optStr(k.name).int(k.tokens).int(k.tokensAt);
}

/** Add a new shared key (or one restored) to the limits digest lane. */
export function addShared(st: MachineState, l: SharedLimit, k: SharedKey): void {
  hashKey(st, l, k);
  k.a = st.h.a;
  k.b = st.h.b;
  st.lsum.add(st.h);
}

/** Bracket every change of a shared key's replicated fields (its bucket). */
function touch(st: MachineState, l: SharedLimit, k: SharedKey, f: () => void): void {
  st.lsum.subPair(k.a, k.b);
  f();
  addShared(st, l, k);
}

function keyFor(st: MachineState, l: SharedLimit, name: string): SharedKey {
  let k = l.keys.get(name);
  if (k === undefined) {
    k = new SharedKey(name);
    l.keys.set(name, k);
    addShared(st, l, k);
  }
  return k;
}

/** Nothing leased and its bucket full (or no per-key rate): the key remembers nothing. */
function quiet(st: MachineState, l: SharedLimit, k: SharedKey): boolean {
  if (k.leased > 0) return false;
  const r = l.spec.keyLimits?.rate;
  return r === undefined || r === null || k.tokens < 0 || available(k, r, st.mono) >= capOf(r);
}

/** A key of `l` goes once quiet (checked when its units are freed and when a queue's key retires). */
export function retireShared(st: MachineState, l: SharedLimit, name: string): void {
  const k = l.keys.get(name);
  if (k === undefined || !quiet(st, l, k)) return;
  st.lsum.subPair(k.a, k.b);
  l.keys.delete(name);
}

/** -1: over the limit's concurrency for this key; 0: within it and tokens now; else the instant they arrive. */
export function keyAt(st: MachineState, l: SharedLimit, name: string, c: number): number {
  const kl = l.spec.keyLimits;
  if (kl === undefined || name === '') return 0;
  const k = l.keys.get(name);
  if (k === undefined) return 0;
  if (!fits(k.inUse, c, kl.concurrency ?? null)) return -1;
  return kl.rate ? refillAt(k, kl.rate, c, st.mono) : 0;
}

/** The same for the limit's total (every queue and key together). */
export function totalAt(st: MachineState, l: SharedLimit, c: number): number {
  if (!fits(l.total.inUse, c, l.spec.concurrency ?? null)) return -1;
  return l.spec.rate ? refillAt(l.total, l.spec.rate, c, st.mono) : 0;
}

/** When an empty queue key of this name may go: the shared key's bucket full (0: now). */
export function quietAt(st: MachineState, l: SharedLimit, name: string): number {
  const r = l.spec.keyLimits?.rate;
  const k = l.keys.get(name);
  if (r === undefined || r === null || k === undefined || k.tokens < 0) return 0;
  const have = available(k, r, st.mono);
  const cap = capOf(r);
  return have < cap ? st.mono + Math.ceil((cap - have) / r.limit) : 0;
}

/** A grant of `c` units of key `name`: take from the total bucket and the key's. True: the key's bucket changed. */
export function chargeShared(st: MachineState, l: SharedLimit, name: string, c: number): boolean {
  const r = l.spec.rate;
  if (r) touch(st, l, l.total, () => take(l.total, r, c, st.mono));
  const kr = l.spec.keyLimits?.rate;
  if (!kr || name === '') return false;
  const k = keyFor(st, l, name);
  touch(st, l, k, () => take(k, kr, c, st.mono));
  return true;
}

/**
 * A task of key `name` starts (dl 1) or stops (dl -1) holding `dc` units. True: the key's units
 * count against a per-key concurrency, so its keys in the other queues must be re-placed.
 */
export function countShared(st: MachineState, l: SharedLimit, name: string, dc: number, dl: number): boolean {
  l.total.inUse += dc;
  l.total.leased += dl;
  assert(l.total.inUse >= 0 && l.total.leased >= 0, 'shared limit counts stay non-negative');
  if (name === '') return false;
  const k = keyFor(st, l, name);
  k.inUse += dc;
  k.leased += dl;
  assert(k.inUse >= 0 && k.leased >= 0, 'shared key counts stay non-negative');
  if (k.leased === 0) retireShared(st, l, name);
  const kc = l.spec.keyLimits?.concurrency;
  return kc !== undefined && kc !== null;
}

/** The keys named `name` in the limit's queues other than `q` (to re-place after the shared key changed). */
export function peers(st: MachineState, l: SharedLimit, q: Queue, name: string): LimitKey[] {
  const out: LimitKey[] = [];
  for (const qn of l.queues) {
    if (qn === q.name) continue;
    const k = st.queues.get(qn)?.lkeys.get(name);
    if (k !== undefined) out.push(k);
  }
  return out;
}

/** Every key of `q` in `l`'s counts, added (sign 1) or taken out (sign -1): a queue joins or leaves. */
export function moveUsage(st: MachineState, l: SharedLimit, q: Queue, sign: 1 | -1): void {
  l.total.inUse += sign * q.lim.inUse;
  let leased = 0;
  for (const k of q.lkeys.values()) {
    leased += k.leased;
    if (k.name === '' || k.leased === 0) continue;
    const sk = keyFor(st, l, k.name as string);
    sk.inUse += sign * k.inUse;
    sk.leased += sign * k.leased;
    if (sk.leased === 0) retireShared(st, l, k.name as string);
  }
  l.total.leased += sign * leased;
  assert(l.total.inUse >= 0 && l.total.leased >= 0, 'shared limit counts stay non-negative');
}
