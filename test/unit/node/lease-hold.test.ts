// The long-poll lease hold (src/node/lease-hold.ts): held while the state machine's hasReady says a
// lease would grant nothing, rechecked after every apply: woken by a task it can take, by concurrency
// freed, by a resume, by a rate's tokens refilling (no task event), by step-down, and ended by
// maxHoldMs. Fake timers and clock.
import { asLogIndex } from '../../../src/protocol/ids.js';
import { describe, expect, it } from 'vitest';
import type { Timers } from '../../../src/node/driver-types.js';
import { HeldLeases, hasLeasable, holdForWork, RECHECK_MS, type HoldDeps } from '../../../src/node/lease-hold.js';
import { encodeEnvelope, type Command, type SessionCommand } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';

class Harness {
  readonly sm = new QueueStateMachine();
  now = 1_000;
  private index = 0;
  private timers: Array<{ at: number; fn: () => void }> = [];
  private readonly applied = new Set<() => void>();
  private readonly stepDowns = new Set<() => void>();
  readonly held = new HeldLeases();

  readonly deps: HoldDeps = {
    sm: this.sm,
    clock: { monoMs: () => this.now, wallMs: () => this.now },
    timers: {
      setTimeout: (fn: () => void, ms: number) => {
        const t = { at: this.now + ms, fn };
        this.timers.push(t);
        return t;
      },
      clearTimeout: (h: unknown) => void (this.timers = this.timers.filter((t) => t !== h)),
    } satisfies Timers,
    afterApply: (fn) => {
      this.applied.add(fn);
      return () => this.applied.delete(fn);
    },
    onStepDown: (cb) => {
      this.stepDowns.add(cb);
      return () => this.stepDowns.delete(cb);
    },
    onPlainWork: (queue, wake) => this.held.add(queue, wake),
  };

  apply(...cmds: Command[]): void {
    this.applyUnseen(...cmds);
    for (const s of [...this.applied]) s();
  }

  /** Applies without the driver's recheck after it. */
  applyUnseen(...cmds: Command[]): void {
    const sc: SessionCommand[] = cmds.map((cmd) => ({ session: null, seq: 0, cmd }));
    this.sm.apply(asLogIndex(++this.index), encodeEnvelope({ v: 1, mono: this.now, wall: this.now, cmds: sc }));
  }

  /** Moves time on, running due timers in order. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.now = due.at;
      due.fn();
    }
    this.now = end;
  }

  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Starts a hold of a lease on `q`; `ended()` says whether it has returned. */
  hold(q: string, maxHoldMs: number, max = 1): { ended: () => boolean; proposed: () => boolean } {
    let done = false;
    let proposed = 0;
    const lease: SessionCommand = { session: null, seq: 0, cmd: { type: 'lease', queue: q, workerId: 'w', max } };
    const propose = (): void => void (proposed += 1);
    void holdForWork(this.deps, [lease], this.now, { deadline: this.now + 60_000, maxHoldMs }, propose).then(() => {
      expect(proposed).toBe(1);
      done = true;
    });
    return { ended: () => done, proposed: () => proposed === 1 };
  }
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('lease hold', () => {
  it('hasLeasable is the state machine hasReady: ready, not paused, below the queue concurrency', () => {
    const h = new Harness();
    expect(hasLeasable(h.sm, 'q')).toBe(false);
    h.apply({ type: 'enqueue', queue: 'q', tasks: [{ payload: new Uint8Array([1]) }] });
    expect(hasLeasable(h.sm, 'q')).toBe(true);
    h.apply({ type: 'pauseQueue', queue: 'q' });
    expect(hasLeasable(h.sm, 'q')).toBe(false);
  });

  it('a task enqueued wakes the hold; nothing does until maxHoldMs', async () => {
    const h = new Harness();
    h.apply({ type: 'createQueue', queue: 'q' });
    const a = h.hold('q', 5_000);
    h.advance(3_500);
    await flush();
    expect(a.ended()).toBe(false);
    h.apply({ type: 'enqueue', queue: 'q', tasks: [{ payload: new Uint8Array([1]) }] });
    await flush();
    expect(a.ended()).toBe(true);
    expect(h.pendingTimers).toBe(0);
    const b = h.hold('empty', 5_000);
    h.advance(4_999);
    await flush();
    expect(b.ended()).toBe(false);
    h.advance(1);
    await flush();
    expect(b.ended()).toBe(true);
  });

  it('a paused queue holds even with waiting tasks, and a resume (no task event) wakes it', async () => {
    const h = new Harness();
    h.apply(
      { type: 'enqueue', queue: 'q', tasks: [{ payload: new Uint8Array([1]) }] },
      { type: 'pauseQueue', queue: 'q' },
    );
    const a = h.hold('q', 20_000);
    h.apply({ type: 'enqueue', queue: 'q', tasks: [{ payload: new Uint8Array([2]) }] });
    h.advance(RECHECK_MS * 3);
    await flush();
    expect(a.ended()).toBe(false);
    h.apply({ type: 'resumeQueue', queue: 'q' });
    await flush();
    expect(a.ended()).toBe(true);
  });

  it('a hold whose queue waits for no apply is rechecked every RECHECK_MS (a backstop)', async () => {
    const h = new Harness();
    h.apply({ type: 'enqueue', queue: 'q', tasks: [{ payload: new Uint8Array([1]) }] });
    h.apply({ type: 'pauseQueue', queue: 'q' });
    const a = h.hold('q', 20_000);
    h.applyUnseen({ type: 'resumeQueue', queue: 'q' });
    h.advance(RECHECK_MS - 1);
    await flush();
    expect(a.ended()).toBe(false);
    h.advance(1);
    await flush();
    expect(a.ended()).toBe(true);
  });

  it("a rated queue's hold wakes when an applied entry's stamp refills its tokens (no task event)", async () => {
    const h = new Harness();
    h.apply(
      { type: 'createQueue', queue: 'r', settings: { rate: { limit: 1, intervalMs: 1_000, burst: 1 } } } as Command,
      { type: 'enqueue', queue: 'r', tasks: [{ payload: new Uint8Array([1]) }, { payload: new Uint8Array([2]) }] },
      { type: 'lease', queue: 'r', workerId: 'w', max: 2, leaseMs: 60_000 },
    );
    expect(hasLeasable(h.sm, 'r')).toBe(false);
    const a = h.hold('r', 20_000);
    h.now += 500;
    h.apply({ type: 'advanceTime' } as Command);
    await flush();
    expect(a.ended()).toBe(false);
    h.now += 500;
    h.apply({ type: 'advanceTime' } as Command);
    await flush();
    // Woken by the apply, long before RECHECK_MS or maxHoldMs.
    expect(a.ended()).toBe(true);
  });

  it('a queue at its concurrency holds until an ack frees it', async () => {
    const h = new Harness();
    h.apply(
      { type: 'createQueue', queue: 'q', settings: { concurrency: 1 } },
      { type: 'enqueue', queue: 'q', tasks: [{ payload: new Uint8Array([1]) }, { payload: new Uint8Array([2]) }] },
      { type: 'lease', queue: 'q', workerId: 'w', max: 1, leaseMs: 60_000 },
    );
    const leased = h.sm.read({ type: 'list', queue: 'q', state: 'leased' }).answer;
    const task = (
      (leased.ok ? leased.value : { items: [] }) as { items: Array<{ id: string; lease: { token: string } }> }
    ).items[0];
    expect(hasLeasable(h.sm, 'q')).toBe(false);
    const a = h.hold('q', 20_000);
    await flush();
    expect(a.ended()).toBe(false);
    h.apply({ type: 'ack', items: [{ id: task?.id ?? '', token: task?.lease.token ?? '' }] });
    await flush();
    expect(a.ended()).toBe(true);
  });

  it('plain enqueues wake as many holds as they have plain tasks, synchronously, as the entry is packed', () => {
    const h = new Harness();
    const holds = [h.hold('q', 20_000, 5), h.hold('q', 20_000), h.hold('q', 20_000), h.hold('q', 20_000)];
    const task = { payload: new Uint8Array([1]) };
    const enqueue = (tasks: object[]): SessionCommand => ({
      session: null,
      seq: 0,
      cmd: { type: 'enqueue', queue: 'q', tasks } as Command,
    });
    // Delayed, keyed and grouped tasks, and other queues, wake nobody.
    h.held.wake(
      [
        enqueue([
          { ...task, delayMs: 10 },
          { ...task, key: 'k' },
          { ...task, group: 'g' },
        ]),
        { session: null, seq: 0, cmd: { type: 'enqueue', queue: 'other', tasks: [task] } },
      ],
      h.sm,
    );
    expect(holds.map((x) => x.proposed())).toEqual([false, false, false, false]);
    // Three plain tasks over two commands of one entry: the three oldest holds propose now, in this
    // turn (no await), so their leases join the same entry; the fourth stays held.
    h.held.wake([enqueue([task]), enqueue([task, task])], h.sm);
    expect(holds.map((x) => x.proposed())).toEqual([true, true, true, false]);
    h.held.wake([enqueue([task])], h.sm);
    expect(holds.map((x) => x.proposed())).toEqual([true, true, true, true]);
  });

  it('a paused queue or one at its concurrency is not woken by a plain enqueue', () => {
    const h = new Harness();
    h.apply({ type: 'createQueue', queue: 'p', settings: { paused: true } } as Command);
    const a = h.hold('p', 20_000);
    const plain = { payload: new Uint8Array([1]) };
    h.held.wake([{ session: null, seq: 0, cmd: { type: 'enqueue', queue: 'p', tasks: [plain] } }], h.sm);
    expect(a.proposed()).toBe(false);
    h.apply({ type: 'resumeQueue', queue: 'p' } as Command);
    h.held.wake([{ session: null, seq: 0, cmd: { type: 'enqueue', queue: 'p', tasks: [plain] } }], h.sm);
    expect(a.proposed()).toBe(true);
  });
});
