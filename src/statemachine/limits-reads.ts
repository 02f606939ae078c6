// The `keys` read: usage and limits of a queue's limit keys, sorted by key, paged by a cursor (the
// last key of the previous page). Not on the apply path: O(keys log keys) per page. `usage` is also
// what the per-key metrics read (limits-metrics.ts).

import type { Answer, KeyPage, KeyUsage } from '../protocol/index.js';
import { available, limitsFor } from './limits.js';
import type { LimitKey } from './records.js';
import type { MachineState } from './state.js';

const PAGE_KEYS_DEFAULT = 100;
const PAGE_KEYS_MAX = 1000;

export function usage(m: MachineState, k: LimitKey): KeyUsage {
  const l = limitsFor(k.q.settings, k.name as string);
  const tokens = l.rate === null ? null : Math.floor(available(k, l.rate, m.mono) / l.rate.intervalMs);
  return {
    key: k.name as string,
    leased: k.leased,
    inUse: k.inUse,
    waiting: k.pending,
    weight: l.weight,
    concurrency: l.concurrency,
    tokens,
    heldUntilMono: k.heldUntil > m.mono ? k.heldUntil : null,
  };
}

export function readKeys(m: MachineState, queue: string, cursor?: string, limit?: number): Answer {
  const q = m.queues.get(queue);
  if (q === undefined) return { ok: false, error: { code: 'NOT_FOUND', message: `no queue ${queue}` } };
  const n = Math.max(1, Math.min(PAGE_KEYS_MAX, Math.floor(limit ?? PAGE_KEYS_DEFAULT)));
  const names = [...q.lkeys.keys()].filter((k) => cursor === undefined || k > cursor).sort();
  const items = names.slice(0, n).map((k) => usage(m, q.lkeys.get(k) as LimitKey));
  const value: KeyPage = { items, nextCursor: names.length > n ? (names[n - 1] as string) : null };
  return { ok: true, value };
}
