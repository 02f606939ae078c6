// Records of shared limits (shared-limits.ts): kept apart so the state can hold them without an
// import cycle.
import type { SharedLimitSpec } from '../protocol/index.js';

/**
 * Usage of a shared limit, in total (name null) or of one limit key across its queues. Replicated:
 * tokens, tokensAt (hashed into the limits digest lane). Derived from the tasks: inUse, leased.
 */
export class SharedKey {
  inUse = 0;
  leased = 0;
  /** Bucket content in cost units × intervalMs as of tokensAt; -1: full. */
  tokens = -1;
  tokensAt = 0;
  /** Its hash as currently added to the limits digest sum. */
  a = 0;
  b = 0;

  constructor(readonly name: string | null) {}
}

export class SharedLimit {
  readonly total = new SharedKey(null);
  /** Keys with tasks leased under this limit, or a bucket still refilling. */
  readonly keys = new Map<string, SharedKey>();
  /** The queues that reference it, sorted by name (a fixed order for re-placing their keys). */
  queues: string[] = [];
  /** Hash of (name, spec) as added to the limits digest sum. */
  a = 0;
  b = 0;

  constructor(
    readonly name: string,
    public spec: SharedLimitSpec,
  ) {}
}
