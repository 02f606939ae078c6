// Schedule commands, reads and the leader's slot computation, one behaviour at a time.
import { describe, expect, it } from 'vitest';
import type { Command, TaskView } from '../../../src/protocol/index.js';
import {
  DEFAULT_LIMITS,
  SCHEDULE_HEADER,
  SCHEDULE_MANUAL_HEADER,
  SCHEDULE_SLOT_HEADER,
  checkNewProposal,
  decodeMultiple,
  encode,
  validateCommand,
} from '../../../src/protocol/index.js';
import { computeSlots } from '../../../src/protocol/schedule-cron.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { Sim } from './model.js';

const T0 = Date.parse('2026-06-01T00:00:00Z');
const task = { payload: new Uint8Array([1, 2]) };

function upsert(extra: Record<string, unknown> = {}): Command {
  return { type: 'upsertSchedule', queue: 'q', id: 's', everyMs: 1000, task, ...extra } as Command;
}

function errField(v: unknown): string | undefined {
  const r = validateCommand(v, DEFAULT_LIMITS);
  return r.ok ? undefined : r.error.field;
}

describe('schedules - validation', () => {
  it('names the field of a malformed upsert', () => {
    expect(errField({ type: 'upsertSchedule', queue: 'q', id: 's', task })).toBe('cron');
    expect(errField(upsert({ cron: '* * * * *' }))).toBe('cron');
    expect(errField(upsert({ everyMs: 999 }))).toBe('everyMs');
    expect(errField(upsert({ everyMs: undefined, cron: '* * *' }))).toBe('cron');
    expect(errField(upsert({ tz: 'Europe/Paris' }))).toBe('tz');
    expect(errField(upsert({ catchUp: 'sometimes' }))).toBe('catchUp');
    expect(errField(upsert({ id: 'a b' }))).toBe('id');
    expect(errField(upsert({ startAt: 10, endAt: 5 }))).toBe('endAt');
    expect(errField(upsert({ task: { ...task, idempotencyKey: 'k' } }))).toBe('task.idempotencyKey');
    expect(errField(upsert({ task: { ...task, runAt: 5 } }))).toBe('task.runAt');
    expect(errField(upsert({ task: { ...task, headers: { [SCHEDULE_HEADER]: 'x' } } }))).toBe(
      `task.headers.${SCHEDULE_HEADER}`,
    );
    expect(errField(upsert({ task: { payload: 'nope' } }))).toBe('task.payload');
    expect(errField(upsert())).toBeUndefined();
  });

  it('the node checks cron expressions and time zones with croner before proposing', () => {
    const check = (cron: string, tz?: string) => {
      const v = validateCommand(upsert({ everyMs: undefined, cron, ...(tz ? { tz } : {}) }), DEFAULT_LIMITS);
      if (!v.ok) return `shape:${v.error.field}`;
      const c = checkNewProposal(v.value);
      return c.ok ? 'ok' : `${c.error.code}:${c.error.field}`;
    };
    expect(check('0 6 * * *', 'Europe/Paris')).toBe('ok');
    expect(check('0 0 6 * * 1-5')).toBe('ok');
    expect(check('0 6 * * *', 'Mars/Olympus_Mons')).toBe('INVALID_ARGUMENT:tz');
    expect(check('61 6 * * *')).toBe('INVALID_ARGUMENT:cron');
    expect(check('0 6 * * * * *')).toBe('shape:cron');
  });

  it('scheduleSlots must be increasing, after its horizon', () => {
    const slots = { type: 'scheduleSlots', queue: 'q', id: 's', gen: 0, after: 100, done: false };
    expect(errField({ ...slots, instants: [101, 102] })).toBeUndefined();
    expect(errField({ ...slots, instants: [100] })).toBe('instants[0]');
    expect(errField({ ...slots, instants: [105, 104] })).toBe('instants[1]');
    expect(errField({ ...slots, instants: [] })).toBe('instants');
    expect(errField({ ...slots, instants: [], done: true })).toBeUndefined();
  });
});

function fill(sim: Sim, wall: number): void {
  sim.refill(wall);
}

describe('schedules - commands', () => {
  it('runs carry the schedule id, slot and idempotency key; reads show the next 5 run times', () => {
    const sim = new Sim();
    expect(sim.apply([upsert({ task: { ...task, headers: { team: 'a' }, priority: 3 } })], T0)[0]?.answer).toEqual({
      ok: true,
      value: { created: true },
    });
    fill(sim, T0);
    expect(sim.view('q', 's').nextRuns).toEqual([1, 2, 3, 4, 5].map((k) => T0 + k * 1000));
    sim.drain(T0 + 2500);
    const runs = sim.tasks('q').sort((a, b) => Number(a.id) - Number(b.id));
    expect(runs.map((t) => t.headers)).toEqual([
      { team: 'a', [SCHEDULE_HEADER]: 's', [SCHEDULE_SLOT_HEADER]: new Date(T0 + 1000).toISOString() },
      { team: 'a', [SCHEDULE_HEADER]: 's', [SCHEDULE_SLOT_HEADER]: new Date(T0 + 2000).toISOString() },
    ]);
    expect(runs.map((t) => t.idempotencyKey)).toEqual([`schedule:s:${T0 + 1000}`, `schedule:s:${T0 + 2000}`]);
    expect(runs.every((t) => t.priority === 3)).toBe(true);
    const v = sim.view('q', 's');
    expect([v.runs, v.lastSlot, v.lastTaskId]).toEqual([2, T0 + 2000, runs[1]?.id]);
  });

  it('an update of the template keeps the slots; a timing change starts afresh and refuses stale slots', () => {
    const sim = new Sim();
    sim.apply([upsert()], T0);
    const oldGen = sim.sm.scheduleSlotNeeds(16)[0]?.gen;
    fill(sim, T0);
    const before = sim.view('q', 's').nextRuns;
    expect(sim.apply([upsert({ task: { payload: new Uint8Array([9]) } })], T0)[0]?.answer).toEqual({
      ok: true,
      value: { created: false },
    });
    expect(sim.view('q', 's').nextRuns).toEqual(before);
    sim.apply([upsert({ everyMs: 5000 })], T0 + 100);
    expect(sim.view('q', 's').nextRuns).toEqual([]);
    const stale = {
      type: 'scheduleSlots',
      queue: 'q',
      id: 's',
      gen: oldGen,
      after: T0 + 100,
      instants: [T0 + 200],
      done: false,
    };
    expect(sim.apply([stale as Command], T0 + 100)[0]?.answer).toMatchObject({
      ok: false,
      error: { code: 'FAILED_PRECONDITION' },
    });
    fill(sim, T0 + 100);
    expect(sim.view('q', 's').nextRuns[0]).toBe(T0 + 5100);
  });

  it('slots computed for a deleted namesake are refused, even at the same wall', () => {
    const sim = new Sim();
    sim.apply([upsert({ everyMs: 60_000 })], T0);
    const old = sim.sm.scheduleSlotNeeds(16)[0] as { gen: number; after: number };
    sim.apply([{ type: 'deleteSchedule', queue: 'q', id: 's' }], T0);
    sim.apply([upsert({ everyMs: 1000 })], T0);
    const stale = {
      type: 'scheduleSlots',
      queue: 'q',
      id: 's',
      gen: old.gen,
      after: old.after,
      instants: [T0 + 60_000],
      done: false,
    };
    expect(sim.apply([stale as Command], T0)[0]?.answer).toMatchObject({
      ok: false,
      error: { code: 'FAILED_PRECONDITION' },
    });
    fill(sim, T0);
    expect(sim.view('q', 's').nextRuns[0]).toBe(T0 + 1000);
  });

  it('pause stops runs and resume makes the slots due meanwhile missed; unknown schedules are NOT_FOUND', () => {
    const sim = new Sim();
    sim.apply([upsert({ catchUp: 'none' })], T0);
    sim.drain(T0 + 1000);
    sim.apply([{ type: 'pauseSchedule', queue: 'q', id: 's' }], T0 + 1000);
    expect(sim.sm.nextDue().wall).toBeNull(); // an idle cluster appends nothing for a paused schedule
    sim.drain(T0 + 5000);
    sim.apply([{ type: 'resumeSchedule', queue: 'q', id: 's' }], T0 + 5000);
    sim.drain(T0 + 6000);
    const v = sim.view('q', 's');
    expect([v.runs, v.skipped]).toEqual([2, 4]); // 1 s and 6 s ran; 2..5 s came due while paused
    for (const type of ['pauseSchedule', 'resumeSchedule', 'deleteSchedule', 'triggerSchedule'] as const) {
      expect(sim.apply([{ type, queue: 'q', id: 'nope' }], T0 + 6000)[0]?.answer).toMatchObject({
        ok: false,
        error: { code: 'NOT_FOUND', field: 'id' },
      });
    }
  });

  it('trigger runs now, beside the slots and the limit', () => {
    const sim = new Sim();
    sim.apply([upsert({ limit: 1 })], T0);
    const a = sim.apply([{ type: 'triggerSchedule', queue: 'q', id: 's' }], T0 + 10)[0]?.answer;
    expect(a?.ok).toBe(true);
    const id = (a as { value: { taskId: string } }).value.taskId;
    const t = sim.sm.read({ type: 'task', id }).answer as { value: TaskView };
    expect(t.value.headers[SCHEDULE_MANUAL_HEADER]).toBe('true');
    sim.drain(T0 + 10_000);
    const v = sim.view('q', 's');
    expect([v.runs, v.done, sim.tasks('q').length]).toEqual([1, true, 2]);
    expect(sim.sm.nextDue().wall).toBeNull();
  });

  it('endAt: no slot at or after it, then done; delete removes the schedule from reads and digest', () => {
    const sim = new Sim();
    const empty = sim.sm.digest();
    sim.apply([upsert({ endAt: T0 + 3500 })], T0);
    sim.drain(T0 + 10_000);
    expect(sim.tasks('q').map((t) => t.headers[SCHEDULE_SLOT_HEADER])).toHaveLength(3);
    expect(sim.view('q', 's').done).toBe(true);
    sim.apply([{ type: 'deleteSchedule', queue: 'q', id: 's' }], T0 + 10_000);
    expect(sim.sm.read({ type: 'schedules' }).answer).toEqual({ ok: true, value: [] });
    // The incremental digest left no trace of the schedule: a restore recomputes it from the records.
    const b = new QueueStateMachine();
    b.restore([...sim.sm.snapshot()]);
    expect(b.digest()).toBe(sim.sm.digest());
    expect(b.digest()).not.toBe(empty);
  });

  it('jitter is deterministic per slot and within jitterMs', () => {
    const runsOf = () => {
      const sim = new Sim();
      sim.apply([upsert({ jitterMs: 700 })], T0);
      sim.drain(T0 + 30_000);
      return sim.tasks('q').map((t) => [Date.parse(t.headers[SCHEDULE_SLOT_HEADER] ?? ''), t.enqueuedWall]);
    };
    const a = runsOf();
    expect(a).toEqual(runsOf());
    expect(a.length).toBeGreaterThan(25);
    for (const [slot, at] of a) expect((at as number) - (slot as number)).toBeGreaterThanOrEqual(0);
  });

  it('a raftq-sm/4 snapshot (before schedules) still restores', () => {
    const sim = new Sim();
    sim.apply([{ type: 'enqueue', queue: 'q', tasks: [task] }], T0);
    const chunks = [...sim.sm.snapshot()].map((c) => {
      const [v] = decodeMultiple(c) as unknown[][];
      return v?.[0] === 'head' ? encode(['head', 'raftq-sm/4', v[2]]) : c;
    });
    const b = new QueueStateMachine();
    b.restore(chunks);
    expect(b.digest()).toBe(sim.sm.digest());
  });
});

describe('schedules - slot computation (croner, DST as it documents)', () => {
  const iso = (xs: number[]) => xs.map((x) => new Date(x).toISOString());
  it('a fixed-time job runs after a spring-forward gap, and once in a repeated hour', () => {
    const spring = computeSlots(
      { cron: '30 2 * * *', tz: 'Europe/Paris', anchor: 0, after: Date.parse('2026-03-27T12:00:00Z') },
      3,
    );
    expect(iso(spring.instants)).toEqual([
      '2026-03-28T01:30:00.000Z',
      '2026-03-29T01:00:00.000Z',
      '2026-03-30T00:30:00.000Z',
    ]);
    const fall = computeSlots(
      { cron: '30 2 * * *', tz: 'Europe/Paris', anchor: 0, after: Date.parse('2026-10-24T12:00:00Z') },
      2,
    );
    expect(iso(fall.instants)).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
  });

  it('an interval job runs on both occurrences of a repeated hour and skips a gap', () => {
    const fall = computeSlots(
      { cron: '0,30 2 * * *', tz: 'Europe/Paris', anchor: 0, after: Date.parse('2026-10-24T12:00:00Z') },
      4,
    );
    expect(iso(fall.instants)).toEqual([
      '2026-10-25T00:00:00.000Z',
      '2026-10-25T00:30:00.000Z',
      '2026-10-25T01:00:00.000Z',
      '2026-10-25T01:30:00.000Z',
    ]);
    const spring = computeSlots(
      { cron: '0,30 2 * * *', tz: 'Europe/Paris', anchor: 0, after: Date.parse('2026-03-28T12:00:00Z') },
      1,
    );
    expect(iso(spring.instants)).toEqual(['2026-03-30T00:00:00.000Z']);
  });

  it('everyMs from its anchor, endAt exclusive, and an expression with no further time is done', () => {
    expect(computeSlots({ everyMs: 1000, anchor: 5000, after: 6500, endAt: 9000 }, 10)).toEqual({
      instants: [7000, 8000],
      done: true,
    });
    expect(computeSlots({ cron: '0 0 30 2 *', tz: 'UTC', anchor: 0, after: 0 }, 5)).toEqual({
      instants: [],
      done: true,
    });
  });
});
