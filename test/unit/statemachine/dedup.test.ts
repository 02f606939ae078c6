import { describe, expect, it } from 'vitest';
import type { EnqueueItemAnswer, LeasedTask, TaskView } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { Driver, bytes, code } from './harness.js';

type Items = { items: EnqueueItemAnswer[] };
const enq = (tasks: Record<string, unknown>[]) =>
  ({ type: 'enqueue', queue: 'q', tasks: tasks.map((t) => ({ payload: bytes(1), ...t })) }) as never;
const one = (d: Driver, spec: Record<string, unknown>, dt = 0) => d.value<Items>(enq([spec]), dt).items[0];
const task = (d: Driver, id: string) => d.read<TaskView>({ type: 'task', id });

describe('statemachine - dedup modes', () => {
  it('active: a duplicate while the first is not terminal, a new task once it is', () => {
    const d = new Driver();
    const dedup = { key: 'inv-42', mode: 'active' };
    expect(one(d, { dedup })).toEqual({ id: '1', deduplicated: false });
    expect(one(d, { dedup }, 1000)).toEqual({ id: '1', deduplicated: true });
    const [t] = d.value<{ tasks: LeasedTask[] }>({ type: 'lease', queue: 'q', workerId: 'w', max: 1 } as never).tasks;
    expect(one(d, { dedup })).toEqual({ id: '1', deduplicated: true });
    d.value({ type: 'ack', items: [{ id: t?.id, token: t?.token }] } as never);
    expect(one(d, { dedup })).toEqual({ id: '2', deduplicated: false });
    expect(task(d, '2').idempotencyKey).toBeUndefined();
  });

  it('throttle: one task per key per window from the first enqueue', () => {
    const d = new Driver();
    const dedup = { key: 'digest', mode: 'throttle', windowMs: 5000 };
    expect(one(d, { dedup })).toEqual({ id: '1', deduplicated: false });
    expect(one(d, { dedup }, 4999)).toEqual({ id: '1', deduplicated: true, throttled: true });
    expect(one(d, { dedup }, 1)).toEqual({ id: '2', deduplicated: false });
  });

  it('debounce: keep-last replaces payload and delay of the waiting task; a running one gets a follow-up', () => {
    const d = new Driver();
    const dedup = { key: 'search-index', mode: 'debounce', windowMs: 3000 };
    one(d, { dedup, delayMs: 1000, payload: bytes(1) });
    expect(one(d, { dedup, delayMs: 1000, payload: bytes(2) }, 800)).toEqual({
      id: '1',
      deduplicated: true,
      replaced: true,
    });
    const t1 = task(d, '1');
    expect(t1.payload).toEqual(bytes(2));
    expect(t1.runAt).toEqual({ clock: 'mono', at: d.mono + 1000 });
    d.run({ type: 'advanceTime' }, 1000);
    d.value({ type: 'lease', queue: 'q', workerId: 'w', max: 1 } as never);
    expect(one(d, { dedup, payload: bytes(3) })).toEqual({ id: '2', deduplicated: false });
    expect(one(d, { dedup, payload: bytes(4) })).toEqual({ id: '2', deduplicated: true, replaced: true });
    expect(task(d, '2').payload).toEqual(bytes(4));
  });

  // Regression (fast-check seed -1177467416, CI 2026-12-02): dropOldest picked the task a debounce in
  // the same enqueue was replacing, then replaced a dead task (an invariant failure).
  it('dropOldest never drops the task a duplicate in the same enqueue names', () => {
    const d = new Driver();
    const dedup = { key: 'k1', mode: 'debounce', windowMs: 5000 };
    const active = { key: 'k0', mode: 'active' };
    one(d, { dedup });
    d.value({ type: 'configureQueue', queue: 'q', settings: { maxWaiting: 2, overflow: 'dropOldest' } } as never);
    const full = d.run(enq([{ dedup, payload: bytes(2) }, { payload: bytes(3) }, { payload: bytes(4) }]));
    expect(full.ok ? null : [full.error.code, full.error.limit]).toEqual(['RESOURCE_EXHAUSTED', 'maxWaiting']);
    expect(task(d, '1').state).toBe('waiting');
    one(d, { payload: bytes(3) });
    const made = d.value<Items>(enq([{ dedup, payload: bytes(5) }, { payload: bytes(6) }]));
    expect(made.items).toEqual([
      { id: '1', deduplicated: true, replaced: true },
      { id: '3', deduplicated: false },
    ]);
    expect([task(d, '1').state, task(d, '1').payload, task(d, '2').state]).toEqual(['waiting', bytes(5), 'dead']);
    one(d, { dedup: active }, 0); // 3 waiting: 1 dropped (the oldest)
    const dup = d.value<Items>(enq([{ dedup: active }, { payload: bytes(7) }]));
    expect(dup.items).toEqual([
      { id: '4', deduplicated: true },
      { id: '5', deduplicated: false },
    ]);
    expect([task(d, '3').state, task(d, '4').state]).toEqual(['dead', 'waiting']);
    expect(d.sm.counters.internalErrors).toBe(0);
  });

  it('validates the mode and refuses dedup with idempotencyKey, naming the field', () => {
    const d = new Driver();
    const bad = d.run(enq([{ dedup: { key: 'k', mode: 'sometimes' } }]));
    expect(bad.ok ? null : bad.error.field).toBe('tasks[0].dedup.mode');
    const both = d.run(enq([{ idempotencyKey: 'x', dedup: { key: 'k', mode: 'active' } }]));
    expect(both.ok ? null : both.error.field).toBe('tasks[0].dedup');
    expect(code(d.run(enq([{ dedup: { key: 'k', mode: 'active', windowMs: 0 } }])))).toBe('INVALID_ARGUMENT');
  });

  it('dedup keys survive snapshot and restore', () => {
    const d = new Driver();
    one(d, { dedup: { key: 'a', mode: 'active' } });
    one(d, { dedup: { key: 't', mode: 'throttle' } });
    const r = new QueueStateMachine();
    r.restore([...d.sm.snapshot()]);
    expect(r.digest()).toBe(d.sm.digest());
  });
});
