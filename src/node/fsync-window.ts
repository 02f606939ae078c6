// The fsync latency of the last minute, for the console and the Status reply (issue 15): each node's
// own durable group-commit writes (the raftq_fsync_seconds histogram counts them since start, which
// says little about now). A ring of the most recent writes, bounded; percentiles over those inside
// the window.
import type { FsyncSummary } from '../rpc/executor.js';

export class FsyncWindow {
  private readonly at: Float64Array;
  private readonly ms: Float64Array;
  private next = 0;
  private size = 0;

  constructor(
    private readonly windowMs = 60_000,
    capacity = 2048,
  ) {
    this.at = new Float64Array(capacity);
    this.ms = new Float64Array(capacity);
  }

  /** One durable write that took `ms`, finished at local monotonic `now`. */
  record(ms: number, now: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.at[this.next] = now;
    this.ms[this.next] = ms;
    this.next = (this.next + 1) % this.at.length;
    this.size = Math.min(this.size + 1, this.at.length);
  }

  /** Over the writes of the last `windowMs` (at most the ring's capacity of them); null if none. */
  summary(now: number): FsyncSummary | null {
    const recent: number[] = [];
    for (let i = 0; i < this.size; i++) {
      if (now - (this.at[i] as number) <= this.windowMs) recent.push(this.ms[i] as number);
    }
    if (recent.length === 0) return null;
    recent.sort((a, b) => a - b);
    const q = (p: number): number =>
      round(recent[Math.min(recent.length - 1, Math.ceil(p * recent.length) - 1)] as number);
    return {
      writes: recent.length,
      p50Ms: q(0.5),
      p99Ms: q(0.99),
      maxMs: round(recent[recent.length - 1] as number),
      windowMs: this.windowMs,
    };
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
