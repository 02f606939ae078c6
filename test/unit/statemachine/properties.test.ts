import { asLogIndex } from '../../../src/protocol/ids.js';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Answer, Command, TaskView } from '../../../src/protocol/index.js';
import { TERMINAL_STATES, encodeEnvelope } from '../../../src/protocol/index.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import type { Tracker } from './logs.js';
import { append, buildLog, logArb, replay } from './logs.js';

function taskRead(sm: QueueStateMachine, id: number): TaskView | null {
  const r = sm.read({ type: 'task', id: String(id) }).answer;
  return r.ok ? (r.value as TaskView) : null;
}

function clone(sm: QueueStateMachine): QueueStateMachine {
  const c = new QueueStateMachine();
  c.restore([...sm.snapshot()]);
  return c;
}

describe('statemachine - determinism and snapshots', () => {
  it('the same log gives the same answers and digest on two instances', () => {
    fc.assert(
      fc.property(logArb(), (raws) => {
        const t = buildLog(raws);
        const a = new QueueStateMachine();
        const b = new QueueStateMachine();
        expect(replay(a, t.log)).toEqual(t.answers);
        expect(replay(b, t.log)).toEqual(t.answers);
        expect(a.digest()).toBe(t.sm.digest());
        expect(b.digest()).toBe(t.sm.digest());
        // no invariant assertion fired on the way
        expect(t.sm.counters.internalErrors).toBe(0);
        expect(t.answers.flat().filter((x) => !x.answer.ok && x.answer.error.code === 'INTERNAL')).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });

  it('snapshot -> restore gives the same digest and identical answers for any continuation', () => {
    fc.assert(
      fc.property(logArb(20, 120), fc.nat(), (raws, cut) => {
        const t = buildLog(raws);
        const k = cut % t.log.length;
        const a = new QueueStateMachine();
        replay(a, t.log.slice(0, k));
        const b = clone(a);
        expect(b.digest()).toBe(a.digest());
        for (const e of t.log.slice(k)) {
          const ra = replay(a, [e]);
          const rb = replay(b, [e]);
          expect(rb).toEqual(ra);
          expect(b.digest()).toBe(a.digest());
          expect(b.nextDue()).toEqual(a.nextDue());
        }
        expect(a.digest()).toBe(t.sm.digest());
      }),
      { numRuns: 120 },
    );
  });

  it('the digest tells states apart', () => {
    fc.assert(
      fc.property(logArb(5, 40), (raws) => {
        const t = buildLog(raws);
        const before = t.sm.digest();
        append(
          t,
          [{ session: null, seq: 0, cmd: { type: 'enqueue', queue: 'a', tasks: [{ payload: new Uint8Array([1]) }] } }],
          0,
        );
        expect(t.sm.digest()).not.toBe(before);
      }),
      { numRuns: 20 },
    );
  });
});

/** Invariants checked after every entry of a random log. */
function checkInvariants(t: Tracker, removed: Set<number>, completedBy: Map<string, string>): void {
  const sm = t.sm;
  const mono = sm.lastMono();
  for (const e of t.events) {
    if (e.type !== 'removed') continue;
    // Only terminal tasks are ever removed (retention, or deleting their queue after cancelling them).
    expect(TERMINAL_STATES.includes(e.state), `task ${e.id} removed while ${e.state}`).toBe(true);
    removed.add(Number(e.id));
  }
  const views: TaskView[] = [];
  for (let id = 1; id <= t.maxId; id++) {
    const v = taskRead(sm, id);
    // No task is lost: every id is in exactly one state, or was removed as terminal.
    if (v === null) expect(removed.has(id), `task ${id} vanished`).toBe(true);
    else {
      expect(removed.has(id)).toBe(false);
      views.push(v);
    }
  }
  // A task completes at most once: its first completing attempt never changes.
  for (const v of views) {
    if (v.state !== 'completed') continue;
    const acked = v.history.filter((h) => h.end === 'acked');
    expect(acked.length).toBeLessThanOrEqual(1);
    const tok = acked[0]?.token ?? '?';
    const prev = completedBy.get(v.id);
    if (prev !== undefined) expect(tok).toBe(prev);
    completedBy.set(v.id, tok);
  }
  // At most one valid lease per task: grants observed from answers that no answer or terminal event
  // has ended and whose (extended) deadline is still ahead; the task's current lease is one of them.
  const live = new Map<string, number>();
  for (const g of t.grants) if (!g.ended && g.deadline > mono) live.set(g.id, (live.get(g.id) ?? 0) + 1);
  for (const [id, n] of live) expect(n, `task ${id} has ${n} valid leases`).toBeLessThanOrEqual(1);
  for (const v of views) {
    if (v.lease === undefined || v.lease.deadlineMono <= mono) continue;
    const token = v.lease.token;
    expect(t.grants.some((g) => g.id === v.id && g.token === token && !g.ended)).toBe(true);
  }
  // Groups: no task leased while an earlier non-terminal task of its group exists.
  for (const v of views) {
    if (v.state !== 'leased' || v.group === undefined) continue;
    const blocker = views.find(
      (o) =>
        o.queue === v.queue && o.group === v.group && Number(o.id) < Number(v.id) && !TERMINAL_STATES.includes(o.state),
    );
    expect(blocker, `task ${v.id} leased while ${blocker?.id} of its group is ${blocker?.state}`).toBeUndefined();
  }
  // Counts per state add up to the tasks present.
  const qs = sm.read({ type: 'queues' }).answer as {
    ok: true;
    value: { queues: { queue: string; counts: Record<string, number> }[] };
  };
  for (const q of qs.value.queues) {
    const n = Object.values(q.counts).reduce((x, y) => x + y, 0);
    expect(n).toBe(views.filter((v) => v.queue === q.queue).length);
  }
}

describe('statemachine - safety properties over random logs', () => {
  it('no task lost, one valid lease per task, single completion, strict group order', () => {
    fc.assert(
      fc.property(logArb(20, 120), (raws) => {
        const removed = new Set<number>();
        const completedBy = new Map<string, string>();
        buildLog(raws, (t) => checkInvariants(t, removed, completedBy));
      }),
      { numRuns: 100 },
    );
  });
});

describe('statemachine - sessions and invalid input', () => {
  it('a retried session command returns its cached answer; the digest equals that of an empty entry', () => {
    fc.assert(
      fc.property(logArb(10, 60), fc.nat(), fc.nat(1000), (raws, pickSeq, dt) => {
        const t = buildLog(raws);
        const open = append(t, [{ session: null, seq: 0, cmd: { type: 'openSession', timeoutMs: 600_000 } }], 0);
        const session = (open[0]?.answer as { ok: true; value: { session: string } }).value.session;
        const cmds: Command[] = [
          { type: 'enqueue', queue: 'a', tasks: [{ payload: new Uint8Array([7]) }] },
          { type: 'lease', queue: 'a', workerId: 'w', max: 2 },
          { type: 'keepAlive' },
        ];
        const first = cmds.map((cmd, i) => append(t, [{ session, seq: i + 1, floor: 1, cmd }], 0)[0]?.answer);
        const seq = 1 + (pickSeq % cmds.length);
        const control = clone(t.sm);
        const retried = append(t, [{ session, seq, floor: 1, cmd: cmds[seq - 1] as Command }], dt)[0]?.answer as Answer;
        control.apply(
          asLogIndex(t.log.length),
          encodeEnvelope({ v: 1, mono: t.mono, wall: t.log[t.log.length - 1]?.wall ?? 0, cmds: [] }),
        );
        expect(t.sm.digest()).toBe(control.digest());
        const original = first[seq - 1] as Answer<{ tasks?: { payload?: Uint8Array }[] }>;
        if (original.ok && Array.isArray(original.value.tasks)) {
          expect(retried).toEqual({
            ok: true,
            value: { tasks: original.value.tasks.map(({ payload: _p, ...rest }) => rest) },
          });
        } else expect(retried).toEqual(original);
      }),
      { numRuns: 60 },
    );
  });

  // Refused whatever the state (queues may have been deleted by the log): ids and tokens that cannot
  // exist, validation failures, missing sessions.
  const invalidCommand: fc.Arbitrary<unknown> = fc.oneof(
    fc.constant({ type: 'ack', items: [{ id: '999999', token: '5' }] }),
    fc.constant({ type: 'nack', id: '1', token: '77777' }),
    fc.constant({ type: 'release', id: '2', token: '3' }),
    fc.constant({ type: 'cancel', id: '424242' }),
    fc.constant({ type: 'promote', id: '424242' }),
    fc.constant({
      type: 'enqueue',
      queue: 'b',
      tasks: Array.from({ length: 1001 }, () => ({ payload: new Uint8Array(1) })),
    }),
    fc.constant({ type: 'enqueue', queue: 'a', tasks: [{ payload: new Uint8Array(1) }, { payload: 'nope' }] }),
    fc.constant({ type: 'enqueue', queue: 'a', tasks: [{ payload: new Uint8Array(1), delayMs: 5, runAt: 9 }] }),
    fc.constant({ type: 'createQueue', queue: 'c', settings: { backoff: { type: 'linear' } } }),
    fc.constant({ type: 'deleteQueue', queue: 'nope' }),
    fc.constant({ type: 'configureQueue', queue: 'a', settings: { maxAttempts: 0 } }),
    fc.constant({ type: 'extend', id: '1', token: '0' }),
    fc.constant({ type: 'keepAlive' }),
    fc.record({
      type: fc.constant('lease'),
      queue: fc.constant('a'),
      workerId: fc.string(),
      max: fc.integer({ max: 0 }),
    }),
    fc.record({ type: fc.string().filter((t) => !/^[a-zA-Z]+$/.test(t)), id: fc.anything() }),
  );

  /** Apply `cmd` to the tracker's instance and an empty entry with the same stamps to a clone. */
  function againstEmpty(t: Tracker, cmd: unknown, dt: number): { answer: Answer; same: boolean } {
    const control = clone(t.sm);
    const mono = t.mono + dt;
    const wall = (t.log[t.log.length - 1]?.wall ?? 0) + dt;
    const index = t.log.length + 1;
    const got = t.sm.apply(
      asLogIndex(index),
      encodeEnvelope({ v: 1, mono, wall, cmds: [{ session: null, seq: 0, cmd: cmd as Command }] }),
    );
    control.apply(asLogIndex(index), encodeEnvelope({ v: 1, mono, wall, cmds: [] }));
    expect(got).toHaveLength(1);
    return { answer: got[0]?.answer as Answer, same: t.sm.digest() === control.digest() };
  }

  function refused(a: Answer): boolean {
    // ack answers per item: an invalid ack is one whose every item is refused
    const items = a.ok ? (a.value as { items?: Answer[] }).items : undefined;
    return !a.ok || (Array.isArray(items) && items.every((i) => !i.ok));
  }

  it('well-typed invalid commands: an error answer, and exactly the effect of an empty entry', () => {
    fc.assert(
      fc.property(logArb(5, 50), invalidCommand, fc.nat(2000), (raws, cmd, dt) => {
        const r = againstEmpty(buildLog(raws), cmd, dt);
        expect(refused(r.answer)).toBe(true);
        expect(r.same).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('arbitrary values as commands never throw; refused ones have the effect of an empty entry', () => {
    fc.assert(
      fc.property(logArb(5, 30), fc.anything({ withTypedArray: true, maxDepth: 3 }), fc.nat(2000), (raws, cmd, dt) => {
        const r = againstEmpty(buildLog(raws), cmd, dt);
        if (!r.answer.ok) expect(r.same).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('random bytes never throw and are a counted no-op: no transitions, no answer', () => {
    fc.assert(
      fc.property(logArb(5, 40), fc.uint8Array({ maxLength: 64 }), (raws, bytes) => {
        const t = buildLog(raws);
        const control = clone(t.sm);
        const before = t.sm.counters.undecodable;
        const index = t.log.length + 1;
        const answers = t.sm.apply(asLogIndex(index), bytes);
        control.applyEmpty(asLogIndex(index));
        if (answers.length === 0 && t.sm.counters.undecodable === before + 1) {
          expect(t.sm.digest()).toBe(control.digest());
          expect(t.sm.drainEvents()).toEqual([]);
        } else {
          // bytes that happen to decode as an envelope are applied like any entry
          expect(t.sm.counters.undecodable).toBe(before);
        }
      }),
      { numRuns: 200 },
    );
  });
});
