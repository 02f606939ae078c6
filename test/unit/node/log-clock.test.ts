import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LogClock, type ClockSource } from '../../../src/node/log-clock.js';

function fakeSource(): ClockSource & { mono: number; wall: number } {
  const s = { mono: 0, wall: 0, monoMs: () => s.mono, wallMs: () => s.wall };
  return s;
}

describe('LogClock', () => {
  it('continues mono from the newest stamp in the log, by local monotonic elapsed time', () => {
    const src = fakeSource();
    src.mono = 5_000; // this process's monotonic clock has its own origin
    src.wall = 1_700_000_000_000;
    const clock = new LogClock(src);
    clock.startLeading({ mono: 90_000, wall: 1_700_000_100_000 });
    src.mono += 250;
    expect(clock.stamp()).toEqual({ mono: 90_250, wall: 1_700_000_100_000 });
  });

  it('a new leader continues from its log as it is, not from stamps of entries since truncated', () => {
    // jepsen-like C6 seed 114: a deposed leader resumed from a pause, stamped entries on its own
    // (faster-running) line before hearing of the new term; they were truncated. Leading again, it
    // must continue from the newest stamp still in its log, or it expires the new leader's leases early.
    const src = fakeSource();
    const clock = new LogClock(src);
    clock.startLeading({ mono: 40_000, wall: 0 });
    src.mono += 10_000;
    expect(clock.stamp().mono).toBe(50_000); // later truncated
    clock.stopLeading();
    clock.observe({ mono: 46_300, wall: 0 }); // the other leader's entries, replacing ours
    src.mono += 500;
    clock.startLeading({ mono: 46_300, wall: 0 });
    src.mono += 100;
    expect(clock.stamp().mono).toBe(46_400);
  });

  it('never goes back on either clock, whatever the wall clock does', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ dMono: fc.nat(1000), wall: fc.integer({ min: 0, max: 1e12 }) }), { maxLength: 50 }),
        (steps) => {
          const src = fakeSource();
          const clock = new LogClock(src);
          clock.startLeading({ mono: 0, wall: 0 });
          let last = { mono: -1, wall: -1 };
          for (const s of steps) {
            src.mono += s.dMono;
            src.wall = s.wall;
            const st = clock.stamp();
            expect(st.mono).toBeGreaterThanOrEqual(last.mono);
            expect(st.wall).toBeGreaterThanOrEqual(last.wall);
            last = st;
          }
        },
      ),
    );
  });

  it('refuses to stamp when not leading', () => {
    const clock = new LogClock(fakeSource());
    expect(() => clock.stamp()).toThrow(/not leading/);
  });
});
