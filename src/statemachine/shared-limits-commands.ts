// Shared limits (shared-limits.ts): the commands that set and delete them, a queue's binding to one
// (create / configure), the `sharedLimits` read, and their snapshot rows.

import type { Answer, CommandOf, SharedLimitCommand, SharedLimitSpec, SharedLimitView } from '../protocol/index.js';
import { assertNever } from '../protocol/assert.js';
import { SHARED_LIMITS_MAX } from '../protocol/index.js';
import type { SettingsPatch } from '../protocol/validate.js';
import { available } from './buckets.js';
import { startResettle } from './jobs.js';
import { settleKey } from './limits.js';
import type { Queue } from './records.js';
import { addShared, moveUsage, peers } from './shared-limits.js';
import { SharedKey, SharedLimit } from './shared-records.js';
import type { MachineState } from './state.js';
import { err, ok } from './state.js';

/** The shared-limit commands (the end of machine.ts's dispatch). */
export function sharedLimitCommand(st: MachineState, cmd: SharedLimitCommand): Answer {
  switch (cmd.type) {
    case 'setSharedLimit':
      return setSharedLimit(st, cmd);
    case 'deleteSharedLimit':
      return deleteSharedLimit(st, cmd.name);
    default:
      return assertNever(cmd, 'validated command of unknown type');
  }
}

function hashSpec(st: MachineState, l: SharedLimit): void {
  st.h.reset().tag(36).str(l.name).value(l.spec);
  l.a = st.h.a;
  l.b = st.h.b;
  st.lsum.add(st.h);
}

function sameSpec(a: SharedLimitSpec, b: SharedLimitSpec): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function setSharedLimit(st: MachineState, cmd: CommandOf<'setSharedLimit'>): Answer {
  const { type: _type, name, ...spec } = cmd;
  const l = st.shared.get(name);
  if (l === undefined) {
    if (st.shared.size >= SHARED_LIMITS_MAX)
      return err('RESOURCE_EXHAUSTED', 'too many shared limits', { limit: 'sharedLimitsMax', retryAfterMs: 1000 });
    const n = new SharedLimit(name, spec);
    st.shared.set(name, n);
    hashSpec(st, n);
    addShared(st, n, n.total);
    return ok({ created: true });
  }
  if (sameSpec(l.spec, spec)) return ok({ created: false });
  st.lsum.subPair(l.a, l.b);
  l.spec = spec;
  hashSpec(st, l);
  // Every key of every queue that references it is re-placed under the new limits: by resettle
  // jobs, at most adminTasksPerEntryMax keys in this entry (all queues together), the rest later.
  let budget = st.limits.adminTasksPerEntryMax;
  for (const qn of l.queues) budget = startResettle(st, st.queues.get(qn) as Queue, budget);
  return ok({ created: false });
}

export function deleteSharedLimit(st: MachineState, name: string): Answer {
  const l = st.shared.get(name);
  if (l === undefined) return err('NOT_FOUND', `no shared limit ${name}`, { field: 'name' });
  if (l.queues.length > 0)
    return err('FAILED_PRECONDITION', `shared limit ${name} is referenced by queues ${l.queues.join(', ')}`, {
      field: 'name',
      reason: 'shared_limit_in_use',
    });
  st.lsum.subPair(l.a, l.b);
  for (const k of [l.total, ...l.keys.values()]) st.lsum.subPair(k.a, k.b);
  st.shared.delete(name);
  return ok({});
}

/** A settings patch may only name a shared limit that exists. */
export function checkSharedRef(st: MachineState, patch: SettingsPatch): Answer | null {
  const n = patch.sharedLimit;
  if (typeof n !== 'string' || st.shared.has(n)) return null;
  return err('NOT_FOUND', `no shared limit ${n}`, { field: 'settings.sharedLimit' });
}

/**
 * After `q`'s settings changed from referencing `before`: its leased units leave the old limit and
 * join the new one, and the same keys in either limit's other queues are re-placed (they may fit
 * now, or no longer). The caller re-places q's own keys (resettle).
 */
export function rebind(st: MachineState, q: Queue, before: string | null | undefined): void {
  const after = q.settings.sharedLimit ?? null;
  if ((before ?? null) === after) return;
  const old = before == null ? undefined : st.shared.get(before);
  if (old !== undefined) {
    moveUsage(st, old, q, -1);
    old.queues = old.queues.filter((n) => n !== q.name);
    for (const name of q.lkeys.keys()) for (const p of peers(st, old, q, name)) settleKey(st, p);
  }
  const next = after === null ? undefined : st.shared.get(after);
  if (next !== undefined) {
    moveUsage(st, next, q, 1);
    next.queues = [...next.queues, q.name].sort();
    for (const name of q.lkeys.keys()) for (const p of peers(st, next, q, name)) settleKey(st, p);
  }
}

// ------------------------------------------------------------------ reads

function tokensOf(k: SharedKey, r: SharedLimitSpec['rate'], mono: number): number | null {
  return r ? Math.floor(available(k, r, mono) / r.intervalMs) : null;
}

export function readSharedLimits(st: MachineState): Answer {
  const names = [...st.shared.keys()].sort();
  const value: SharedLimitView[] = names.map((n) => {
    const l = st.shared.get(n) as SharedLimit;
    return {
      name: n,
      ...l.spec,
      queues: [...l.queues],
      leased: l.total.leased,
      inUse: l.total.inUse,
      tokens: tokensOf(l.total, l.spec.rate, st.mono),
      keys: l.keys.size,
    };
  });
  return ok(value);
}

// ------------------------------------------------------------------ snapshots

/** name, spec, the total bucket (tokens, tokensAt), and each key's [name, tokens, tokensAt]. */
export type SharedLimitRow = [string, SharedLimitSpec, number, number, [string, number, number][]];

export function sharedLimitRows(st: MachineState): SharedLimitRow[] {
  return [...st.shared.values()].map((l) => [
    l.name,
    l.spec,
    l.total.tokens,
    l.total.tokensAt,
    [...l.keys.values()].map((k): [string, number, number] => [k.name as string, k.tokens, k.tokensAt]),
  ]);
}

/** After the queues, before the tasks (whose leases count themselves in again): limits and buckets. */
export function restoreSharedLimits(st: MachineState, rows: SharedLimitRow[]): void {
  for (const [name, spec, tokens, tokensAt, keys] of rows) {
    const l = new SharedLimit(name, spec);
    l.total.tokens = tokens;
    l.total.tokensAt = tokensAt;
    for (const [kn, kt, ka] of keys) {
      const k = new SharedKey(kn);
      k.tokens = kt;
      k.tokensAt = ka;
      l.keys.set(kn, k);
    }
    st.shared.set(name, l);
  }
  const names = [...st.queues.keys()].sort();
  for (const qn of names) {
    const ref = st.queues.get(qn)?.settings.sharedLimit;
    const l = ref == null ? undefined : st.shared.get(ref);
    if (l !== undefined) l.queues.push(qn);
  }
}

/** After the limiters were placed (which resets the limits digest lane): the shared limits' part of it. */
export function hashSharedLimits(st: MachineState): void {
  for (const l of st.shared.values()) {
    hashSpec(st, l);
    for (const k of [l.total, ...l.keys.values()]) addShared(st, l, k);
  }
}
