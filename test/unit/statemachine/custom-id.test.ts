// Custom task ids (issue 13): `id` names a task in its queue; a second enqueue with it returns the
// first task for as long as that task is retained, in the same batch or later; removing the task
// frees the id. A replica restored from a snapshot answers and hashes alike.
import { describe, expect, it } from 'vitest';
import type { EnqueueItemAnswer, LeasedTask, TaskView } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { Driver, bytes, code } from './harness.js';

type Items = { items: EnqueueItemAnswer[] };
const enq = (tasks: Record<string, unknown>[]) =>
  ({ type: 'enqueue', queue: 'q', tasks: tasks.map((t) => ({ payload: bytes(1), ...t })) }) as never;
const items = (d: Driver, tasks: Record<string, unknown>[], dt = 0) => d.value<Items>(enq(tasks), dt).items;

describe('statemachine - custom task ids', () => {
  it('returns the first task for the same id, in a batch and later, whatever its state', () => {
    const d = new Driver();
    expect(items(d, [{ id: 'invoice-42' }, { id: 'invoice-42' }, { id: 'invoice-43' }])).toEqual([
      { id: '1', deduplicated: false },
      { id: '1', deduplicated: true },
      { id: '2', deduplicated: false },
    ]);
    const [t] = d.value<{ tasks: LeasedTask[] }>({ type: 'lease', queue: 'q', workerId: 'w', max: 1 } as never).tasks;
    d.value({ type: 'ack', items: [{ id: t?.id, token: t?.token }] } as never);
    // Completed and still retained: the id still names it, days later.
    expect(items(d, [{ id: 'invoice-42' }], 3_600_000)).toEqual([{ id: '1', deduplicated: true }]);
    expect(d.read<TaskView>({ type: 'task', id: '1' }).idempotencyKey).toBeUndefined();
    expect(d.read<TaskView>({ type: 'task', id: '1' }).customId).toBe('invoice-42');
    // Ids are per queue, and apart from idempotency keys of the same text.
    expect(
      d.value<Items>({ type: 'enqueue', queue: 'other', tasks: [{ payload: bytes(1), id: 'invoice-42' }] } as never),
    ).toEqual({ items: [{ id: '3', deduplicated: false }] });
    expect(items(d, [{ idempotencyKey: 'invoice-42' }])).toEqual([{ id: '4', deduplicated: false }]);
  });

  it('frees the id once retention removes the task, and only then', () => {
    const d = new Driver();
    d.value({ type: 'createQueue', queue: 'q', settings: { retentionMs: 10_000 } } as never);
    items(d, [{ id: 'job-1' }]);
    const [t] = d.value<{ tasks: LeasedTask[] }>({ type: 'lease', queue: 'q', workerId: 'w', max: 1 } as never).tasks;
    d.value({ type: 'ack', items: [{ id: t?.id, token: t?.token }] } as never);
    expect(items(d, [{ id: 'job-1' }], 9_000)).toEqual([{ id: '1', deduplicated: true }]);
    d.run({ type: 'advanceTime' }, 3_000); // past retention: task 1 is removed
    expect(code(d.sm.read({ type: 'task', id: '1' }).answer)).toBe('NOT_FOUND');
    expect(items(d, [{ id: 'job-1' }])).toEqual([{ id: '2', deduplicated: false }]);
    expect(items(d, [{ id: 'job-1' }])).toEqual([{ id: '2', deduplicated: true }]);
  });

  it('a replica restored from a snapshot answers and hashes the same', () => {
    const d = new Driver();
    d.value({ type: 'createQueue', queue: 'q', settings: { retentionMs: 5_000 } } as never);
    items(d, [{ id: 'a' }, { id: 'b' }]);
    const [t] = d.value<{ tasks: LeasedTask[] }>({ type: 'lease', queue: 'q', workerId: 'w', max: 1 } as never).tasks;
    d.value({ type: 'ack', items: [{ id: t?.id, token: t?.token }] } as never);
    const b = new QueueStateMachine();
    b.restore([...d.sm.snapshot()]);
    expect(b.digest()).toBe(d.sm.digest());
    const copy = new Driver();
    Object.assign(copy, { sm: b, index: d.index, mono: d.mono });
    for (const x of [d, copy]) {
      x.run({ type: 'advanceTime' }, 6_000);
      expect(items(x, [{ id: 'a' }, { id: 'b' }])).toEqual([
        { id: '3', deduplicated: false },
        { id: '2', deduplicated: true },
      ]);
    }
    expect(copy.sm.digest()).toBe(d.sm.digest());
  });

  it('refuses an id with an idempotency key or a dedup mode, naming the field', () => {
    const d = new Driver();
    const a = d.run(enq([{ id: 'x', idempotencyKey: 'k' }]));
    expect(a.ok ? null : a.error.field).toBe('tasks[0].id');
    const b = d.run(enq([{ id: 'x', dedup: { key: 'k', mode: 'active' } }]));
    expect(b.ok ? null : b.error.field).toBe('tasks[0].id');
  });
});
