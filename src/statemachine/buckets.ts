// Token buckets on the log's mono clock (docs/design.md §3, issue 13): a limit key's, a queue's, a
// shared limit's. Content is in cost units × intervalMs so refills stay exact integers; tokens -1
// stands for a full bucket.

import type { RateLimit } from '../protocol/index.js';
import { assert } from '../protocol/assert.js';

/** A bucket's replicated fields: content as of tokensAt (-1: full). */
export interface Bucket {
  tokens: number;
  tokensAt: number;
}

export function capOf(r: RateLimit): number {
  return (r.burst ?? r.limit) * r.intervalMs;
}

/** Bucket content (cost units × intervalMs) at `now`. Pure: the bucket is only written when charged. */
export function available(k: Bucket, r: RateLimit, now: number): number {
  const cap = capOf(r);
  if (k.tokens < 0) return cap;
  const elapsed = now - k.tokensAt;
  // Past the time to fill from empty the bucket is full (and the product below stays exact).
  if (elapsed >= Math.ceil(cap / r.limit)) return cap;
  return Math.min(cap, k.tokens + elapsed * r.limit);
}

/** What one task takes from a bucket: its cost, at most the burst (else it could never run). */
function need(r: RateLimit, c: number): number {
  return Math.min(c, r.burst ?? r.limit) * r.intervalMs;
}

/** 0 if the bucket holds `c` now, else the mono instant it will. */
export function refillAt(k: Bucket, r: RateLimit, c: number, now: number): number {
  const have = available(k, r, now);
  const n = need(r, c);
  return have >= n ? 0 : now + Math.ceil((n - have) / r.limit);
}

/** Take `c` from the bucket (inside touchKey). */
export function take(k: Bucket, r: RateLimit, c: number, now: number): void {
  const have = available(k, r, now);
  assert(have >= need(r, c), 'a lease is charged only with tokens in the bucket');
  k.tokens = have - need(r, c);
  k.tokensAt = now;
}

/** Room for `c` more units: within the limit, or nothing in use (an oversized task runs alone). */
export function fits(inUse: number, c: number, limit: number | null): boolean {
  return limit === null || inUse === 0 || inUse + c <= limit;
}
