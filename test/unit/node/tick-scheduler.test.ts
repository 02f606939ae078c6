import { describe, expect, it } from 'vitest';
import { IDLE_TICKS_MAX, TickScheduler } from '../../../src/node/tick-scheduler.js';

/** A manual clock and timer wheel: advance() fires what falls due, in time order. */
class FakeTime {
  now = 0;
  private next = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  readonly clock = { monoMs: (): number => this.now };
  readonly timers_ = {
    setTimeout: (fn: () => void, ms: number): unknown => {
      const id = this.next++;
      this.timers.set(id, { at: this.now + ms, fn });
      return id;
    },
    clearTimeout: (h: unknown): void => void this.timers.delete(h as number),
  };
  armed(): number {
    return this.timers.size;
  }
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let first: [number, { at: number; fn: () => void }] | null = null;
      for (const e of this.timers) if (e[1].at <= end && (first === null || e[1].at < first[1].at)) first = e;
      if (first === null) break;
      this.timers.delete(first[0]);
      this.now = Math.max(this.now, first[1].at);
      first[1].fn();
    }
    this.now = end;
  }
}

function setup(horizon: () => number): { t: FakeTime; s: TickScheduler; calls: { at: number; n: number }[] } {
  const t = new FakeTime();
  const calls: { at: number; n: number }[] = [];
  const s = new TickScheduler({
    clock: t.clock,
    timers: t.timers_,
    tickMs: 50,
    onTicks: (n) => calls.push({ at: t.now, n }),
    horizon,
  });
  s.start();
  return { t, s, calls };
}

describe('tick scheduler', () => {
  it('while busy, one tick every tickMs', () => {
    const { t, calls } = setup(() => 1);
    t.advance(500);
    expect(calls).toEqual(Array.from({ length: 10 }, (_, i) => ({ at: 50 * (i + 1), n: 1 })));
  });

  it('while idle, one wake-up for the ticks up to the next event', () => {
    let h = 1;
    const { t, s, calls } = setup(() => h);
    t.advance(50);
    h = 8;
    s.replan();
    t.advance(399);
    expect(calls).toEqual([{ at: 50, n: 1 }]);
    t.advance(1);
    expect(calls).toEqual([
      { at: 50, n: 1 },
      { at: 450, n: 8 },
    ]);
    expect(t.armed()).toBe(1);
  });

  it('never sleeps past IDLE_TICKS_MAX', () => {
    const { t, calls } = setup(() => 1_000);
    t.advance(50 * IDLE_TICKS_MAX * 3);
    expect(calls.map((c) => c.n)).toEqual([1, IDLE_TICKS_MAX, IDLE_TICKS_MAX]);
  });

  it('before a message, credits the whole ticks gone by, never the planned one', () => {
    let h = 10;
    const { t, s, calls } = setup(() => h);
    t.advance(50); // the first tick: plans 10 more, due at 550
    t.advance(170); // 220: three whole ticks went by
    s.catchUp();
    expect(calls).toEqual([
      { at: 50, n: 1 },
      { at: 220, n: 3 },
    ]);
    s.catchUp(); // nothing new
    t.advance(310); // 530: 9 credited so far, the 10th is the timer's
    s.catchUp();
    expect(calls.map((c) => c.n)).toEqual([1, 3, 6]);
    t.advance(20);
    expect(calls[3]).toEqual({ at: 550, n: 1 });
    // A message that resets the core's countdown: the sleep grows from the credited phase.
    h = 12;
    s.replan();
    t.advance(12 * 50 - 1);
    expect(calls.length).toBe(4);
    t.advance(1);
    expect(calls[4]).toEqual({ at: 1150, n: 12 });
  });

  it('wakes sooner when work arrives during a sleep', () => {
    let h = 10;
    const { t, s, calls } = setup(() => h);
    t.advance(50);
    t.advance(120); // 170: two ticks went by
    h = 1;
    s.replan(); // credits the two, then plans one tick from the credited phase (200)
    expect(calls).toEqual([
      { at: 50, n: 1 },
      { at: 170, n: 2 },
    ]);
    t.advance(30);
    expect(calls[2]).toEqual({ at: 200, n: 1 });
  });

  it('a stalled loop credits only the ticks it planned (a late timer, not a burst of events)', () => {
    const { t, calls } = setup(() => 4);
    t.advance(50);
    // The timer for 250 runs only at 5,000 (the loop was stalled): 4 ticks, then 4 more from there.
    t.now = 5_000; // time passes with no timer run
    t.advance(0);
    expect(calls).toEqual([
      { at: 50, n: 1 },
      { at: 5_000, n: 4 },
    ]);
    t.advance(200);
    expect(calls[2]).toEqual({ at: 5_200, n: 4 });
  });

  it('stop() cancels the timer', () => {
    const { t, s, calls } = setup(() => 1);
    s.stop();
    t.advance(1_000);
    expect(calls).toEqual([]);
    expect(t.armed()).toBe(0);
  });
});
