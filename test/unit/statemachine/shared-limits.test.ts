// Shared limits (issue 13): one named limit, concurrency and rate in total and per key, counted
// across the queues that reference it; typed errors; the read; snapshot round trip.
import { describe, expect, it } from 'vitest';
import type { Answer, LeasedTask, SharedLimitView } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { Driver, bytes, code } from './harness.js';

type Leased = { tasks: LeasedTask[] };
const enq = (queue: string, tasks: Record<string, unknown>[]) =>
  ({ type: 'enqueue', queue, tasks: tasks.map((t) => ({ payload: bytes(1), ...t })) }) as never;
const lease = (queue: string, max = 10) => ({ type: 'lease', queue, workerId: 'w1', max }) as never;
const create = (queue: string, settings: Record<string, unknown> = {}) =>
  ({ type: 'createQueue', queue, settings }) as never;
const setLimit = (name: string, spec: Record<string, unknown>) => ({ type: 'setSharedLimit', name, ...spec }) as never;
const ack = (t: LeasedTask) => ({ type: 'ack', items: [{ id: t.id, token: t.token }] }) as never;

function field(a: Answer): string | undefined {
  return a.ok ? undefined : a.error.field;
}

function limits(d: Driver): SharedLimitView[] {
  return d.read<SharedLimitView[]>({ type: 'sharedLimits' });
}

function clone(sm: QueueStateMachine): QueueStateMachine {
  const c = new QueueStateMachine();
  c.restore([...sm.snapshot()]);
  return c;
}

describe('statemachine - shared limits', () => {
  it('counts concurrency in cost units across every queue that references the limit', () => {
    const d = new Driver();
    expect(d.value(setLimit('api', { concurrency: 3 }))).toEqual({ created: true });
    d.value(create('a', { sharedLimit: 'api' }));
    d.value(create('b', { sharedLimit: 'api' }));
    d.value(create('c'));
    d.value(enq('a', [{ cost: 2 }, { cost: 2 }]));
    d.value(enq('b', [{}, {}, {}]));
    d.value(enq('c', [{}, {}, {}]));
    const a1 = d.value<Leased>(lease('a')).tasks;
    expect(a1).toHaveLength(1); // 2 of 3 units; the next cost-2 task would pass 3
    expect(d.value<Leased>(lease('b')).tasks).toHaveLength(1); // the last unit
    expect(d.value<Leased>(lease('b')).tasks).toHaveLength(0);
    expect(d.value<Leased>(lease('c')).tasks).toHaveLength(3); // not under the limit
    expect(limits(d)[0]).toMatchObject({ name: 'api', queues: ['a', 'b'], leased: 2, inUse: 3, concurrency: 3 });
    d.value(ack(a1[0] as LeasedTask));
    expect(d.sm.hasReady('b')).toBe(true);
    expect(d.value<Leased>(lease('b')).tasks).toHaveLength(2);
    expect(limits(d)[0]).toMatchObject({ inUse: 3 });
  });

  it('per key across queues: a lease skips a key the other queue holds, and takes it once freed', () => {
    const d = new Driver();
    d.value(setLimit('api', { keyLimits: { concurrency: 1 } }));
    d.value(create('a', { sharedLimit: 'api' }));
    d.value(create('b', { sharedLimit: 'api' }));
    d.value(enq('a', [{ key: 'acme' }]));
    d.value(enq('b', [{ key: 'acme' }, { key: 'globex' }]));
    const a = d.value<Leased>(lease('a')).tasks;
    expect(a.map((t) => t.key)).toEqual(['acme']);
    expect(d.value<Leased>(lease('b')).tasks.map((t) => t.key)).toEqual(['globex']);
    expect(d.sm.hasReady('b')).toBe(false);
    d.value(ack(a[0] as LeasedTask));
    expect(d.value<Leased>(lease('b')).tasks.map((t) => t.key)).toEqual(['acme']);
  });

  it('rates: one bucket for the limit and one per key, shared by its queues, on the log clock', () => {
    const d = new Driver();
    d.value(
      setLimit('api', {
        rate: { limit: 4, intervalMs: 1000, burst: 4 },
        keyLimits: { rate: { limit: 1, intervalMs: 1000, burst: 2 } },
      }),
    );
    d.value(create('a', { sharedLimit: 'api' }));
    d.value(create('b', { sharedLimit: 'api' }));
    d.value(enq('a', [{ key: 'x' }, { key: 'x' }, { key: 'x' }]));
    d.value(enq('b', [{ key: 'x' }, { key: 'y' }, { key: 'y' }, { key: 'y' }, { key: 'z' }]));
    expect(d.value<Leased>(lease('a')).tasks.map((t) => t.key)).toEqual(['x', 'x']); // x's burst is 2
    const b = d.value<Leased>(lease('b')).tasks.map((t) => t.key);
    expect(b).toHaveLength(2); // the limit's bucket (4) is empty now
    expect(b).not.toContain('x'); // x's bucket is the one a emptied
    expect(d.value<Leased>(lease('b')).tasks).toHaveLength(0);
    const later = d.value<Leased>(lease('b'), 250).tasks.map((t) => t.key); // 1 token of the limit in 250 ms
    expect(later).toHaveLength(1);
    expect(later).not.toContain('x'); // x has a quarter of one
    expect(d.value<Leased>(lease('a')).tasks).toHaveLength(0);
    expect(d.value<Leased>(lease('a'), 750).tasks.map((t) => t.key)).toEqual(['x']); // x's token, 1 s on
  });

  it('refuses with typed errors naming the field', () => {
    const d = new Driver();
    const noLimit = d.run(create('a', { sharedLimit: 'nope' }));
    expect([code(noLimit), field(noLimit)]).toEqual(['NOT_FOUND', 'settings.sharedLimit']);
    d.value(create('a'));
    const cfg = d.run({ type: 'configureQueue', queue: 'a', settings: { sharedLimit: 'nope' } } as never);
    expect([code(cfg), field(cfg)]).toEqual(['NOT_FOUND', 'settings.sharedLimit']);
    for (const [spec, f] of [
      [{ concurrency: 0 }, 'concurrency'],
      [{ rate: { limit: 0, intervalMs: 1000 } }, 'rate.limit'],
      [{ keyLimits: { rate: { limit: 1, intervalMs: 0 } } }, 'keyLimits.rate.intervalMs'],
      [{ keyLimits: 7 }, 'keyLimits'],
    ] as const) {
      const a = d.run(setLimit('api', spec));
      expect([code(a), field(a)], JSON.stringify(spec)).toEqual(['INVALID_ARGUMENT', f]);
    }
    const badName = d.run(setLimit('no spaces', {}));
    expect([code(badName), field(badName)]).toEqual(['INVALID_ARGUMENT', 'name']);
    d.value(setLimit('api', { concurrency: 1 }));
    d.value({ type: 'configureQueue', queue: 'a', settings: { sharedLimit: 'api' } } as never);
    const inUse = d.run({ type: 'deleteSharedLimit', name: 'api' } as never);
    expect([code(inUse), field(inUse)]).toEqual(['FAILED_PRECONDITION', 'name']);
    const gone = d.run({ type: 'deleteSharedLimit', name: 'other' } as never);
    expect([code(gone), field(gone)]).toEqual(['NOT_FOUND', 'name']);
    d.value({ type: 'configureQueue', queue: 'a', settings: { sharedLimit: null } } as never);
    d.value({ type: 'deleteSharedLimit', name: 'api' } as never);
    expect(limits(d)).toEqual([]);
  });

  it('a queue joining or leaving takes its leased units with it', () => {
    const d = new Driver();
    d.value(setLimit('api', { concurrency: 2, keyLimits: { concurrency: 1 } }));
    d.value(create('a', { sharedLimit: 'api' }));
    d.value(create('b'));
    d.value(enq('b', [{ key: 'k' }, { key: 'k' }]));
    const held = d.value<Leased>(lease('b', 1)).tasks;
    d.value({ type: 'configureQueue', queue: 'b', settings: { sharedLimit: 'api' } } as never);
    expect(limits(d)[0]).toMatchObject({ queues: ['a', 'b'], leased: 1, inUse: 1 });
    d.value(enq('a', [{ key: 'k' }, { key: 'j' }]));
    expect(d.value<Leased>(lease('a')).tasks.map((t) => t.key)).toEqual(['j']); // k is held by b's lease
    d.value({ type: 'configureQueue', queue: 'b', settings: { sharedLimit: null } } as never);
    expect(limits(d)[0]).toMatchObject({ queues: ['a'], leased: 1, inUse: 1 });
    expect(d.value<Leased>(lease('a')).tasks.map((t) => t.key)).toEqual(['k']); // b's lease left with b
    d.value(ack(held[0] as LeasedTask));
  });

  it('a queue joining with more of a key leased than the limit allows holds that key back elsewhere', () => {
    // Regression (fast-check counterexample): joining added the units but left the same key in the
    // limit's other queues eligible.
    const d = new Driver();
    d.value(setLimit('api', { keyLimits: { concurrency: 2 } }));
    d.value(create('b', { sharedLimit: 'api' }));
    d.value(create('c'));
    d.value(enq('b', [{ key: 'k0' }]));
    d.value(enq('c', [{ key: 'k0' }, { key: 'k0' }, { key: 'k0' }]));
    expect(d.value<Leased>(lease('c')).tasks).toHaveLength(3);
    expect(d.sm.hasReady('b')).toBe(true);
    d.value({ type: 'configureQueue', queue: 'c', settings: { sharedLimit: 'api' } } as never);
    expect(d.sm.hasReady('b')).toBe(false);
    expect(d.value<Leased>(lease('b')).tasks).toHaveLength(0);
  });

  it('a deleted queue leaves its limit (which may then be deleted)', () => {
    const d = new Driver();
    d.value(setLimit('api', { concurrency: 2 }));
    d.value(create('a', { sharedLimit: 'api' }));
    d.value(enq('a', [{ key: 'k' }, {}]));
    d.value<Leased>(lease('a'));
    d.value({ type: 'deleteQueue', queue: 'a', force: true } as never);
    for (let i = 0; i < 5 && limits(d)[0]?.queues.length !== 0; i++) d.value({ type: 'advanceTime' } as never, 1000);
    expect(limits(d)[0]).toMatchObject({ queues: [], leased: 0, inUse: 0 });
    d.value({ type: 'deleteSharedLimit', name: 'api' } as never);
  });

  it('changing the limit re-places the keys of its queues at once', () => {
    const d = new Driver();
    d.value(setLimit('api', { keyLimits: { concurrency: 1 } }));
    d.value(create('a', { sharedLimit: 'api' }));
    d.value(enq('a', [{ key: 'k' }, { key: 'k' }]));
    expect(d.value<Leased>(lease('a')).tasks).toHaveLength(1);
    expect(d.value(setLimit('api', { keyLimits: { concurrency: 2 } }))).toEqual({ created: false });
    expect(d.sm.hasReady('a')).toBe(true);
    expect(d.value<Leased>(lease('a')).tasks).toHaveLength(1);
  });

  it('survives a snapshot: same digest, same answers after', () => {
    const d = new Driver();
    d.value(
      setLimit('api', {
        concurrency: 3,
        rate: { limit: 5, intervalMs: 1000 },
        keyLimits: { concurrency: 1, rate: { limit: 1, intervalMs: 1000 } },
      }),
    );
    d.value(create('a', { sharedLimit: 'api' }));
    d.value(create('b', { sharedLimit: 'api' }));
    d.value(enq('a', [{ key: 'x' }, { key: 'y' }, { key: 'x' }]));
    d.value(enq('b', [{ key: 'x' }, { key: 'z' }]));
    d.value<Leased>(lease('a'));
    const r = clone(d.sm);
    expect(r.digest()).toBe(d.sm.digest());
    expect(r.read({ type: 'sharedLimits' }).answer).toEqual(d.sm.read({ type: 'sharedLimits' }).answer);
    const e = new Driver();
    (e as { sm: QueueStateMachine }).sm = r;
    e.index = d.index;
    e.mono = d.mono;
    for (const [cmd, dt] of [
      [lease('b'), 0],
      [lease('b'), 600],
      [lease('a'), 1000],
      [{ type: 'deleteSharedLimit', name: 'api' } as never, 0],
    ] as const) {
      expect(e.run(cmd, dt)).toEqual(d.run(cmd, dt));
      expect(e.sm.digest()).toBe(d.sm.digest());
    }
  });
});
