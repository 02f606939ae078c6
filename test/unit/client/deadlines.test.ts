// The deadline sweep (src/client/deadlines.ts) against its model, a clock timer per deadline: the
// same callbacks fire, in the same order, at the same times, and an idle sweep holds no timer.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Clock, Timer } from '../../../src/client/clock.js';
import { Deadlines, type Deadline } from '../../../src/client/deadlines.js';

/** A synchronous fake clock: timers fire in (time, creation) order, as Node's do. */
class StepClock implements Clock {
  t = 0;
  private seq = 0;
  private timers: Array<{ at: number; n: number; fn: () => void }> = [];
  now(): number {
    return this.t;
  }
  setTimer(ms: number, fn: () => void): Timer {
    const timer = { at: this.t + Math.max(1, ms), n: this.seq++, fn };
    this.timers.push(timer);
    return { cancel: () => (this.timers = this.timers.filter((x) => x !== timer)) };
  }
  random(): number {
    return 0.5;
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at || a.n - b.n)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = end;
  }
  get pending(): number {
    return this.timers.length;
  }
}

type Op = { kind: 'add'; ms: number } | { kind: 'cancel'; pick: number } | { kind: 'advance'; ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), ms: fc.integer({ min: 0, max: 50 }) }),
  fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 30 }) }),
);

describe('client - deadline sweep', () => {
  it('fires what a timer per deadline fires, in the same order, at the same times', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const swept = new StepClock();
        const model = new StepClock();
        const sweep = new Deadlines(swept);
        const firedSweep: Array<[number, number]> = [];
        const firedModel: Array<[number, number]> = [];
        const live: Array<{ d: Deadline; t: Timer }> = [];
        let n = 0;
        for (const o of ops) {
          if (o.kind === 'add') {
            const id = n++;
            // Whole-ms deadlines: the model's timers are whole ms from now.
            const d = sweep.add(swept.now() + Math.max(1, o.ms), () => firedSweep.push([id, swept.now()]));
            const t = model.setTimer(o.ms, () => firedModel.push([id, model.now()]));
            live.push({ d, t });
          } else if (o.kind === 'cancel' && live.length > 0) {
            const [x] = live.splice(o.pick % live.length, 1);
            sweep.cancel(x!.d);
            x!.t.cancel();
          } else if (o.kind === 'advance') {
            swept.advance(o.ms);
            model.advance(o.ms);
          }
        }
        swept.advance(100);
        model.advance(100);
        expect(firedSweep).toEqual(firedModel);
        expect(sweep.size).toBe(0);
        expect(swept.pending).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('a callback may add and cancel deadlines while the sweep fires', () => {
    const clock = new StepClock();
    const sweep = new Deadlines(clock);
    const fired: string[] = [];
    const later = sweep.add(20, () => fired.push('later'));
    sweep.add(10, () => {
      fired.push('first');
      sweep.cancel(later);
      sweep.add(clock.now(), () => fired.push('due now'));
      sweep.add(clock.now() + 5, () => fired.push('after'));
    });
    clock.advance(10);
    expect(fired).toEqual(['first', 'due now']);
    clock.advance(10);
    expect(fired).toEqual(['first', 'due now', 'after']);
    expect(clock.pending).toBe(0);
  });

  it('cancelling every deadline cancels the timer; clear forgets them all', () => {
    const clock = new StepClock();
    const sweep = new Deadlines(clock);
    const a = sweep.add(10, () => expect.unreachable());
    const b = sweep.add(5, () => expect.unreachable());
    expect(clock.pending).toBe(1);
    sweep.cancel(b);
    sweep.cancel(a);
    sweep.cancel(a); // a second cancel is a no-op
    expect(clock.pending).toBe(0);
    sweep.add(3, () => expect.unreachable());
    sweep.clear();
    clock.advance(50);
    expect(clock.pending).toBe(0);
  });
});
