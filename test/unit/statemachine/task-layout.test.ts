// A waiting task's memory layout (records.ts, issue 11 target D): a task with headers and no options
// is one object beside its payload (headers on the task, no `x`, no lease fields, its enqueue stamp
// shared with its entry's tasks), and it hashes, snapshots and restores exactly as when its headers
// lived in `x` (hot-path-pin pins the bytes).
import { describe, expect, it } from 'vitest';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { hashTask } from '../../../src/statemachine/digest.js';
import { NO_EXTRA, Task, TaskExtra } from '../../../src/statemachine/records.js';
import type { MachineState } from '../../../src/statemachine/state.js';
import { Driver, WALL0, bytes } from './harness.js';

function stateOf(sm: QueueStateMachine): MachineState {
  return (sm as unknown as { state: MachineState }).state;
}

function taskOf(sm: QueueStateMachine, id: number): Task {
  const t = stateOf(sm).tasks.get(id);
  if (t === undefined) throw new Error(`no task ${id}`);
  return t;
}

function restored(sm: QueueStateMachine): QueueStateMachine {
  const b = new QueueStateMachine();
  b.restore([...sm.snapshot()]);
  return b;
}

describe('statemachine - waiting task layout', () => {
  it('a task with headers only has no extra record and no lease fields until it runs', () => {
    const d = new Driver();
    d.value({ type: 'enqueue', queue: 'q', tasks: [{ payload: bytes(1), headers: { 'raftq-codec': 'raw' } }] });
    d.value({ type: 'enqueue', queue: 'q', tasks: [{ payload: bytes(2), headers: { 'raftq-codec': 'raw' } }] });
    const [a, b] = [taskOf(d.sm, 1), taskOf(d.sm, 2)];
    expect([a.x, a.run, b.x, b.run]).toEqual([undefined, undefined, undefined, undefined]);
    expect(a.headers).toBe(b.headers); // equal small headers are one object
    d.value({ type: 'lease', queue: 'q', workerId: 'w1', max: 1 });
    expect(a.run).toBeDefined();
    expect(a.worker).toBe('w1');
    expect(a.history).toHaveLength(1);
    expect(b.run).toBeUndefined();
    expect(b.worker).toBeUndefined();
  });

  it('headers on the task hash as headers in a default extra record; an extra record alone still counts', () => {
    const st = stateOf(new Driver().sm);
    const q = { name: 'q' } as Task['q'];
    const make = (headers: Record<string, string> | undefined, x: TaskExtra | undefined): string => {
      const t = new Task(1, q, 7, 0, { mono: 10, wall: 20 });
      t.len = 1;
      t.headers = headers;
      t.x = x;
      const h = hashTask(st, t);
      return `${h.a}:${h.b}`;
    };
    const hs = { k: 'v' };
    expect(make(hs, undefined)).toBe(make(hs, new TaskExtra()));
    expect(make(undefined, new TaskExtra())).not.toBe(make(undefined, undefined));
    expect(make(hs, undefined)).not.toBe(make(undefined, undefined));
    expect(Object.isFrozen(NO_EXTRA)).toBe(true);
  });

  it('restores headers-only tasks without an extra record, and every other task with the one it had', () => {
    const d = new Driver();
    const h = { trace: 't1' };
    d.value({
      type: 'enqueue',
      queue: 'q',
      tasks: [
        { payload: bytes(1), headers: h },
        { payload: bytes(2), headers: h, idempotencyKey: 'k' },
        { payload: bytes(3) },
        { payload: bytes(4), headers: h, delayMs: 5000 },
      ],
    });
    d.value({ type: 'lease', queue: 'q', workerId: 'w', max: 1 });
    const copy = restored(d.sm);
    expect(copy.digest()).toBe(d.sm.digest());
    expect([...copy.snapshot()]).toEqual([...d.sm.snapshot()]);
    const shape = (sm: QueueStateMachine, id: number): unknown => {
      const t = taskOf(sm, id);
      return { headers: t.headers, x: t.x !== undefined, run: t.run !== undefined, key: t.x?.key };
    };
    for (const id of [1, 2, 3, 4]) expect(shape(copy, id)).toEqual(shape(d.sm, id));
    // The tasks of one entry share one enqueue stamp, before and after a restore.
    for (const sm of [d.sm, copy]) {
      const stamps = new Set([1, 2, 3, 4].map((id) => taskOf(sm, id).at));
      expect(stamps.size).toBe(1);
      expect(taskOf(sm, 4).enqWall - taskOf(sm, 4).enqMono).toBe(WALL0);
    }
    expect(shape(copy, 1)).toEqual({ headers: h, x: false, run: true, key: undefined });
    expect(shape(copy, 2)).toEqual({ headers: h, x: true, run: false, key: 'k' });
    expect(shape(copy, 3)).toEqual({ headers: undefined, x: false, run: false, key: undefined });
    expect(shape(copy, 4)).toEqual({ headers: h, x: false, run: false, key: undefined });
    // Restored equal headers are one object again, as they were when enqueued (with or without `x`).
    const restoredHeaders = new Set([1, 2, 4].map((id) => taskOf(copy, id).headers));
    expect(restoredHeaders.size).toBe(1);
    expect(taskOf(copy, 1).headers).not.toBe(h); // a copy decoded from the snapshot, not the live object
  });

  it('a restore that loses the headers of a headers-only task is refused (the planted bug)', () => {
    const d = new Driver();
    d.value({ type: 'enqueue', queue: 'q', tasks: [{ payload: bytes(1), headers: { a: 'b' } }] });
    const planted = new QueueStateMachine({ plantRestoreLosesHeaders: true });
    expect(() => planted.restore([...d.sm.snapshot()])).toThrow(/digest mismatch/);
    expect(restored(d.sm).digest()).toBe(d.sm.digest());
  });
});
