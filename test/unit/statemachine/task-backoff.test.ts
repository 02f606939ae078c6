// Per-task backoff (issue 13): a task's own backoff fields override the queue's, field by field; a
// nack's explicit delayMs overrides both; a restored replica keeps the task's backoff.
import { describe, expect, it } from 'vitest';
import type { LeasedTask, NackAnswer } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { Driver, bytes } from './harness.js';

const QUEUE_BACKOFF = { type: 'fixed', delayMs: 1000, maxDelayMs: 60_000, jitterPct: 0 };

function setup(): Driver {
  const d = new Driver();
  d.value({ type: 'createQueue', queue: 'q', settings: { backoff: QUEUE_BACKOFF, maxAttempts: 10 } } as never);
  return d;
}

/** Leases task `id` (waiting), nacks it: the delay the state machine chose. */
function failOnce(d: Driver, id: string, delayMs?: number): number {
  d.run({ type: 'promote', id } as never);
  const { tasks } = d.value<{ tasks: LeasedTask[] }>({ type: 'lease', queue: 'q', workerId: 'w', max: 100 } as never);
  const t = tasks.find((x) => x.id === id) as LeasedTask;
  for (const other of tasks) if (other !== t) d.value({ type: 'release', id: other.id, token: other.token } as never);
  const a = d.value<NackAnswer>({
    type: 'nack',
    id,
    token: t.token,
    error: 'x',
    ...(delayMs === undefined ? {} : { delayMs }),
  } as never);
  return (a.runAtMono ?? d.mono) - d.mono;
}

describe('statemachine - per-task backoff', () => {
  it("overrides the queue's backoff field by field; a nack's delayMs overrides both", () => {
    const d = setup();
    d.value({
      type: 'enqueue',
      queue: 'q',
      tasks: [
        { payload: bytes(1), backoff: { delayMs: 5000 } },
        { payload: bytes(2) },
        { payload: bytes(3), backoff: { type: 'exponential', delayMs: 100, maxDelayMs: 250 } },
      ],
    } as never);
    expect(failOnce(d, '1')).toBe(5000); // fixed (the queue's type), its own delay
    expect(failOnce(d, '2')).toBe(1000); // the queue's
    expect([failOnce(d, '3'), failOnce(d, '3'), failOnce(d, '3')]).toEqual([100, 200, 250]);
    expect(failOnce(d, '1', 7)).toBe(7);
  });

  it('a replica restored from a snapshot keeps the task backoff and hashes the same', () => {
    const d = setup();
    d.value({ type: 'enqueue', queue: 'q', tasks: [{ payload: bytes(1), backoff: { delayMs: 4321 } }] } as never);
    const b = new QueueStateMachine();
    b.restore([...d.sm.snapshot()]);
    expect(b.digest()).toBe(d.sm.digest());
    const copy = new Driver();
    Object.assign(copy, { sm: b, index: d.index, mono: d.mono });
    expect(failOnce(copy, '1')).toBe(4321);
    expect(failOnce(d, '1')).toBe(4321);
    expect(copy.sm.digest()).toBe(d.sm.digest());
  });
});
