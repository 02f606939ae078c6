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
