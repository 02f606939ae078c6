import { asLogIndex } from '../../../src/protocol/ids.js';
import { describe, expect, it } from 'vitest';
import type { KeyPage, LeasedTask } from '../../../src/protocol/index.js';
import { encodeEnvelope } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { Driver, WALL0, bytes, code } from './harness.js';

type Leased = { tasks: LeasedTask[] };
const enq = (queue: string, tasks: Record<string, unknown>[]) =>
  ({ type: 'enqueue', queue, tasks: tasks.map((t) => ({ payload: bytes(1), ...t })) }) as never;
const lease = (queue: string, max = 10, extra: Record<string, unknown> = {}) =>
  ({ type: 'lease', queue, workerId: 'w1', max, ...extra }) as never;
const create = (settings: Record<string, unknown>) => ({ type: 'createQueue', queue: 'q', settings }) as never;
const keysOf = (ts: LeasedTask[]) => ts.map((t) => t.key ?? '');

function clone(sm: QueueStateMachine): QueueStateMachine {
  const c = new QueueStateMachine();
  c.restore([...sm.snapshot()]);
  return c;
}

describe('statemachine - limit keys: concurrency in cost units', () => {
  it('caps each key at its concurrency in cost units, overrides per key, others go on', () => {
    const d = new Driver();
    d.value(create({ keyLimits: { concurrency: 3 }, keys: { b: { concurrency: 1 }, c: { concurrency: null } } }));
    d.value(enq('q', [{ key: 'a', cost: 2 }, { key: 'a', cost: 2 }, { key: 'a' }, { key: 'b' }, { key: 'b' }, {}]));
    const { tasks } = d.value<Leased>(lease('q', 10));
    // a: 2 then 2 more would pass 3; its head (the second cost-2 task) waits, and so does the rest of a
    const units = (k: string) => tasks.filter((t) => (t.key ?? '') === k).reduce((n, t) => n + (t.cost ?? 1), 0);
    expect(units('a')).toBe(2);
    expect(units('b')).toBe(1);
    expect(units('')).toBe(1); // unkeyed tasks have no per-key limit
    // An override's null lifts the default: c runs 4 units at once.
    d.value(
      enq('q', [
        { key: 'c', cost: 2 },
        { key: 'c', cost: 2 },
      ]),
    );
    expect(units('c') + d.value<Leased>(lease('q', 10)).tasks.reduce((n, t) => n + (t.cost ?? 1), 0)).toBe(4);
    const page = d.read<KeyPage>({ type: 'keys', queue: 'q' });
    expect(page.items.find((k) => k.key === 'b')).toMatchObject({ leased: 1, inUse: 1, waiting: 1, concurrency: 1 });
  });

  it('frees units on ack, nack, release and lease expiry', () => {
    const d = new Driver();
    d.value(create({ keyLimits: { concurrency: 1 } }));
    d.value(enq('q', [{ key: 'a' }, { key: 'a' }, { key: 'a' }, { key: 'a' }, { key: 'a' }]));
    const one = () => d.value<Leased>(lease('q', 10, { leaseMs: 1000 })).tasks;
    let [t] = one() as [LeasedTask];
    expect(one()).toEqual([]);
    d.value({ type: 'ack', items: [{ id: t.id, token: t.token }] });
    [t] = one() as [LeasedTask];
    d.value({ type: 'nack', id: t.id, token: t.token, delayMs: 0 });
    [t] = one() as [LeasedTask];
    d.value({ type: 'release', id: t.id, token: t.token });
    [t] = one() as [LeasedTask];
    expect(one()).toEqual([]);
    d.run({ type: 'advanceTime' }, 1000); // the lease expires
    expect(one()).toHaveLength(1);
  });

  it('an oversized task runs alone; the queue concurrency counts cost units', () => {
    const d = new Driver();
    d.value(create({ concurrency: 4, keyLimits: { concurrency: 2 } }));
    d.value(enq('q', [{ key: 'a', cost: 5 }, { key: 'a' }, { key: 'b', cost: 3 }, { key: 'c' }]));
    const { tasks } = d.value<Leased>(lease('q', 10));
    const total = tasks.reduce((n, t) => n + (t.cost ?? 1), 0);
    // a's cost-5 task exceeds both limits but runs alone when nothing else is in use
    expect(tasks[0]?.cost).toBe(5);
    expect(total).toBe(5);
    expect(d.sm.hasReady('q')).toBe(false);
  });
});

describe('statemachine - limit keys: fair scheduling', () => {
  it('rotates between keys, so a key with ten tasks is not starved by one with a thousand', () => {
    const d = new Driver();
    d.value(
      enq(
        'q',
        Array.from({ length: 1000 }, () => ({ key: 'big' })),
      ),
    );
    d.value(
      enq(
        'q',
        Array.from({ length: 10 }, () => ({ key: 'small' })),
      ),
    );
    const first = keysOf(d.value<Leased>(lease('q', 20)).tasks);
    expect(first.filter((k) => k === 'small')).toHaveLength(10);
  });

  it('shares leases by weight and by cost', () => {
    const d = new Driver();
    d.value(create({ keys: { a: { weight: 3 } } }));
    d.value(
      enq(
        'q',
        Array.from({ length: 400 }, (_, i) => ({ key: i % 2 === 0 ? 'a' : 'b' })),
      ),
    );
    const got = keysOf(d.value<Leased>(lease('q', 100)).tasks);
    expect(got.filter((k) => k === 'a').length).toBe(75);
    const e = new Driver();
    e.value(
      enq(
        'q',
        Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? { key: 'a', cost: 4 } : { key: 'b' })),
      ),
    );
    const byCost = keysOf(e.value<Leased>(lease('q', 50)).tasks);
    expect(byCost.filter((k) => k === 'a').length).toBe(10); // 40 units each
  });

  it('orders by priority within a key, never across keys', () => {
    const d = new Driver();
    d.value(enq('q', [{ key: 'a' }, { key: 'a', priority: 9 }, { key: 'b' }, { key: 'b', priority: 1 }]));
    const got = d.value<Leased>(lease('q', 4)).tasks.map((t) => t.id);
    expect(got).toEqual(['2', '4', '1', '3']);
  });
});

describe('statemachine - limit keys: rate limits', () => {
  it('a key without tokens is skipped, and nextDue reports its refill', () => {
    const d = new Driver();
    d.value(create({ keyLimits: { rate: { limit: 2, intervalMs: 1000 } } }));
    d.value(enq('q', [...Array.from({ length: 6 }, () => ({ key: 'a' })), { key: 'b' }]));
    expect(keysOf(d.value<Leased>(lease('q', 10)).tasks).sort()).toEqual(['a', 'a', 'b']);
    expect(d.sm.hasReady('q')).toBe(false);
    const due = d.sm.nextDue().mono as number;
    expect(due).toBe(d.mono + 500); // one token per 500 ms
    d.run({ type: 'advanceTime' }, due - d.mono);
    expect(d.sm.hasReady('q')).toBe(true);
    // Woken and eligible again: no wake-up is pending; what is due next is the first lease's expiry.
    expect(d.sm.state.wake.size).toBe(0);
    expect(d.sm.nextDue().mono).toBe(1000 + 30_000);
    expect(keysOf(d.value<Leased>(lease('q', 10)).tasks)).toEqual(['a']);
  });

  it('a queue rate holds the whole queue; an idle queue has nothing due', () => {
    const d = new Driver();
    d.value(create({ rate: { limit: 1, intervalMs: 1000, burst: 2 } }));
    expect(d.sm.nextDue().mono).toBe(null);
    d.value(enq('q', [{}, {}, {}]));
    expect(d.value<Leased>(lease('q', 10)).tasks).toHaveLength(2);
    expect(d.value<Leased>(lease('q', 10)).tasks).toHaveLength(0);
    expect(d.sm.nextDue().mono).toBe(d.mono + 1000);
    d.run({ type: 'advanceTime' }, 1000);
    expect(d.value<Leased>(lease('q', 10)).tasks).toHaveLength(1);
  });

  it('a release with holdMs holds the key back without counting an attempt', () => {
    const d = new Driver();
    d.value(enq('q', [{ key: 'a' }, { key: 'a' }, { key: 'b' }]));
    const [t] = d.value<Leased>(lease('q', 1)).tasks as [LeasedTask];
    expect(t.key).toBe('a');
    expect(code(d.run({ type: 'release', id: t.id, token: t.token, holdMs: 2000 } as never))).toBe('OK');
    expect(keysOf(d.value<Leased>(lease('q', 10)).tasks)).toEqual(['b']);
    expect(d.sm.nextDue().mono).toBe(d.mono + 2000);
    expect(d.read<{ attempts: number; state: string }>({ type: 'task', id: t.id })).toMatchObject({
      attempts: 0,
      state: 'waiting',
    });
    d.run({ type: 'advanceTime' }, 2000);
    expect(keysOf(d.value<Leased>(lease('q', 10)).tasks)).toEqual(['a', 'a']);
  });
});

describe('statemachine - limit keys: snapshots', () => {
  it('a replica restored while keys wait for tokens and holds wakes them at the same entries', () => {
    const d = new Driver();
    d.value(create({ keyLimits: { rate: { limit: 1, intervalMs: 700 } }, rate: { limit: 5, intervalMs: 1000 } }));
    d.value(
      enq(
        'q',
        Array.from({ length: 12 }, (_, i) => ({ key: `k${i % 3}`, cost: 1 + (i % 2) })),
      ),
    );
    const [t] = d.value<Leased>(lease('q', 1)).tasks as [LeasedTask];
    d.value({ type: 'release', id: t.id, token: t.token, holdMs: 900 } as never);
    d.value<Leased>(lease('q', 10));
    const r = clone(d.sm);
    expect(r.digest()).toBe(d.sm.digest());
    expect(r.nextDue()).toEqual(d.sm.nextDue());
    for (let i = 0; i < 12; i++) {
      const data = [{ type: 'lease', queue: 'q', workerId: 'w', max: 3 }];
      const answers = d.entry(data as never, 250);
      const index = d.index;
      const again = r.apply(
        asLogIndex(index),
        encodeEnvelope({
          v: 1,
          mono: d.mono,
          wall: WALL0 + d.mono,
          cmds: answers.map((a, j) => ({ session: a.session, seq: a.seq, cmd: data[j] as never })),
        }),
      );
      expect(again).toEqual(answers);
      expect(r.digest()).toBe(d.sm.digest());
    }
    expect(d.read<KeyPage>({ type: 'keys', queue: 'q' }).items.map((k) => k.key)).toEqual(['', 'k0', 'k1', 'k2']);
  });
});

describe('statemachine - backpressure: maxWaiting', () => {
  it('refuses an enqueue past the queue or key bound, naming the limit, all or nothing', () => {
    const d = new Driver();
    d.value(create({ maxWaiting: 3, keyLimits: { maxWaiting: 2 } }));
    d.value(enq('q', [{ key: 'a' }, { key: 'a' }]));
    const a = d.run(enq('q', [{ key: 'b' }, { key: 'a' }]));
    expect(a.ok ? null : a.error).toMatchObject({
      code: 'RESOURCE_EXHAUSTED',
      limit: 'keyMaxWaiting',
      retryAfterMs: 1000,
    });
    d.value(enq('q', [{ key: 'b' }]));
    const b = d.run(enq('q', [{}]));
    expect(b.ok ? null : b.error).toMatchObject({ code: 'RESOURCE_EXHAUSTED', limit: 'maxWaiting' });
    expect(d.read<{ counts: { waiting: number } }>({ type: 'stats', queue: 'q' }).counts.waiting).toBe(3);
    // A lease frees a waiting place.
    d.value<Leased>(lease('q', 1));
    expect(code(d.run(enq('q', [{}])))).toBe('OK');
  });

  it('dropOldest dead-letters the oldest waiting tasks (reason overflow) to make room', () => {
    const d = new Driver();
    d.value(create({ maxWaiting: 3, overflow: 'dropOldest', deadLetterQueue: 'dlq', keys: { a: { maxWaiting: 1 } } }));
    d.value(enq('q', [{ key: 'a' }, {}, { key: 'b' }]));
    d.value(enq('q', [{ key: 'a' }])); // a is at its bound: task 1 goes
    expect(d.read<{ state: string; reason: string }>({ type: 'task', id: '1' })).toMatchObject({
      state: 'dead',
      reason: 'overflow',
    });
    d.value(enq('q', [{ key: 'c' }])); // the queue is at its bound: the oldest waiting (task 2) goes
    expect(d.read<{ state: string }>({ type: 'task', id: '2' }).state).toBe('dead');
    expect(d.read<{ counts: { waiting: number } }>({ type: 'stats', queue: 'q' }).counts.waiting).toBe(3);
    expect(d.read<{ counts: { waiting: number } }>({ type: 'stats', queue: 'dlq' }).counts.waiting).toBe(2);
  });
});
