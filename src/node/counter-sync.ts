// Prom-client counters brought up to cumulative totals that other objects keep (the servers' own
// counts), read on each scrape: one increment per change, never backwards.
import type { Counter } from 'prom-client';

/** What each counter (per label set) was already raised to. */
const seen = new WeakMap<Counter<string>, Map<string, number>>();

/** Brings a counter up to a cumulative total kept elsewhere. */
export function syncTo(c: Counter<string>, total: number, labels: Record<string, string> = {}): void {
  let m = seen.get(c);
  if (m === undefined) seen.set(c, (m = new Map()));
  const key = JSON.stringify(labels);
  const before = m.get(key) ?? 0;
  if (!m.has(key)) c.inc(labels, 0);
  if (total > before) c.inc(labels, total - before);
  m.set(key, Math.max(before, total));
}
