// The console's per-member fsync latency: percentiles over the durable writes of the last window,
// bounded by the ring's capacity; writes that left the window no longer count.
import { describe, expect, it } from 'vitest';
import { FsyncWindow } from '../../../src/node/fsync-window.js';

describe('FsyncWindow', () => {
  it('summarises the writes inside the window, and nothing once they left it', () => {
    const w = new FsyncWindow(60_000, 2048);
    expect(w.summary(0)).toBeNull();
    for (let i = 1; i <= 100; i++) w.record(i, 1_000); // 1..100 ms
    expect(w.summary(1_000)).toEqual({ writes: 100, p50Ms: 50, p99Ms: 99, maxMs: 100, windowMs: 60_000 });
    w.record(0.25, 30_000);
    expect(w.summary(61_001)).toEqual({ writes: 1, p50Ms: 0.25, p99Ms: 0.25, maxMs: 0.25, windowMs: 60_000 });
    expect(w.summary(90_001)).toBeNull();
  });

  it('keeps only the most recent writes up to its capacity, and ignores nonsense', () => {
    const w = new FsyncWindow(60_000, 4);
    for (const ms of [500, 1, 2, 3, 4]) w.record(ms, 10);
    w.record(Number.NaN, 10);
    w.record(-1, 10);
    expect(w.summary(10)).toMatchObject({ writes: 4, p50Ms: 2, maxMs: 4 });
  });
});
