// Admin work in capped steps (architecture issue §5): purge, delete and pause / resume visit at
// most adminTasksPerEntryMax tasks per entry and continue at the next entries from a cursor in
// state. A replica restored mid-job continues exactly as the original.
import { asLogIndex } from '../../../src/protocol/ids.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { QueueStats } from '../../../src/protocol/index.js';
import { decodeMultiple, encode, encodeEnvelope } from '../../../src/protocol/index.js';
import { digestOf } from '../../../src/statemachine/digest.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { Driver, WALL0, code } from './harness.js';
import { buildLog, logArb, replay } from './logs.js';

const CAP = { limits: { adminTasksPerEntryMax: 3 } };
const enq = (queue: string, n: number, extra: Record<string, unknown> = {}) =>
  ({
    type: 'enqueue',
    queue,
    tasks: Array.from({ length: n }, () => ({ payload: new Uint8Array([1]), ...extra })),
  }) as never;
const advance = { type: 'advanceTime' } as never;

function counts(d: Driver, queue: string): QueueStats['counts'] {
  return d.read<QueueStats>({ type: 'stats', queue }).counts;
}

function clone(sm: QueueStateMachine, limits = CAP.limits): QueueStateMachine {
  const c = new QueueStateMachine({ limits });
  c.restore([...sm.snapshot()]);
  return c;
}

describe('statemachine - admin work in capped steps', () => {
  it('purge cancels a capped number per entry, continues on advanceTime, and spares later tasks', () => {
    const d = new Driver(CAP);
    d.value(enq('q', 8));
    expect(d.value({ type: 'purgeQueue', queue: 'q' } as never)).toEqual({ purged: 3 });
    expect(d.sm.nextDue().mono).toBe(d.mono); // pending work is due now
    d.value(enq('q', 1)); // task 9 came after the purge (this entry also purged 3 more)
    expect(counts(d, 'q')).toMatchObject({ waiting: 3, cancelled: 6 });
    d.run(advance);
    expect(counts(d, 'q')).toMatchObject({ waiting: 1, cancelled: 8 });
    expect(d.read<{ state: string }>({ type: 'task', id: '9' }).state).toBe('waiting');
    expect(d.sm.nextDue().mono).toBeNull();
  });

  it('delete refuses commands on the queue while it runs, then the name is free again', () => {
    const d = new Driver(CAP);
    d.value(enq('q', 7));
    d.value(enq('q', 1, { idempotencyKey: 'k' }));
    expect(d.value({ type: 'deleteQueue', queue: 'q', force: true } as never)).toEqual({ cancelled: 3 });
    const refused = d.run(enq('q', 1));
    expect(refused.ok ? null : refused.error).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'queue_deleting' });
    expect(code(d.run({ type: 'purgeQueue', queue: 'q' } as never))).toBe('FAILED_PRECONDITION');
    expect(d.value<{ tasks: unknown[] }>({ type: 'lease', queue: 'q', workerId: 'w', max: 5 } as never).tasks).toEqual(
      [],
    );
    for (let i = 0; i < 10 && d.sm.nextDue().mono !== null; i++) d.run(advance);
    expect(d.sm.nextDue().mono).toBeNull();
    expect(code(d.sm.read({ type: 'stats', queue: 'q' }).answer)).toBe('NOT_FOUND');
    expect(d.sm.state.tasks.size).toBe(0);
    expect(d.sm.state.keyCount).toBe(0);
    expect(d.value(enq('q', 1, { idempotencyKey: 'k' }))).toEqual({ items: [{ id: '9', deduplicated: false }] });
  });

  it('pause and resume re-park delayed tasks in steps; a toggle mid-way restarts the walk', () => {
    const d = new Driver(CAP);
    d.value(enq('q', 8, { delayMs: 5000 }));
    d.value({ type: 'pauseQueue', queue: 'q' } as never);
    d.value({ type: 'resumeQueue', queue: 'q' } as never); // toggled while the pause still walks
    d.value({ type: 'pauseQueue', queue: 'q' } as never);
    for (let i = 0; i < 10 && d.sm.state.jobs.length > 0; i++) d.run(advance);
    expect(d.sm.state.jobs).toHaveLength(0);
    expect(d.sm.nextDue().mono).toBeNull(); // all parked
    d.value({ type: 'resumeQueue', queue: 'q' } as never);
    for (let i = 0; i < 10 && d.sm.state.jobs.length > 0; i++) d.run(advance);
    d.run(advance, 5000);
    expect(counts(d, 'q')).toMatchObject({ waiting: 8, delayed: 0 });
  });

  it('redrive without ids walks a capped number of tasks per entry and continues on advanceTime', () => {
    const d = new Driver(CAP);
    d.value({ type: 'createQueue', queue: 'src', settings: { deadLetterQueue: 'dlq' } } as never);
    d.value(enq('src', 7));
    const leased = d.value<{ tasks: { id: string; token: string }[] }>({
      type: 'lease',
      queue: 'src',
      workerId: 'w',
      max: 7,
    } as never).tasks;
    // Kill 1, 2, 4, 5, 6, 7: dead letters 8..13 in dlq; task 3 is acked (so dlq holds only copies).
    for (const t of leased) {
      if (t.id === '3') d.value({ type: 'ack', items: [t] } as never);
      else d.value({ type: 'nack', id: t.id, token: t.token, error: 'x', dead: true } as never);
    }
    d.value(enq('dlq', 1)); // task 14: not a dead letter, never redriven
    const first = d.value<{ items: { from: string; id: string }[]; continuing?: boolean }>({
      type: 'redrive',
      queue: 'dlq',
      max: 5,
    } as never);
    expect(first.items).toEqual([8, 9, 10].map((n, i) => ({ from: String(n), id: String(15 + i) })));
    expect(first.continuing).toBe(true); // the rest continues as a job
    const job = d.sm.state.jobs[0];
    expect(job?.kind).toBe('redrive');
    expect(job?.next?.id).toBe(11);
    expect(job?.redrive).toEqual({ left: 2, toQueue: null });
    expect(d.sm.nextDue().mono).toBe(d.mono);
    expect(clone(d.sm).digest()).toBe(d.sm.digest()); // cursor and count survive a snapshot
    expect([...decodeMultiple([...d.sm.snapshot()][0] as Uint8Array)][0]).toEqual([
      'head',
      'raftq-sm/6',
      expect.anything(),
    ]);
    d.run(advance); // 11 and 12 moved: the count is reached, 13 stays
    expect(d.sm.state.jobs).toHaveLength(0);
    expect(counts(d, 'dlq')).toMatchObject({ cancelled: 5, waiting: 2 });
    expect(counts(d, 'src')).toMatchObject({ waiting: 5, dead: 6 });
    expect(d.read<{ state: string }>({ type: 'task', id: '13' }).state).toBe('waiting');
  });

  it("a second redrive replaces the first one's job; a delete of the queue drops it", () => {
    const d = new Driver(CAP);
    d.value({ type: 'createQueue', queue: 'src', settings: { maxAttempts: 1 } } as never);
    d.value(enq('src', 8));
    const leased = d.value<{ tasks: { id: string; token: string }[] }>({
      type: 'lease',
      queue: 'src',
      workerId: 'w',
      max: 8,
    } as never).tasks;
    for (const t of leased) d.value({ type: 'nack', id: t.id, token: t.token, error: 'x' } as never);
    expect(counts(d, 'src')).toMatchObject({ dead: 8 });
    d.value({ type: 'redrive', queue: 'src', toQueue: 'x' } as never);
    // The next entry: the job first moves 4..6 to x; then this walk visits 1..3 only and leaves a
    // job for y at 4 that replaces the one for x.
    d.value({ type: 'redrive', queue: 'src', toQueue: 'y' } as never);
    expect(d.sm.state.jobs.map((j) => [j.kind, j.redrive?.toQueue, j.next?.id])).toEqual([['redrive', 'y', 4]]);
    d.run(advance); // visits 4..6 (already moved)
    d.run(advance); // moves 7 and 8, and ends
    expect(d.sm.state.jobs).toHaveLength(0);
    expect([counts(d, 'x').waiting, counts(d, 'y').waiting]).toEqual([6, 2]);
    d.value({ type: 'redrive', queue: 'src' } as never); // walks 1..3, a job for the rest
    d.value({ type: 'deleteQueue', queue: 'src', force: true } as never); // drops it
    expect(d.sm.state.jobs.map((j) => j.kind)).toEqual(['delete-cancel']);
  });

  it('a redrive job leaves a task whose target is being deleted; it stays redrivable', () => {
    const d = new Driver(CAP);
    d.value({ type: 'createQueue', queue: 'src', settings: { maxAttempts: 1 } } as never);
    d.value(enq('src', 6));
    const leased = d.value<{ tasks: { id: string; token: string }[] }>({
      type: 'lease',
      queue: 'src',
      workerId: 'w',
      max: 6,
    } as never).tasks;
    for (const t of leased) d.value({ type: 'nack', id: t.id, token: t.token, error: 'x' } as never);
    d.value(enq('t', 7));
    // One entry: the redrive moves 1..3 to t and leaves a job; the delete of t then runs for a while.
    const [r, del] = d.entry([
      { type: 'redrive', queue: 'src', toQueue: 't' } as never,
      { type: 'deleteQueue', queue: 't', force: true } as never,
    ]);
    expect(r?.answer.ok && del?.answer.ok).toBe(true);
    for (let i = 0; i < 20 && d.sm.state.jobs.length > 0; i++) d.run(advance);
    expect(code(d.sm.read({ type: 'stats', queue: 't' }).answer)).toBe('NOT_FOUND');
    // 4..6 were left (their target was being deleted): a new redrive moves them (through its job).
    const left = ['4', '5', '6'].map((id) => d.read<{ state: string; redrivenTo?: string }>({ type: 'task', id }));
    expect(left.map((t) => [t.state, t.redrivenTo])).toEqual(Array(3).fill(['dead', undefined]));
    expect(d.value<{ items: unknown[] }>({ type: 'redrive', queue: 'src', toQueue: 'u' } as never).items).toEqual([]);
    d.run(advance);
    expect(counts(d, 'u')).toMatchObject({ waiting: 3 });
  });

  it('a replica restored in the middle of jobs continues with the same answers and digests', () => {
    const a = new Driver(CAP);
    a.value(enq('q', 9, { delayMs: 1000 }));
    a.value(enq('r', 9));
    a.value(enq('s', 9));
    a.value({ type: 'pauseQueue', queue: 'q' } as never);
    a.value({ type: 'purgeQueue', queue: 'r' } as never);
    a.value({ type: 'deleteQueue', queue: 's', force: true } as never);
    expect(a.sm.state.jobs.length).toBeGreaterThan(0);
    const b = clone(a.sm);
    expect(b.digest()).toBe(a.sm.digest());
    for (let i = 0; i < 8; i++) {
      a.mono += 400;
      a.index++;
      const cmds = [{ session: null, seq: 0, cmd: advance }];
      const data = encodeEnvelope({ v: 1, mono: a.mono, wall: WALL0 + a.mono, cmds });
      expect(b.apply(asLogIndex(a.index), data)).toEqual(a.sm.apply(asLogIndex(a.index), data));
      expect(b.digest()).toBe(a.sm.digest());
      expect(b.nextDue()).toEqual(a.sm.nextDue());
    }
    expect(a.sm.state.jobs).toHaveLength(0);
  });

  it('random logs with a tiny cap: replicas and restored replicas agree at every entry', () => {
    fc.assert(
      fc.property(logArb(20, 120), fc.nat(), (raws, cut) => {
        const t = buildLog(raws);
        const k = cut % t.log.length;
        const a = new QueueStateMachine({ limits: { adminTasksPerEntryMax: 1 } });
        replay(a, t.log.slice(0, k));
        const b = clone(a, { adminTasksPerEntryMax: 1 });
        for (const e of t.log.slice(k)) {
          expect(replay(b, [e])).toEqual(replay(a, [e]));
          expect(b.digest()).toBe(a.digest());
        }
        expect(a.counters.internalErrors).toBe(0);
      }),
      { numRuns: 80 },
    );
  });

  it('restores a version-2 snapshot (no jobs, queue rows without the deleting flag)', () => {
    const d = new Driver();
    d.value(enq('q', 3, { idempotencyKey: 'x' }));
    const v3 = [...d.sm.snapshot()].flatMap((c) => [...decodeMultiple(c)]) as unknown[][];
    // Before limits: no limiters chunks, no limitTimers, and the digest without the limiters lane.
    const v2 = v3
      .filter((v) => v[0] !== 'limiters' && !(v[0] === 'timers' && v[1] === 'limitTimers'))
      .map((v) => {
        if (v[0] === 'head') return ['head', 'raftq-sm/2', v[2]];
        if (v[0] === 'queues') return ['queues', (v[1] as unknown[][]).map((row) => row.slice(0, 3))];
        if (v[0] === 'end') return ['end', digestOf(d.sm.state, true)];
        return v;
      });
    const r = new QueueStateMachine();
    r.restore(v2.map((v) => encode(v)));
    expect(r.digest()).toBe(d.sm.digest());
  });
});
