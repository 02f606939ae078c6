import { asLogIndex } from '../../../src/protocol/ids.js';
import { describe, expect, it } from 'vitest';
import type { LeasedTask, QueueStats, TaskView } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { Driver, WALL0, bytes, code } from './harness.js';

type Leased = { tasks: LeasedTask[] };
const enq = (queue: string, tasks: Record<string, unknown>[]) =>
  ({ type: 'enqueue', queue, tasks: tasks.map((t) => ({ payload: bytes(1), ...t })) }) as never;
const lease = (queue: string, max = 10, extra: Record<string, unknown> = {}) =>
  ({ type: 'lease', queue, workerId: 'w1', max, ...extra }) as never;

describe('statemachine - order and leases', () => {
  it('leases by priority then enqueue order, with the granting index as token', () => {
    const d = new Driver();
    d.value(enq('q', [{}, { priority: 5 }, {}, { priority: 5 }]));
    const { tasks } = d.value<Leased>(lease('q', 3));
    expect(tasks.map((t) => t.id)).toEqual(['2', '4', '1']);
    expect(tasks.every((t) => t.token === String(d.index))).toBe(true);
    expect(tasks[0]?.payload).toEqual(bytes(1));
  });

  it('refuses tokens from the future, other tokens and expired deadlines with LEASE_LOST', () => {
    const d = new Driver();
    d.value(enq('q', [{}, {}]));
    const [a, b] = d.value<Leased>(lease('q', 2, { leaseMs: 5000 })).tasks as [LeasedTask, LeasedTask];
    expect(code(d.run({ type: 'ack', items: [{ id: a.id, token: String(d.index + 1) }] }))).toBe('OK');
    const ackFuture = d.value<{ items: { ok: boolean; error?: { code: string } }[] }>({
      type: 'ack',
      items: [{ id: a.id, token: String(d.index + 5) }],
    });
    expect(ackFuture.items[0]?.ok).toBe(false);
    const late = d.value<{ items: { ok: boolean; error?: { code: string } }[] }>(
      { type: 'ack', items: [{ id: b.id, token: b.token }] },
      5000,
    );
    expect(late.items[0]?.error?.code).toBe('LEASE_LOST');
  });

  it('a repeated ack / nack / release of an ended attempt returns the original answer', () => {
    const d = new Driver();
    d.value(enq('q', [{}, {}, {}]));
    const [a, b, c] = d.value<Leased>(lease('q', 3)).tasks as LeasedTask[] as [LeasedTask, LeasedTask, LeasedTask];
    const ack1 = d.run({ type: 'ack', items: [{ id: a.id, token: a.token }] });
    const nack1 = d.run({ type: 'nack', id: b.id, token: b.token, delayMs: 0 });
    const rel1 = d.run({ type: 'release', id: c.id, token: c.token });
    d.value(lease('q', 3)); // b and c leased again with a new token
    expect(d.run({ type: 'ack', items: [{ id: a.id, token: a.token }] })).toEqual(ack1);
    expect(d.run({ type: 'nack', id: b.id, token: b.token, delayMs: 0 })).toEqual(nack1);
    expect(d.run({ type: 'release', id: c.id, token: c.token })).toEqual(rel1);
    // but an ack of the released attempt is refused
    const ackOld = d.value<{ items: { error?: { code: string } }[] }>({
      type: 'ack',
      items: [{ id: c.id, token: c.token }],
    });
    expect(ackOld.items[0]?.error?.code).toBe('LEASE_LOST');
  });

  it('extend moves the deadline and the checkpoint reaches the next attempt', () => {
    const d = new Driver();
    d.value(enq('q', [{}]));
    const [t] = d.value<Leased>(lease('q', 1, { leaseMs: 2000 })).tasks as [LeasedTask];
    const ext = d.value<{ deadlineMono: number }>(
      { type: 'extend', id: t.id, token: t.token, leaseMs: 3000, progress: 40, checkpoint: bytes(9, 9) },
      1500,
    );
    expect(ext.deadlineMono).toBe(d.mono + 3000);
    d.run({ type: 'advanceTime' }, 2999);
    expect(d.read<TaskView>({ type: 'task', id: t.id }).state).toBe('leased');
    d.run({ type: 'advanceTime' }, 1);
    const v = d.read<TaskView>({ type: 'task', id: t.id });
    expect(v.state).toBe('waiting');
    expect(v.deliveries).toBe(1);
    expect(v.history[0]?.end).toBe('lease_expired');
    const [again] = d.value<Leased>(lease('q', 1)).tasks as [LeasedTask];
    expect(again.checkpoint).toEqual(bytes(9, 9));
  });

  it('lease expiries count deliveries apart from failures and dead-letter at maxDeliveries', () => {
    const d = new Driver();
    d.value({ type: 'createQueue', queue: 'q', settings: { maxDeliveries: 2, deadLetterQueue: 'dlq', leaseMs: 1000 } });
    d.value(enq('q', [{}]));
    d.value(lease('q'));
    d.value(lease('q'), 1000);
    d.run({ type: 'advanceTime' }, 1000);
    const v = d.read<TaskView>({ type: 'task', id: '1' });
    expect([v.state, v.reason, v.deliveries, v.attempts]).toEqual(['dead', 'max_deliveries', 2, 0]);
    const dl = d.read<TaskView>({ type: 'task', id: v.deadLetterId as string });
    expect(dl.queue).toBe('dlq');
    expect(dl.deadLetterOf?.id).toBe('1');
    expect(dl.deadLetterOf?.history).toHaveLength(2);
  });
});

describe('statemachine - nack, backoff, dead letters', () => {
  it('nack retries with deterministic backoff, then dead-letters at maxAttempts; redrive brings it back', () => {
    const d = new Driver();
    d.value({
      type: 'createQueue',
      queue: 'q',
      settings: { maxAttempts: 2, deadLetterQueue: 'dlq', backoff: { type: 'fixed', delayMs: 500, jitterPct: 0 } },
    });
    d.value(enq('q', [{}]));
    let [t] = d.value<Leased>(lease('q')).tasks as [LeasedTask];
    expect(d.value({ type: 'nack', id: t.id, token: t.token, error: 'e1' })).toEqual({
      state: 'delayed',
      runAtMono: d.mono + 500,
    });
    expect(d.value<Leased>(lease('q'), 499).tasks).toHaveLength(0);
    [t] = d.value<Leased>(lease('q'), 1).tasks as [LeasedTask];
    const n2 = d.value<{ state: string; deadLetterId: string }>({
      type: 'nack',
      id: t.id,
      token: t.token,
      error: 'e2',
    });
    expect(n2.state).toBe('dead');
    const dead = d.read<{ items: TaskView[] }>({ type: 'deadLetters', queue: 'dlq' });
    expect(dead.items.map((x) => x.id)).toEqual([n2.deadLetterId]);
    const rd = d.value<{ items: { from: string; id: string }[] }>({ type: 'redrive', queue: 'dlq' });
    expect(rd.items).toHaveLength(1);
    const back = d.read<TaskView>({ type: 'task', id: rd.items[0]?.id as string });
    expect([back.queue, back.state, back.redrivenFrom]).toEqual(['q', 'waiting', n2.deadLetterId]);
    expect(d.read<TaskView>({ type: 'task', id: n2.deadLetterId }).reason).toBe('redriven');
  });

  it('nack dead: true dead-letters now; cancel of a leased task (without running) is FAILED_PRECONDITION', () => {
    const d = new Driver();
    d.value(enq('q', [{}]));
    const [t] = d.value<Leased>(lease('q')).tasks as [LeasedTask];
    const c = d.run({ type: 'cancel', id: t.id });
    expect(!c.ok && c.error.reason).toBe('task_leased');
    expect(d.value({ type: 'nack', id: t.id, token: t.token, dead: true })).toEqual({ state: 'dead' });
    expect(d.read<TaskView>({ type: 'task', id: t.id }).reason).toBe('nacked_dead');
  });
});

describe('statemachine - groups, time, TTL', () => {
  it('a group is strict FIFO: its head blocks it until terminal, priority ignored within', () => {
    const d = new Driver();
    d.value(enq('q', [{ group: 'g' }, { group: 'g', priority: 9 }, { priority: 1 }]));
    expect(d.value<Leased>(lease('q')).tasks.map((t) => t.id)).toEqual(['3', '1']);
    expect(d.value<Leased>(lease('q')).tasks).toHaveLength(0);
    d.value({ type: 'nack', id: '1', token: String(d.index - 1), delayMs: 0 });
    expect(d.value<Leased>(lease('q')).tasks.map((t) => t.id)).toEqual(['1']);
    d.value({ type: 'ack', items: [{ id: '1', token: String(d.index) }] });
    expect(d.value<Leased>(lease('q')).tasks.map((t) => t.id)).toEqual(['2']);
  });

  it('delayMs runs on mono, runAt on wall; pause parks delayed tasks so nothing is due', () => {
    const d = new Driver();
    d.value(enq('q', [{ delayMs: 1000 }, { runAt: WALL0 + d.mono + 5000 }]));
    expect(d.sm.nextDue()).toEqual({ mono: d.mono + 1000, wall: WALL0 + d.mono + 5000 });
    d.value({ type: 'pauseQueue', queue: 'q' });
    expect(d.sm.nextDue()).toEqual({ mono: null, wall: null });
    d.run({ type: 'advanceTime' }, 10_000);
    expect(d.read<TaskView>({ type: 'task', id: '1' }).state).toBe('delayed');
    d.value({ type: 'resumeQueue', queue: 'q' });
    d.run({ type: 'advanceTime' });
    expect(d.read<TaskView>({ type: 'task', id: '1' }).state).toBe('waiting');
    expect(d.read<TaskView>({ type: 'task', id: '2' }).state).toBe('waiting');
  });

  it('never-started tasks past their TTL expire; started ones do not', () => {
    const d = new Driver();
    d.value(enq('q', [{ ttlMs: 1000 }, { ttlMs: 1000 }]));
    d.value(lease('q', 1));
    d.run({ type: 'advanceTime' }, 1000);
    expect(d.read<TaskView>({ type: 'task', id: '1' }).state).toBe('leased');
    expect(d.read<TaskView>({ type: 'task', id: '2' }).state).toBe('expired');
  });

  it('caps the transitions run per entry; the rest wait for later entries', () => {
    const d = new Driver({ limits: { transitionsPerEntryMax: 3 } });
    d.value(
      enq(
        'q',
        Array.from({ length: 7 }, () => ({ delayMs: 10 })),
      ),
    );
    d.run({ type: 'advanceTime' }, 10);
    expect(d.read<{ counts: Record<string, number> }>({ type: 'stats', queue: 'q' }).counts.waiting).toBe(3);
    d.run({ type: 'advanceTime' });
    d.run({ type: 'advanceTime' });
    expect(d.read<{ counts: Record<string, number> }>({ type: 'stats', queue: 'q' }).counts.waiting).toBe(7);
  });
});

describe('statemachine - enqueue rules, idempotency, retention, admin', () => {
  it('is all-or-nothing, dedups by key within the window and keeps the key after retention', () => {
    const d = new Driver();
    d.value({
      type: 'createQueue',
      queue: 'q',
      settings: { maxLength: 2, retentionMs: 0, idempotencyWindowMs: 60_000 },
    });
    const full = d.run(enq('q', [{}, {}, {}]));
    expect(!full.ok && full.error.limit).toBe('maxLength');
    const bad = d.run(enq('q', [{}, { priority: 1.5 }]));
    expect(!bad.ok && bad.error.field).toBe('tasks[1].priority');
    expect(d.read<{ totals: { enqueued: number } }>({ type: 'stats', queue: 'q' }).totals.enqueued).toBe(0);
    const first = d.value<{ items: unknown[] }>(enq('q', [{ idempotencyKey: 'k' }, { idempotencyKey: 'k' }]));
    expect(first.items).toEqual([
      { id: '1', deduplicated: false },
      { id: '1', deduplicated: true },
    ]);
    const [t] = d.value<Leased>(lease('q')).tasks as [LeasedTask];
    d.value({ type: 'ack', items: [{ id: t.id, token: t.token }] });
    d.run({ type: 'advanceTime' }, 2000); // retention 0: removed at the next bucket
    expect(code(d.sm.read({ type: 'task', id: '1' }).answer)).toBe('NOT_FOUND');
    expect(d.value<{ items: unknown[] }>(enq('q', [{ idempotencyKey: 'k' }])).items).toEqual([
      { id: '1', deduplicated: true },
    ]);
    d.run({ type: 'advanceTime' }, 60_000);
    expect(d.value<{ items: unknown[] }>(enq('q', [{ idempotencyKey: 'k' }])).items).toEqual([
      { id: '2', deduplicated: false },
    ]);
  });

  it('purge cancels with reason purged; delete refuses while non-terminal tasks remain unless forced', () => {
    const d = new Driver();
    d.value(enq('q', [{}, {}]));
    expect(d.value({ type: 'purgeQueue', queue: 'q' })).toEqual({ purged: 2 });
    expect(d.read<TaskView>({ type: 'task', id: '1' }).reason).toBe('purged');
    d.value(enq('q', [{}]));
    const refused = d.run({ type: 'deleteQueue', queue: 'q' });
    expect(!refused.ok && refused.error.code).toBe('FAILED_PRECONDITION');
    expect(d.value({ type: 'deleteQueue', queue: 'q', force: true })).toEqual({ cancelled: 1 });
    expect(code(d.sm.read({ type: 'stats', queue: 'q' }).answer)).toBe('NOT_FOUND');
  });

  it('update changes priority and payload of a waiting task; promote readies a delayed one', () => {
    const d = new Driver();
    d.value(enq('q', [{}, {}, { delayMs: 60_000 }]));
    d.value({ type: 'update', id: '2', priority: 3, payload: bytes(7) });
    d.value({ type: 'promote', id: '3' });
    const { tasks } = d.value<Leased>(lease('q'));
    expect(tasks.map((t) => t.id)).toEqual(['2', '1', '3']);
    expect(tasks[0]?.payload).toEqual(bytes(7));
  });

  it('lists by state with a cursor, priority then id', () => {
    const d = new Driver();
    d.value(enq('q', [{}, { priority: 2 }, {}, { priority: 2 }, {}]));
    const p1 = d.read<{ items: TaskView[]; nextCursor: string }>({
      type: 'list',
      queue: 'q',
      state: 'waiting',
      limit: 2,
    });
    expect(p1.items.map((t) => t.id)).toEqual(['2', '4']);
    const p2 = d.read<{ items: TaskView[]; nextCursor: string | null }>({
      type: 'list',
      queue: 'q',
      state: 'waiting',
      limit: 5,
      cursor: p1.nextCursor,
    });
    expect(p2.items.map((t) => t.id)).toEqual(['1', '3', '5']);
    expect(p2.nextCursor).toBeNull();
  });
});

describe('statemachine - sessions', () => {
  it('caches answers without payloads, prunes below the floor, caps outstanding, expires on mono', () => {
    const d = new Driver({ limits: { sessionOutstandingMax: 2 } });
    const { session } = d.value<{ session: string }>({ type: 'openSession', timeoutMs: 10_000 });
    d.value(enq('q', [{}]));
    const sc = (seq: number, cmd: object, floor?: number) =>
      ({ session, seq, cmd, ...(floor === undefined ? {} : { floor }) }) as never;
    const first = d.entry([sc(1, lease('q'))])[0]?.answer as { ok: true; value: Leased };
    expect(first.value.tasks[0]?.payload).toEqual(bytes(1));
    const retry = d.entry([sc(1, lease('q'))])[0]?.answer as { ok: true; value: Leased };
    expect(retry.value.tasks[0]?.id).toBe('1');
    expect(retry.value.tasks[0]?.payload).toBeUndefined();
    d.entry([sc(2, { type: 'keepAlive' })]);
    expect(code(d.entry([sc(3, { type: 'keepAlive' })])[0]?.answer as never)).toBe('RESOURCE_EXHAUSTED');
    expect(code(d.entry([sc(3, { type: 'keepAlive' }, 2)])[0]?.answer as never)).toBe('OK');
    expect(d.read<{ floor: number; outstanding: number }>({ type: 'session', session })).toMatchObject({
      floor: 2,
      outstanding: 2,
    });
    expect(code(d.entry([sc(1, lease('q'))])[0]?.answer as never)).toBe('FAILED_PRECONDITION');
    expect(code(d.entry([sc(4, { type: 'keepAlive' })], 10_000)[0]?.answer as never)).toBe('SESSION_EXPIRED');
    expect(code(d.entry([{ session: 'nope', seq: 1, cmd: { type: 'keepAlive' } }])[0]?.answer as never)).toBe(
      'SESSION_EXPIRED',
    );
  });
});

describe('statemachine - robustness, snapshot', () => {
  it('undecodable bytes are a counted no-op that only moves the index', () => {
    const d = new Driver();
    d.value(enq('q', [{}]));
    const before = d.sm.digest();
    const e = new QueueStateMachine();
    e.restore([...d.sm.snapshot()]);
    expect(d.sm.apply(asLogIndex(++d.index), bytes(0xc1, 0xff))).toEqual([]);
    e.applyEmpty(asLogIndex(d.index));
    expect(d.sm.digest()).toBe(e.digest());
    expect(d.sm.digest()).not.toBe(before);
    expect(d.sm.counters.undecodable).toBe(1);
  });

  it('restores from one concatenated buffer and from chunks to the same digest', () => {
    const d = new Driver();
    for (let k = 0; k < 3; k++) {
      d.value(
        enq(
          'q',
          Array.from({ length: 1000 }, (_, i) => (i % 7 === 0 ? { group: 'g' } : { priority: i % 3 })),
        ),
      );
    }
    d.value(lease('q', 50));
    const chunks = [...d.sm.snapshot()];
    expect(chunks.length).toBeGreaterThan(3);
    const a = new QueueStateMachine();
    a.restore(chunks);
    const b = new QueueStateMachine();
    b.restore(Buffer.concat(chunks));
    expect(a.digest()).toBe(d.sm.digest());
    expect(b.digest()).toBe(d.sm.digest());
  });
});

describe('statemachine - events, reads, edges', () => {
  it('feeds task events for the last entry', () => {
    const d = new Driver();
    d.value(enq('q', [{}]));
    expect(d.sm.drainEvents().map((e) => [e.type, e.id, e.state])).toEqual([['enqueued', '1', 'waiting']]);
    const [t] = d.value<Leased>(lease('q')).tasks as [LeasedTask];
    expect(d.sm.drainEvents()).toEqual([
      { type: 'leased', id: '1', queue: 'q', index: d.index, state: 'leased', token: t.token },
    ]);
    d.value({ type: 'ack', items: [{ id: t.id, token: t.token, result: bytes(4, 2) }] });
    expect(d.sm.drainEvents().map((e) => e.type)).toEqual(['completed']);
    expect(d.sm.drainEvents()).toEqual([]);
    expect(d.read<TaskView>({ type: 'task', id: '1' }).result).toEqual(bytes(4, 2));
  });

  it('answers reads with asOf stamps and derived ages', () => {
    const d = new Driver();
    d.value(enq('q', [{}, {}]));
    d.value(lease('q', 1, { leaseMs: 1000 }));
    d.run({ type: 'advanceTime' }, 400);
    const r = d.sm.read({ type: 'stats', queue: 'q' });
    expect(r.asOf).toEqual({ index: d.index, mono: d.mono, wall: WALL0 + d.mono });
    const stats = r.answer.ok
      ? (r.answer.value as { oldestWaitingAgeMs: number; counts: Record<string, number> })
      : null;
    expect(stats?.oldestWaitingAgeMs).toBe(400);
    expect(stats?.counts).toMatchObject({ waiting: 1, leased: 1 });
    expect(d.sm.nextDue().mono).toBe(d.mono + 600);
  });

  it('computes derived fields at the clocks a read is given, never before the last stamps, changing nothing', () => {
    const d = new Driver();
    d.value(enq('q', [{}, {}]));
    d.value(lease('q', 1, { leaseMs: 1000 }));
    d.run({ type: 'advanceTime' }, 400);
    const digest = d.sm.digest();
    // The serving leader's clock, 5 s past the last entry: the age and the lease's expiry are at it.
    const later = d.sm.read({ type: 'stats', queue: 'q' }, { mono: d.mono + 5_000, wall: WALL0 + d.mono + 5_000 });
    expect(later.asOf).toEqual({ index: d.index, mono: d.mono + 5_000, wall: WALL0 + d.mono + 5_000 });
    expect(later.answer.ok && (later.answer.value as QueueStats).oldestWaitingAgeMs).toBe(5_400);
    const leased = d.sm.read({ type: 'task', id: '1' }, { mono: d.mono + 5_000, wall: 0 });
    expect(leased.answer.ok && (leased.answer.value as TaskView).lease?.expired).toBe(true);
    expect(leased.asOf.wall).toBe(WALL0 + d.mono); // a clock behind the stamps never goes back
    // Clocks behind the state's stamps are ignored; the state (its clocks and digest) is untouched.
    const earlier = d.sm.read({ type: 'stats', queue: 'q' }, { mono: 0, wall: 0 });
    expect(earlier.asOf).toEqual({ index: d.index, mono: d.mono, wall: WALL0 + d.mono });
    expect(earlier.answer.ok && (earlier.answer.value as QueueStats).oldestWaitingAgeMs).toBe(400);
    expect(d.sm.read({ type: 'task', id: '1' }).answer).toMatchObject({
      ok: true,
      value: { lease: { expired: false } },
    });
    expect([d.sm.lastMono(), d.sm.lastWall(), d.sm.digest()]).toEqual([d.mono, WALL0 + d.mono, digest]);
  });

  it('ignores stale or malformed indexes without throwing', () => {
    const d = new Driver();
    d.value(enq('q', [{}]));
    const digest = d.sm.digest();
    expect(d.sm.apply(asLogIndex(d.index), new Uint8Array([1]))).toEqual([]);
    expect(d.sm.apply(asLogIndex(Number.NaN), new Uint8Array([1]))).toEqual([]);
    d.sm.applyEmpty(asLogIndex(1));
    expect(d.sm.digest()).toBe(digest);
    expect(d.sm.counters.stale).toBe(3);
  });

  it('a snapshot consumed across applies is the state it started from (copy-on-write)', () => {
    const d = new Driver();
    d.value(
      enq(
        'q',
        Array.from({ length: 10 }, () => ({})),
      ),
    );
    const before = d.sm.digest();
    const it = d.sm.snapshot()[Symbol.iterator]();
    const chunks: Uint8Array[] = [it.next().value as Uint8Array];
    d.value({ type: 'lease', queue: 'q', workerId: 'w', max: 3 });
    d.value(enq('q', [{}]));
    d.run({ type: 'advanceTime' });
    for (let r = it.next(); r.done !== true; r = it.next()) chunks.push(r.value);
    expect(d.sm.digest()).not.toBe(before);
    const other = new QueueStateMachine();
    other.restore(chunks);
    expect(other.digest()).toBe(before);
  });

  it('caps the number of sessions', () => {
    const d = new Driver({ limits: { sessionsMax: 1 } });
    d.value({ type: 'openSession' });
    const a = d.run({ type: 'openSession' });
    expect(!a.ok && a.error.limit).toBe('sessionsMax');
  });
});

describe("statemachine - a task's story (issue 15)", () => {
  it('records the log index and term of its creation, each lease, each lease end and its end', () => {
    const d = new Driver({ limits: {} });
    d.term = 2;
    d.value({ type: 'createQueue', queue: 'q', settings: { deadLetterQueue: 'dlq' } } as never);
    d.value(enq('q', [{ maxAttempts: 2 }]));
    const created = d.index;
    d.term = 3; // a new leader
    const first = d.value<{ tasks: LeasedTask[] }>(lease('q', 1)).tasks[0] as LeasedTask;
    d.value({ type: 'nack', id: first.id, token: first.token, delayMs: 0 } as never);
    const nacked = d.index;
    d.term = 5;
    const second = d.value<{ tasks: LeasedTask[] }>(lease('q', 1)).tasks[0] as LeasedTask;
    d.value({ type: 'nack', id: second.id, token: second.token, error: 'boom', delayMs: 0 } as never);
    const died = d.index;
    const t = d.read<TaskView>({ type: 'task', id: first.id });
    expect(t.state).toBe('dead');
    expect([t.enqueuedIndex, t.enqueuedTerm, t.endedIndex, t.endedTerm]).toEqual([created, 2, died, 5]);
    const story = t.history.map((a) => [a.token, a.leasedTerm, a.end, a.endedIndex, a.endedTerm]);
    expect(story).toEqual([
      [first.token, 3, 'nacked', nacked, 3],
      [second.token, 5, 'nacked', died, 5],
    ]);
    // The dead letter's copy tells the same story, and starts its own at the entry that made it.
    const letter = d.read<TaskView>({ type: 'task', id: t.deadLetterId as string });
    expect(letter.deadLetterOf?.history).toEqual(t.history);
    expect([letter.enqueuedIndex, letter.enqueuedTerm, letter.endedIndex]).toEqual([died, 5, undefined]);
    // A snapshot keeps it all, digest included.
    const e = new QueueStateMachine();
    e.restore([...d.sm.snapshot()]);
    expect(e.digest()).toBe(d.sm.digest());
    expect(e.read({ type: 'task', id: first.id }).answer).toEqual(d.sm.read({ type: 'task', id: first.id }).answer);
  });

  it('leaves terms out where none was given, and tells replicas that disagree on one apart', () => {
    const a = new Driver();
    const b = new Driver();
    b.term = 1;
    for (const d of [a, b]) d.value(enq('q', [{}]));
    const t = a.read<TaskView>({ type: 'task', id: '1' });
    expect([t.enqueuedIndex, t.enqueuedTerm]).toEqual([1, undefined]);
    expect(b.read<TaskView>({ type: 'task', id: '1' }).enqueuedTerm).toBe(1);
    expect(a.sm.digest()).not.toBe(b.sm.digest());
  });
});
