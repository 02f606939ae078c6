// Crash on bugs, never on input (architecture issue §1): a failed assertion inside the state
// machine propagates out of apply (no INTERNAL answer); invalid input still gets an error answer.
// Also the cheap probes for the driver and metrics: hasReady, counters, taskCounts.
import { asLogIndex } from '../../../src/protocol/ids.js';
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../../../src/protocol/assert.js';
import type { LeasedTask } from '../../../src/protocol/index.js';
import { encodeEnvelope } from '../../../src/protocol/index.js';
import { S_DELAYED, S_LEASED } from '../../../src/statemachine/records.js';
import { Driver, WALL0, code } from './harness.js';

type Leased = { tasks: LeasedTask[] };
const enq = (queue: string, n: number, extra: Record<string, unknown> = {}) =>
  ({
    type: 'enqueue',
    queue,
    tasks: Array.from({ length: n }, () => ({ payload: new Uint8Array([1]), ...extra })),
  }) as never;
const lease = (queue: string, max = 10, extra: Record<string, unknown> = {}) =>
  ({ type: 'lease', queue, workerId: 'w1', max, ...extra }) as never;

describe('statemachine - assertions propagate', () => {
  it('a task whose state disagrees with its heap makes lease throw an AssertionError', () => {
    const d = new Driver();
    d.value(enq('q', 1));
    const t = d.sm.state.tasks.get(1);
    if (t === undefined) throw new Error('task 1 missing');
    t.state = S_DELAYED; // corrupt: still in the ready heap
    expect(() => d.entry([lease('q')])).toThrow(AssertionError);
    expect(d.sm.counters.internalErrors).toBe(0);
  });

  it('a leased task missing from the lease heap fails the placement postcondition on ack', () => {
    const d = new Driver();
    d.value(enq('q', 1));
    const [lt] = d.value<Leased>(lease('q')).tasks as [LeasedTask];
    const t = d.sm.state.tasks.get(1);
    if (t === undefined) throw new Error('task 1 missing');
    d.sm.state.leaseHeap.remove(t); // corrupt: leased but in no heap
    expect(t.state).toBe(S_LEASED);
    expect(() => d.run({ type: 'ack', items: [{ id: lt.id, token: lt.token }] } as never)).toThrow(AssertionError);
  });

  it('a gap in the applied index is a bug, a stale index is a counted no-op', () => {
    const d = new Driver();
    d.value(enq('q', 1));
    const data = encodeEnvelope({ v: 1, mono: d.mono, wall: WALL0 + d.mono, cmds: [] });
    d.sm.apply(asLogIndex(1), data);
    expect(d.sm.counters.stale).toBe(1);
    expect(() => d.sm.apply(asLogIndex(d.index + 2), data)).toThrow(AssertionError);
  });

  it('invalid input still gets an error answer, and the machine goes on', () => {
    const d = new Driver();
    expect(code(d.run({ type: 'enqueue', queue: '', tasks: [] } as never))).toBe('INVALID_ARGUMENT');
    expect(code(d.run({ type: 'nope' } as never))).toBe('INVALID_ARGUMENT');
    expect(code(d.run({ type: 'ack', items: [{ id: 'x', token: '1' }] } as never))).toBe('INVALID_ARGUMENT');
    expect(code(d.run({ type: 'cancel', id: '99' } as never))).toBe('NOT_FOUND');
    expect(d.sm.apply(asLogIndex(d.index + 1), new Uint8Array([0xc1, 2, 3]))).toEqual([]);
    d.index++;
    expect(d.sm.counters.undecodable).toBe(1);
    expect(d.sm.counters.internalErrors).toBe(0);
    expect(d.value<{ items: unknown[] }>(enq('q', 1)).items).toHaveLength(1);
  });
});

describe('statemachine - probes for the driver and metrics', () => {
  it('hasReady follows ready tasks, pause and concurrency', () => {
    const d = new Driver();
    expect(d.sm.hasReady('q')).toBe(false);
    d.value(enq('q', 2, { delayMs: 1000 }));
    expect(d.sm.hasReady('q')).toBe(false);
    d.run({ type: 'advanceTime' } as never, 1000);
    expect(d.sm.hasReady('q')).toBe(true);
    d.value({ type: 'pauseQueue', queue: 'q' } as never);
    expect(d.sm.hasReady('q')).toBe(false);
    d.value({ type: 'configureQueue', queue: 'q', settings: { paused: false, concurrency: 1 } } as never);
    expect(d.sm.hasReady('q')).toBe(true);
    d.value(lease('q', 1));
    expect(d.sm.hasReady('q')).toBe(false); // one ready, but concurrency 1 is used
  });

  it('counters total enqueues, completions, nacks, lease expiries and dead tasks; taskCounts per state', () => {
    const d = new Driver();
    d.value({ type: 'createQueue', queue: 'q', settings: { deadLetterQueue: 'dlq', maxDeliveries: 1 } } as never);
    d.value(enq('q', 4));
    const [a, b, c] = d.value<Leased>(lease('q', 3, { leaseMs: 1000 })).tasks as [LeasedTask, LeasedTask, LeasedTask];
    d.value({ type: 'ack', items: [{ id: a.id, token: a.token }] } as never);
    d.value({ type: 'nack', id: b.id, token: b.token, delayMs: 0 } as never);
    d.value({ type: 'nack', id: c.id, token: c.token, dead: true } as never);
    const [e] = d.value<Leased>(lease('q', 1, { leaseMs: 1000 })).tasks as [LeasedTask];
    expect(e).toBeDefined();
    d.run({ type: 'advanceTime' } as never, 1000); // e's lease expires: maxDeliveries 1 → dead
    const { enqueued, completed, nacked, leasesExpired, deadLettered } = d.sm.counters;
    expect({ enqueued, completed, nacked, leasesExpired, deadLettered }).toEqual({
      enqueued: 6, // 4 + two dead-letter copies
      completed: 1,
      nacked: 2,
      leasesExpired: 1,
      deadLettered: 2,
    });
    const counts = d.sm.taskCounts().filter((r) => r.count > 0);
    expect(counts).toEqual([
      { queue: 'q', state: 'waiting', count: 1 },
      { queue: 'q', state: 'completed', count: 1 },
      { queue: 'q', state: 'dead', count: 2 },
      { queue: 'dlq', state: 'waiting', count: 2 },
    ]);
    expect(d.sm.taskCounts()).toHaveLength(16); // every state of both queues
  });
});

describe('statemachine - caps by count', () => {
  it('refuses enqueues beyond tasksRetainedMax, terminal tasks included, naming the limit', () => {
    const d = new Driver({ limits: { tasksRetainedMax: 3 } });
    d.value(enq('q', 2));
    const [t] = d.value<Leased>(lease('q', 1)).tasks as [LeasedTask];
    d.value({ type: 'ack', items: [{ id: t.id, token: t.token }] } as never);
    const a = d.run(enq('q', 2));
    expect(a.ok ? null : a.error).toMatchObject({ code: 'RESOURCE_EXHAUSTED', limit: 'tasksRetainedMax' });
    expect(code(d.run(enq('q', 1)))).toBe('OK'); // 1 completed + 2 pending = 3
  });

  it('refuses new idempotency keys beyond idempotencyKeysMax; tombstones count; duplicates pass', () => {
    const d = new Driver({ limits: { idempotencyKeysMax: 2 } });
    d.value(enq('q', 1, { idempotencyKey: 'a' }));
    d.value({ type: 'cancel', id: '1' } as never); // the key outlives the task
    d.value(enq('q', 1, { idempotencyKey: 'b' }));
    const a = d.run(enq('q', 1, { idempotencyKey: 'c' }));
    expect(a.ok ? null : a.error).toMatchObject({ code: 'RESOURCE_EXHAUSTED', limit: 'idempotencyKeysMax' });
    expect(code(d.run(enq('q', 1, { idempotencyKey: 'a' })))).toBe('OK'); // deduplicated
    expect(code(d.run(enq('q', 1)))).toBe('OK'); // no key
  });
});
