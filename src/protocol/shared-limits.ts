// Shared limits (issue 13): a named limit that several queues reference (`settings.sharedLimit`), for
// a downstream system that several queues call. Concurrency in cost units and a token-bucket rate,
// for all its queues together and per limit key across them. The vocabulary and the validators the
// state machine runs on apply (validate.ts hands its field checkers in: no import cycle).

import type { RateLimit } from './commands.js';

/** Limits of one limit key, counted across every queue that references the shared limit. */
export interface SharedKeyLimits {
  concurrency?: number | null;
  rate?: RateLimit | null;
}

/** What setSharedLimit sets (the whole spec: an absent field is no limit). */
export interface SharedLimitSpec {
  /** Cost units leased at once across all its queues. */
  concurrency?: number | null;
  /** Cost units per interval across all its queues (token bucket on the log's mono clock). */
  rate?: RateLimit | null;
  /** Per limit key, across all its queues (tasks without a key are exempt, as in a queue). */
  keyLimits?: SharedKeyLimits;
}

export type SharedLimitCommand =
  ({ type: 'setSharedLimit'; name: string } & SharedLimitSpec) | { type: 'deleteSharedLimit'; name: string };

export type SharedLimitQuery = { type: 'sharedLimits' };

/** A shared limit as reads show it: its spec and current usage. */
export interface SharedLimitView extends SharedLimitSpec {
  name: string;
  /** The queues that reference it, by name. */
  queues: string[];
  /** Tasks leased now under it and the cost units they hold. */
  leased: number;
  inUse: number;
  /** Whole cost units in its bucket now (null: no rate). */
  tokens: number | null;
  /** Limit keys it is tracking now (leased, or a bucket still refilling). */
  keys: number;
}

/** Shared limits in the whole state machine. */
export const SHARED_LIMITS_MAX = 1000;

type Obj = Record<string, unknown>;

/** validate.ts's field checkers (they throw its typed Invalid, naming the field). */
export interface SharedLimitCheckers<L> {
  fail(field: string, message: string): never;
  own(o: Obj, k: string): unknown;
  isObj(v: unknown): v is Obj;
  name(o: Obj, k: string, path: string, limits: L): string;
  rate(o: Obj, k: string, path: string): RateLimit | null | undefined;
  nullableInt(o: Obj, k: string, path: string, min: number, max: number): number | null | undefined;
  costMax: number;
}

function spec<L>(c: SharedLimitCheckers<L>, o: Obj): SharedLimitSpec {
  const out: SharedLimitSpec = {};
  const concurrency = c.nullableInt(o, 'concurrency', 'concurrency', 1, c.costMax);
  if (concurrency !== undefined && concurrency !== null) out.concurrency = concurrency;
  const rate = c.rate(o, 'rate', 'rate');
  if (rate !== undefined && rate !== null) out.rate = rate;
  const kl = c.own(o, 'keyLimits');
  if (kl !== undefined && kl !== null) {
    if (!c.isObj(kl)) c.fail('keyLimits', 'must be key limits {concurrency?, rate?}');
    const k: SharedKeyLimits = {};
    const kc = c.nullableInt(kl, 'concurrency', 'keyLimits.concurrency', 1, c.costMax);
    if (kc !== undefined && kc !== null) k.concurrency = kc;
    const kr = c.rate(kl, 'rate', 'keyLimits.rate');
    if (kr !== undefined && kr !== null) k.rate = kr;
    if (k.concurrency !== undefined || k.rate !== undefined) out.keyLimits = k;
  }
  return out;
}

export function sharedLimitValidators<L>(c: SharedLimitCheckers<L>) {
  return {
    setSharedLimit: (o: Obj, l: L) => ({
      type: 'setSharedLimit' as const,
      name: c.name(o, 'name', 'name', l),
      ...spec(c, o),
    }),
    deleteSharedLimit: (o: Obj, l: L) => ({ type: 'deleteSharedLimit' as const, name: c.name(o, 'name', 'name', l) }),
  };
}
