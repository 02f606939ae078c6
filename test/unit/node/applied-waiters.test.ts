import { describe, expect, it } from 'vitest';
import { AppliedWaiters } from '../../../src/node/applied-waiters.js';
import type { Timers } from '../../../src/node/driver-types.js';

/** Timers fired by hand. */
function manualTimers(): Timers & { fire(): void } {
  const due = new Map<number, () => void>();
  let next = 0;
  return {
    setTimeout: (fn) => {
      due.set(++next, fn);
      return next;
    },
    clearTimeout: (h) => void due.delete(h as number),
    fire: () => {
      for (const [h, fn] of [...due]) {
        due.delete(h);
        fn();
      }
    },
  };
}

describe('AppliedWaiters', () => {
  it('resolves at once when already applied, and on the first notify that reaches the index', async () => {
    const timers = manualTimers();
    const w = new AppliedWaiters(timers);
    await expect(w.wait(5, 5, 100)).resolves.toBeUndefined();
    let done = false;
    const p = w.wait(5, 8, 100).then(() => (done = true));
    w.notify(7);
    await Promise.resolve();
    expect(done).toBe(false);
    w.notify(8);
    await p;
    expect(done).toBe(true);
    timers.fire(); // its deadline was cleared: nothing rejects later
  });

  it('rejects at the deadline, naming the index', async () => {
    const timers = manualTimers();
    const w = new AppliedWaiters(timers);
    const p = w.wait(1, 9, 50);
    timers.fire();
    await expect(p).rejects.toThrow(/did not reach 9 within 50 ms/);
    w.notify(9); // a late notify finds no waiter
  });
});
