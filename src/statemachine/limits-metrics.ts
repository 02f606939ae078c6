// Per-key usage for metrics (issue 13): a queue's limit keys reduced to a bounded set, the `n` keys
// with the most tasks waiting (ties by name) with their usage, the rest summed. Read-only, not on
// the apply path: O(keys × n) per queue per scrape.

import type { KeyUsage } from '../protocol/index.js';
import { usage } from './limits-reads.js';
import type { LimitKey } from './records.js';
import type { MachineState } from './state.js';

export interface KeyTotals {
  keys: number;
  waiting: number;
  leased: number;
  inUse: number;
}

export interface KeyMetrics {
  /** The keys with the most tasks waiting, most first. */
  top: KeyUsage[];
  /** Every other key, summed. */
  rest: KeyTotals;
  /** Keys the queue tracks now, and those held back by a handler's 429 now. */
  keys: number;
  held: number;
}

function before(a: LimitKey, b: LimitKey): boolean {
  return a.pending > b.pending || (a.pending === b.pending && (a.name as string) < (b.name as string));
}

/** The per-key usage of `queue` for metrics, or null if there is no such queue. */
export function keyMetrics(m: MachineState, queue: string, n: number): KeyMetrics | null {
  const q = m.queues.get(queue);
  if (q === undefined) return null;
  const top: LimitKey[] = [];
  const rest: KeyTotals = { keys: 0, waiting: 0, leased: 0, inUse: 0 };
  let held = 0;
  const spill = (k: LimitKey): void => {
    rest.keys += 1;
    rest.waiting += k.pending;
    rest.leased += k.leased;
    rest.inUse += k.inUse;
  };
  for (const k of q.lkeys.values()) {
    if (k.heldUntil > m.mono) held += 1;
    let i = top.length;
    while (i > 0 && before(k, top[i - 1] as LimitKey)) i -= 1;
    if (i >= n) {
      spill(k);
      continue;
    }
    top.splice(i, 0, k);
    if (top.length > n) spill(top.pop() as LimitKey);
  }
  return { top: top.map((k) => usage(m, k)), rest, keys: q.lkeys.size, held };
}
