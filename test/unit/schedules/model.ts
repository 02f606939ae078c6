// A schedule model for the property tests: drives a QueueStateMachine through a scenario of entries at
// chosen wall stamps (outages are gaps with no entry, clock jumps are stamps far ahead or behind),
// pauses and resumes, with the leader's feeder (the real ScheduleFeeder + croner) refilling slots
// before each entry as a leader would; and an oracle that says, from the whole slot sequence (computed
// in one go, not in refills) and the scenario alone, which slots must fire.
import { asLogIndex } from '../../../src/protocol/ids.js';
import { Cron } from 'croner';
import type { Command, CommandAnswer, ScheduleView, TaskView } from '../../../src/protocol/index.js';
import { SCHEDULE_SLOT_HEADER, encodeEnvelope } from '../../../src/protocol/index.js';
import { ScheduleFeeder } from '../../../src/node/schedule-feeder.js';
import { QueueStateMachine } from '../../../src/statemachine/index.js';
import { jitter } from '../../../src/statemachine/schedules.js';
import { Schedule } from '../../../src/statemachine/schedule-records.js';

export type Timing = { cron: string; tz: string } | { everyMs: number };

export interface Scenario {
  timing: Timing;
  catchUp: 'none' | 'latest' | 'all';
  graceMs: number;
  jitterMs: number;
  limit?: number;
  /** Wall of the upsert. */
  t0: number;
  /** Each step: the leader's wall stamp moves by dt (negative: a clock jump back), then an entry. */
  steps: { dt: number; kind: 'tick' | 'pause' | 'resume' }[];
}

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

export class Sim {
  readonly sm = new QueueStateMachine();
  private index = 0;
  private mono = 1000;
  /** Walls (effective: never backwards) of every step, and the paused flag after it. */
  readonly walls: { wall: number; kind: string }[] = [];
  readonly feeder: ScheduleFeeder;
  entries = 0;
  /** Every entry applied, when recording (replica tests). */
  log: Uint8Array[] | null = null;

  constructor() {
    this.feeder = new ScheduleFeeder(this.sm, silent, { intervalMs: 0 });
  }

  apply(cmds: Command[], wall: number): CommandAnswer[] {
    this.entries++;
    this.mono += 1;
    const sc = cmds.map((cmd) => ({ session: null, seq: 0, cmd }));
    const bytes = encodeEnvelope({ v: 1, mono: this.mono, wall, cmds: sc });
    if (this.log !== null) this.log.push(bytes);
    return this.sm.apply(asLogIndex(++this.index), bytes);
  }

  /** The leader's refills, each in its own entry at `wall`. */
  refill(wall: number): void {
    const cmds: Command[] = [];
    this.feeder.tick(this.mono, (cmd, done) => {
      cmds.push(cmd);
      done();
    });
    for (const c of cmds) this.apply([c], wall);
  }

  /** Refill and advance until nothing is due at `wall` (what the leader does while it has quorum). */
  drain(wall: number): void {
    for (let i = 0; i < 10_000; i++) {
      this.refill(wall);
      const due = this.sm.nextDue().wall;
      const needs = this.sm.scheduleSlotNeeds(16).length;
      if ((due === null || due > Math.max(wall, this.sm.lastWall())) && needs === 0) return;
      if ((due === null || due > Math.max(wall, this.sm.lastWall())) && this.refillsStuck()) return;
      this.apply([{ type: 'advanceTime' }], wall);
    }
    throw new Error('drain did not settle: an idle cluster would keep appending');
  }

  private refillsStuck(): boolean {
    // Nothing due and refills answered: the schedule waits for time to pass.
    const before = this.sm.digest();
    this.refill(this.sm.lastWall());
    return this.sm.digest() === before;
  }

  tasks(queue: string): TaskView[] {
    const out: TaskView[] = [];
    for (const state of ['waiting', 'delayed', 'completed'] as const) {
      let cursor: string | undefined;
      for (;;) {
        const r = this.sm.read({ type: 'list', queue, state, limit: 1000, ...(cursor ? { cursor } : {}) });
        if (!r.answer.ok) return out;
        const page = r.answer.value as { items: TaskView[]; nextCursor: string | null };
        out.push(...page.items);
        if (page.nextCursor === null) break;
        cursor = page.nextCursor;
      }
    }
    return out;
  }

  view(queue: string, id: string): ScheduleView {
    const r = this.sm.read({ type: 'schedule', queue, id });
    if (!r.answer.ok) throw new Error(JSON.stringify(r.answer.error));
    return r.answer.value as ScheduleView;
  }
}

export function firedSlots(tasks: TaskView[]): number[] {
  return tasks.map((t) => Date.parse(t.headers[SCHEDULE_SLOT_HEADER] ?? '')).sort((a, b) => a - b);
}

/** Runs a scenario; the slots fired (from the tasks' headers) and the schedule's view. */
export function runScenario(sc: Scenario, sim = new Sim()): { fired: number[]; view: ScheduleView; sim: Sim } {
  const up: Command = {
    type: 'upsertSchedule',
    queue: 'q',
    id: 's',
    ...sc.timing,
    catchUp: sc.catchUp,
    catchUpMax: 1000,
    graceMs: sc.graceMs,
    jitterMs: sc.jitterMs,
    ...(sc.limit === undefined ? {} : { limit: sc.limit }),
    task: { payload: new Uint8Array([7]) },
  };
  const a = sim.apply([up], sc.t0);
  if (!a[0]?.answer.ok) throw new Error(JSON.stringify(a[0]?.answer));
  let leader = sc.t0;
  for (const step of sc.steps) {
    leader += step.dt;
    const wall = Math.max(leader, sim.sm.lastWall());
    sim.drain(leader);
    if (step.kind !== 'tick')
      sim.apply([{ type: step.kind === 'pause' ? 'pauseSchedule' : 'resumeSchedule', queue: 'q', id: 's' }], leader);
    sim.drain(leader);
    sim.walls.push({ wall, kind: step.kind });
  }
  return { fired: firedSlots(sim.tasks('q')), view: sim.view('q', 's'), sim };
}

/** Every slot of the timing after t0 up to `until`, computed in one go. */
export function allSlots(timing: Timing, t0: number, until: number): number[] {
  const out: number[] = [];
  if ('everyMs' in timing) {
    for (let at = t0 + timing.everyMs; at <= until; at += timing.everyMs) out.push(at);
    return out;
  }
  const job = new Cron(timing.cron, { timezone: timing.tz, mode: '5-or-6-parts', paused: true });
  let prev = new Date(t0);
  for (;;) {
    const batch = job.nextRuns(500, prev);
    for (const d of batch) {
      if (d.getTime() > until) return out;
      out.push(d.getTime());
    }
    if (batch.length < 500) return out;
    prev = batch[batch.length - 1] as Date;
  }
}

/**
 * The oracle. Slot s (in slot order) is handled at the first step whose effective wall W reaches
 * every earlier slot's fire time and its own (slots are handled in order), while the schedule is not
 * paused; it is missed if W is later than its fire time + grace, or it came due while paused (fire
 * time ≤ the wall of the last resume). On time: fired. Missed: `all` fires it, `none` skips it,
 * `latest` fires the last of each run of missed slots handled at the same step. `limit` stops it all.
 */
export function expected(sc: Scenario, steps: { wall: number; kind: string }[]): { fired: number[]; skipped: number } {
  const last = steps.length === 0 ? sc.t0 : (steps[steps.length - 1] as { wall: number }).wall;
  const slots = allSlots(sc.timing, sc.t0, last + 1);
  const probe = new Schedule(
    'q',
    's',
    {
      task: { payload: new Uint8Array() },
      catchUp: sc.catchUp,
      catchUpMax: 1000,
      graceMs: sc.graceMs,
      jitterMs: sc.jitterMs,
      paused: false,
    },
    sc.t0,
  );
  const fireAt = (s: number): number => s + jitter(probe, s);
  const handled: { slot: number; step: number; missed: boolean }[] = [];
  let block = -Infinity;
  let k = 0;
  let paused = false;
  let resumedAt = 0;
  steps.forEach((st, i) => {
    // Handled at this step's wall (before a pause command applies; after a resume, as missed).
    const handle = (): void => {
      for (; k < slots.length; k++) {
        const s = slots[k] as number;
        const due = Math.max(block, fireAt(s));
        if (due > st.wall) break;
        block = due;
        handled.push({ slot: s, step: i, missed: fireAt(s) + sc.graceMs < st.wall || fireAt(s) <= resumedAt });
      }
    };
    if (!paused) handle();
    if (st.kind === 'pause') paused = true;
    if (st.kind === 'resume' && paused) {
      paused = false;
      resumedAt = st.wall;
    }
    if (!paused) handle();
  });
  const fired: number[] = [];
  let skipped = 0;
  for (let i = 0; i < handled.length; i++) {
    const h = handled[i] as { slot: number; step: number; missed: boolean };
    const next = handled[i + 1];
    const runEnds = next === undefined || !next.missed || next.step !== h.step;
    let fires =
      !h.missed || sc.catchUp === 'all' || (sc.catchUp === 'latest' && runEnds && nextIsKnown(next, h, k, slots));
    if (sc.limit !== undefined && fired.length >= sc.limit) fires = false;
    if (fires) fired.push(h.slot);
    else skipped++;
  }
  return { fired, skipped };
}

/** `latest` fires a run's last slot once the slot after it is known not missed (or there is none). */
function nextIsKnown(
  next: { missed: boolean; step: number } | undefined,
  h: { step: number },
  _k: number,
  _slots: number[],
): boolean {
  return next === undefined ? true : next.step !== h.step || !next.missed;
}
