// The two log clocks of docs/design.md §2, as the leader stamps new entries.
// `mono` continues from the newest stamp in the log and advances with this node's *monotonic*
// clock, so wall-clock steps cannot shorten a lease; `wall` is the wall clock clamped never to go back.

import { decodeEnvelope } from '../protocol/codec.js';
import type { MemoryStorage } from '../raft/storage.js';
import { EntryType } from '../raft/types.js';

export interface ClockSource {
  /** Monotonic milliseconds (process.hrtime / performance.now in production; simulated in tests). */
  monoMs(): number;
  /** Wall-clock milliseconds since the epoch (Date.now in production). */
  wallMs(): number;
}

export const systemClock: ClockSource = {
  monoMs: () => performance.now(),
  wallMs: () => Date.now(),
};

export interface Stamps {
  mono: number;
  wall: number;
}

export class LogClock {
  private newestMono = 0;
  private newestWall = 0;
  /** Local monotonic reading that corresponds to `base` while leading; null while not leading. */
  private anchor: { local: number; base: number } | null = null;

  constructor(private readonly source: ClockSource) {}

  /** Every stamped entry appended to the local log passes through here (leader or follower). */
  observe(stamps: Stamps): void {
    if (stamps.mono > this.newestMono) this.newestMono = stamps.mono;
    if (stamps.wall > this.newestWall) this.newestWall = stamps.wall;
  }

  /**
   * On becoming leader: continue from `newest`, the newest stamp in the log as it is NOW. Not from
   * the highest stamp this node ever saw: entries since truncated may carry stamps from a deposed
   * leader whose mono ran ahead of the leader that granted the current leases, and continuing from
   * those would expire those leases early (jepsen-like C6 seed 114: mono jumped 2.3 s ahead).
   */
  startLeading(newest: Stamps): void {
    this.newestMono = newest.mono;
    this.newestWall = newest.wall;
    this.anchor = { local: this.source.monoMs(), base: this.newestMono };
  }

  stopLeading(): void {
    this.anchor = null;
  }

  /** Stamps for a new entry; only a leader stamps. Never decreasing on either clock. */
  stamp(): Stamps {
    if (this.anchor === null) throw new Error('LogClock.stamp called while not leading');
    const elapsed = Math.max(0, this.source.monoMs() - this.anchor.local);
    const mono = Math.max(this.newestMono, Math.floor(this.anchor.base + elapsed));
    const wall = Math.max(this.newestWall, Math.floor(this.source.wallMs()));
    this.newestMono = mono;
    this.newestWall = wall;
    return { mono, wall };
  }

  /** What stamp() would give now, without issuing it (for due-time checks). */
  peek(): Stamps {
    if (this.anchor === null) return { mono: this.newestMono, wall: this.newestWall };
    const elapsed = Math.max(0, this.source.monoMs() - this.anchor.local);
    return {
      mono: Math.max(this.newestMono, Math.floor(this.anchor.base + elapsed)),
      wall: Math.max(this.newestWall, Math.floor(this.source.wallMs())),
    };
  }
}

/**
 * A clock with an adjustable wall offset and monotonic rate, for fault-injection tests only
 * (RAFTQ_TEST_CLOCK): wall jumps must not shorten leases; mono drift beyond the margin must be caught.
 */
export class SkewedClock implements ClockSource {
  wallOffsetMs = 0;
  monoRate = 1;
  private baseReal: number;
  private baseMono: number;

  constructor(private readonly inner: ClockSource) {
    this.baseReal = inner.monoMs();
    this.baseMono = this.baseReal;
  }

  setWallOffset(ms: number): void {
    if (Number.isFinite(ms)) this.wallOffsetMs = ms;
  }

  setMonoRate(rate: number): void {
    if (!Number.isFinite(rate) || rate <= 0) return;
    // Re-anchor so the monotonic reading stays continuous across the rate change.
    this.baseMono = this.monoMs();
    this.baseReal = this.inner.monoMs();
    this.monoRate = rate;
  }

  monoMs(): number {
    return this.baseMono + (this.inner.monoMs() - this.baseReal) * this.monoRate;
  }

  wallMs(): number {
    return this.inner.wallMs() + this.wallOffsetMs;
  }
}

/**
 * Where a new leader continues the lease clock: the newest stamp in its log as it is now — what it
 * applied (`sm`'s), and the entries above `applied`, including uncommitted ones (never from truncated
 * entries; never evicted ones, which are all applied).
 */
export function newestStamp(
  storage: MemoryStorage,
  applied: number,
  sm: { lastMono(): number; lastWall(): number },
): Stamps {
  const newest = { mono: sm.lastMono(), wall: sm.lastWall() };
  for (let i = Math.max(storage.firstIndex(), applied + 1); i <= storage.lastIndex(); i++) {
    const [ent] = storage.entries(i, i + 1, Number.MAX_SAFE_INTEGER);
    if (ent && ent.type === EntryType.Normal) {
      const env = decodeEnvelope(ent.data);
      if (env) {
        newest.mono = Math.max(newest.mono, env.mono);
        newest.wall = Math.max(newest.wall, env.wall);
      }
    }
  }
  return newest;
}
