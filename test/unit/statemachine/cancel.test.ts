// Cancelling a running task (docs/workflows.md): cancel marks a leased task, extends answer
// CANCELLED, and whichever way its attempt ends the task ends `cancelled`.
import { describe, expect, it } from 'vitest';
import type { Command, LeasedTask, TaskView } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { Driver, bytes, code } from './harness.js';

type Leased = { tasks: LeasedTask[] };
const enq = (queue: string, tasks: Record<string, unknown>[]) =>
  ({ type: 'enqueue', queue, tasks: tasks.map((t) => ({ payload: bytes(1), ...t })) }) as never;
const lease = (queue: string, max = 10, extra: Record<string, unknown> = {}) =>
  ({ type: 'lease', queue, workerId: 'w1', max, ...extra }) as never;

function leasedOne(d: Driver, extra: Record<string, unknown> = {}): LeasedTask {
  d.value(enq('q', [{ maxAttempts: 5 }]));
  return (d.value<Leased>(lease('q', 1, extra)).tasks as [LeasedTask])[0];
}

function requestCancel(d: Driver, t: LeasedTask): void {
  // Without `running` a leased task is refused as before (logs from before workflows replay unchanged).
  expect(d.run({ type: 'cancel', id: t.id })).toMatchObject({ ok: false, error: { reason: 'task_leased' } });
  expect(d.value({ type: 'cancel', id: t.id, running: true })).toEqual({ state: 'leased', cancelRequested: true });
  const v = d.read<TaskView>({ type: 'task', id: t.id });
  expect(v.state).toBe('leased');
  expect(v.cancelRequested).toBe(true);
}

describe('statemachine - cancelling a running task', () => {
  it('cancel of a leased task marks it; a repeat changes nothing; extends answer CANCELLED without extending', () => {
    const d = new Driver();
    const t = leasedOne(d, { leaseMs: 10_000 });
    requestCancel(d, t);
    expect(d.value({ type: 'cancel', id: t.id, running: true })).toEqual({ state: 'leased', cancelRequested: true });
    const deadline = d.read<TaskView>({ type: 'task', id: t.id }).lease?.deadlineMono;
    const ext = d.run({ type: 'extend', id: t.id, token: t.token, leaseMs: 60_000 });
    expect(code(ext)).toBe('CANCELLED');
    expect(!ext.ok && ext.error.reason).toBe('cancelled');
    expect(d.read<TaskView>({ type: 'task', id: t.id }).lease?.deadlineMono).toBe(deadline);
  });

  it('an ack of a cancel-requested task ends it cancelled, keeping the result; a repeat gets the same answer', () => {
    const d = new Driver();
    const t = leasedOne(d);
    requestCancel(d, t);
    const ack: Command = { type: 'ack', items: [{ id: t.id, token: t.token, result: bytes(7) }] };
    const first = d.value<{ items: unknown[] }>(ack);
    expect(first.items[0]).toEqual({ ok: true, value: { state: 'cancelled' } });
    const v = d.read<TaskView>({ type: 'task', id: t.id });
    expect([v.state, v.reason, v.result]).toEqual(['cancelled', 'cancelled', bytes(7)]);
    expect(v.history.at(-1)?.end).toBe('acked');
    expect(d.value<{ items: unknown[] }>(ack).items[0]).toEqual({ ok: true, value: { state: 'cancelled' } });
    expect(d.read<{ totals: { cancelled: number; completed: number } }>({ type: 'stats', queue: 'q' }).totals).toEqual(
      expect.objectContaining({ cancelled: 1, completed: 0 }),
    );
  });

  it('a nack or a release of a cancel-requested task ends it cancelled, not retried, not dead-lettered', () => {
    for (const end of ['nack', 'release'] as const) {
      const d = new Driver();
      d.value({ type: 'createQueue', queue: 'q', settings: { deadLetterQueue: 'dlq' } });
      const t = leasedOne(d);
      requestCancel(d, t);
      const cmd =
        end === 'nack'
          ? { type: 'nack' as const, id: t.id, token: t.token, error: 'stopped', dead: true }
          : { type: 'release' as const, id: t.id, token: t.token };
      expect(d.value(cmd)).toEqual({ state: 'cancelled' });
      const v = d.read<TaskView>({ type: 'task', id: t.id });
      expect([v.state, v.attempts, v.deadLetterId]).toEqual(['cancelled', 0, undefined]);
      expect(v.history.at(-1)?.end).toBe(end === 'nack' ? 'nacked' : 'released');
      // The dead-letter queue is made on the first dead letter: it never was.
      expect(code(d.sm.read({ type: 'stats', queue: 'dlq' }).answer)).toBe('NOT_FOUND');
      expect(d.value<Leased>(lease('q')).tasks).toHaveLength(0);
    }
  });

  it('the lease of a cancel-requested task running out ends it cancelled (no delivery counted)', () => {
    const d = new Driver();
    const t = leasedOne(d, { leaseMs: 5000 });
    requestCancel(d, t);
    d.entry([], 5000);
    const v = d.read<TaskView>({ type: 'task', id: t.id });
    expect([v.state, v.deliveries, v.history.at(-1)?.end]).toEqual(['cancelled', 0, 'lease_expired']);
    expect(d.value<Leased>(lease('q')).tasks).toHaveLength(0);
  });

  it('a cancel request is in the digest and survives a snapshot', () => {
    const a = new Driver();
    const b = new Driver();
    for (const d of [a, b]) leasedOne(d, { leaseMs: 5000 });
    a.value({ type: 'cancel', id: '1', running: true });
    b.run({ type: 'advanceTime' });
    expect(a.sm.digest()).not.toBe(b.sm.digest());
    const r = new QueueStateMachine();
    r.restore([...a.sm.snapshot()]);
    expect(r.digest()).toBe(a.sm.digest());
    const v = r.read({ type: 'task', id: '1' });
    expect(v.answer.ok && (v.answer.value as TaskView).cancelRequested).toBe(true);
  });
});
