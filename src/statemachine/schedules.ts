// Schedules (docs/schedules.md): recurring tasks fired on the log's wall clock. Replicas never
// evaluate a cron expression: the leader computes slot instants (src/node/schedule-feeder.ts) and
// proposes them in `scheduleSlots`; here they are only compared with entry stamps. So every replica
// fires the same slots in the same entries whatever its time-zone data or TZ.
//
// A slot s fires at s + jitter(s) (deterministic per slot). At each entry, before its commands, the
// due slots of each schedule are handled in slot order: an on-time one fires (one enqueue, idempotency
// key `schedule:<id>:<s>`); a missed one — applied more than graceMs after its fire time, or due while
// the schedule was paused — goes by catchUp: none (skipped), latest (one run, for the latest missed
// slot, once the missed run of slots is over), all (fired). At most catchUpMax runs per schedule per
// entry; the rest at the next entries (nextDue reports them due).

import type { Answer, CommandOf, ScheduleView, TaskSpec } from '../protocol/index.js';
import {
  SCHEDULE_DEFAULT_OPTIONS,
  SCHEDULE_HEADER,
  SCHEDULE_MANUAL_HEADER,
  SCHEDULE_SLOT_HEADER,
  formatId,
  parseId,
} from '../protocol/index.js';
import { admit } from './backpressure.js';
import { enqueue } from './enqueue.js';
import { Hasher, hashInts } from './hash.js';
import type { StoredSpec } from './schedule-records.js';
import { Schedule, scheduleKey } from './schedule-records.js';
import type { MachineState } from './state.js';
import { copyBytes, err, ok } from './state.js';
import { mut } from './digest.js';
import { note } from './story.js';

/** Schedules held at most, all queues: an upsert beyond it is refused. */
export const SCHEDULES_MAX = 10_000;
/** Runs fired per entry at most, all schedules together (each schedule also has its catchUpMax). */
export const SCHEDULE_FIRES_PER_ENTRY_MAX = 1000;

/** Changing any of these starts the schedule afresh: new generation, no slots, runs 0. */
const TIMING = ['cron', 'tz', 'everyMs', 'startAt', 'endAt', 'limit'] as const;

// ------------------------------------------------------------------ digest and heap

export function hashSchedule(h: Hasher, s: Schedule): Hasher {
  h.reset().tag(50).str(s.queue).str(s.id).value(s.spec).int(s.anchor).int(s.gen).int(s.through);
  h.value(s.slots)
    .tag(s.done ? 1 : 0)
    .int(s.runs)
    .int(s.skipped)
    .int(s.failed)
    .int(s.manualRuns);
  return h.opt(s.pendingLatest).int(s.resumedAt).opt(s.lastSlot).opt(s.lastTaskId).optStr(s.lastError);
}

/** The schedule's hash enters the digest and its heap position follows its due instant. */
export function placeSchedule(st: MachineState, s: Schedule): void {
  const h = hashSchedule(st.h, s);
  s.ha = h.a;
  s.hb = h.b;
  st.sum.add(h);
  s.due = dueOf(s);
  const heap = st.schedules.due;
  if (s.pos >= 0) {
    if (s.due === Infinity) heap.remove(s);
    else heap.update(s);
  } else if (s.due !== Infinity) heap.push(s);
}

/** Bracket every change of a schedule: its old hash leaves the digest, the new one enters. */
function touch(st: MachineState, s: Schedule, f: () => void): void {
  st.sum.subPair(s.ha, s.hb);
  f();
  placeSchedule(st, s);
}

export function jitter(s: Schedule, slot: number): number {
  const max = s.spec.jitterMs;
  return max === 0 ? 0 : hashInts(new Hasher().str(s.queue).str(s.id).a, slot) % (max + 1);
}

export function fireAt(s: Schedule, slot: number): number {
  return slot + jitter(s, slot);
}

function missed(st: MachineState, s: Schedule, slot: number): boolean {
  const at = fireAt(s, slot);
  return at + s.spec.graceMs < st.wall || at <= s.resumedAt;
}

/** When an entry next has something to do for `s` (0: now), Infinity: nothing until a command. */
function dueOf(s: Schedule): number {
  if (s.spec.paused) return Infinity;
  // A pending latest run fires as soon as the next slot is known (refilled), or none remains.
  if (s.pendingLatest !== null) return s.slots.length > 0 || s.done ? 0 : Infinity;
  const next = s.slots[0];
  return next === undefined ? Infinity : fireAt(s, next);
}

/** The earliest wall instant a schedule needs an entry at (nextDue), or null. */
export function scheduleDue(st: MachineState): number | null {
  const s = st.schedules.due.peek();
  return s === undefined ? null : s.due;
}

// ------------------------------------------------------------------ firing

function runSpec(s: Schedule, slot: number, key: string, manual: boolean): TaskSpec {
  const t = s.spec.task;
  const headers: Record<string, string> = {
    ...(t.headers ?? {}),
    [SCHEDULE_HEADER]: s.id,
    [SCHEDULE_SLOT_HEADER]: new Date(slot).toISOString(),
  };
  if (manual) headers[SCHEDULE_MANUAL_HEADER] = 'true';
  const spec: TaskSpec = { payload: t.payload, headers, idempotencyKey: key };
  if (t.priority !== undefined) spec.priority = t.priority;
  if (t.ttlMs !== undefined) spec.ttlMs = t.ttlMs;
  if (t.maxAttempts !== undefined) spec.maxAttempts = t.maxAttempts;
  if (t.maxDeliveries !== undefined) spec.maxDeliveries = t.maxDeliveries;
  if (t.leaseMs !== undefined) spec.leaseMs = t.leaseMs;
  if (t.group !== undefined) spec.group = t.group;
  if (t.key !== undefined) spec.key = t.key;
  if (t.cost !== undefined) spec.cost = t.cost;
  return spec;
}

/** One enqueue; a refusal (queue full, being deleted) is recorded, never retried: the slot is spent. */
function enqueueRun(st: MachineState, s: Schedule, spec: TaskSpec): string | null {
  const a = enqueue(st, { type: 'enqueue', queue: s.queue, tasks: [spec] }, admit);
  if (!a.ok) {
    s.failed++;
    s.lastError = `${a.error.code}: ${a.error.message}`;
    return null;
  }
  const item = (a.value as { items: { id: string; deduplicated?: boolean }[] }).items[0];
  const id = item?.id ?? null;
  s.lastTaskId = parseId(id);
  const t = item?.deduplicated === true ? undefined : st.tasks.get(s.lastTaskId ?? 0);
  if (t !== undefined) mut(st, t, () => note(st, t, 'scheduled', firedDetail(s, spec)));
  return id;
}

/** The story's scheduled step: which schedule, which slot, by hand or not. */
function firedDetail(s: Schedule, spec: TaskSpec): string {
  const slot = spec.headers?.[SCHEDULE_SLOT_HEADER] ?? '';
  return `schedule ${s.id}, slot ${slot}${spec.headers?.[SCHEDULE_MANUAL_HEADER] === 'true' ? ' (triggered by hand)' : ''}`;
}

/** Fires slot `slot` unless the limit is reached (then the schedule is done). */
function fire(st: MachineState, s: Schedule, slot: number): boolean {
  if (s.spec.limit !== undefined && s.runs >= s.spec.limit) {
    s.skipped++;
    finish(s);
    return false;
  }
  s.runs++;
  s.lastSlot = slot;
  enqueueRun(st, s, runSpec(s, slot, `schedule:${s.id}:${slot}`, false));
  if (s.spec.limit !== undefined && s.runs >= s.spec.limit) finish(s);
  return true;
}

function finish(s: Schedule): void {
  s.done = true;
  s.skipped += s.slots.length + (s.pendingLatest === null ? 0 : 1);
  s.slots = [];
  s.pendingLatest = null;
}

/** catchUp latest: the pending missed slot fires once no missed slot can precede the next one. */
function flushLatest(st: MachineState, s: Schedule): number {
  const p = s.pendingLatest;
  if (p === null) return 0;
  s.pendingLatest = null;
  return fire(st, s, p) ? 1 : 0;
}

function consumeMissed(st: MachineState, s: Schedule, slot: number): number {
  if (s.spec.catchUp === 'all') return fire(st, s, slot) ? 1 : 0;
  s.skipped++;
  if (s.spec.catchUp === 'latest') {
    // The previous pending one is skipped instead (counted above): only the latest runs.
    if (s.pendingLatest === null) s.skipped--;
    s.pendingLatest = slot;
  }
  return 0;
}

/** Handles the due slots of one schedule, at most `max` runs. */
function process(st: MachineState, s: Schedule, max: number): number {
  let fired = 0;
  for (let slot = s.slots[0]; slot !== undefined && fired < max; slot = s.slots[0]) {
    if (fireAt(s, slot) > st.wall) break;
    const late = missed(st, s, slot);
    s.slots.shift();
    if (late) {
      fired += consumeMissed(st, s, slot);
      continue;
    }
    fired += flushLatest(st, s);
    if (fire(st, s, slot)) fired++;
  }
  const next = s.slots[0];
  const known = next === undefined ? s.done : !missed(st, s, next);
  if (fired < max && known) fired += flushLatest(st, s);
  return fired;
}

/** Before an entry's commands: every schedule due at its wall stamp, in (due, queue, id) order. */
export function runSchedules(st: MachineState): void {
  const heap = st.schedules.due;
  const first = heap.peek();
  if (first === undefined || first.due > st.wall) return; // the common case: nothing due, nothing allocated
  const due: Schedule[] = [];
  for (let s = heap.peek(); s !== undefined && s.due <= st.wall; s = heap.peek()) due.push(heap.pop() as Schedule);
  let budget = SCHEDULE_FIRES_PER_ENTRY_MAX;
  for (const s of due) {
    touch(st, s, () => {
      if (budget > 0) budget -= process(st, s, Math.min(budget, s.spec.catchUpMax));
    });
  }
}

// ------------------------------------------------------------------ commands

function stored(cmd: CommandOf<'upsertSchedule'>, prev: Schedule | undefined): StoredSpec {
  const { type: _t, queue: _q, id: _i, ...rest } = cmd;
  const spec: StoredSpec = {
    ...rest,
    task: { ...cmd.task, payload: copyBytes(cmd.task.payload) },
    catchUp: cmd.catchUp ?? SCHEDULE_DEFAULT_OPTIONS.catchUp,
    catchUpMax: cmd.catchUpMax ?? SCHEDULE_DEFAULT_OPTIONS.catchUpMax,
    graceMs: cmd.graceMs ?? SCHEDULE_DEFAULT_OPTIONS.graceMs,
    jitterMs: cmd.jitterMs ?? SCHEDULE_DEFAULT_OPTIONS.jitterMs,
    // Absent: an update keeps the schedule paused or running as it is.
    paused: cmd.paused ?? prev?.spec.paused ?? false,
  };
  if (spec.cron !== undefined && spec.tz === undefined) spec.tz = SCHEDULE_DEFAULT_OPTIONS.tz;
  return spec;
}

function restart(st: MachineState, s: Schedule): void {
  s.gen = st.index;
  s.anchor = st.wall;
  s.through = s.spec.startAt !== undefined ? s.spec.startAt - 1 : st.wall;
  s.slots = [];
  s.done = false;
  s.runs = 0;
  s.pendingLatest = null;
}

export function upsertSchedule(st: MachineState, cmd: CommandOf<'upsertSchedule'>): Answer {
  const book = st.schedules;
  const prev = book.map.get(scheduleKey(cmd.queue, cmd.id));
  const spec = stored(cmd, prev);
  if (prev === undefined) {
    if (book.map.size >= SCHEDULES_MAX)
      return err('RESOURCE_EXHAUSTED', `${SCHEDULES_MAX} schedules already held`, { limit: 'schedulesMax' });
    const s = new Schedule(cmd.queue, cmd.id, spec, st.wall);
    s.gen = st.index;
    book.map.set(s.key, s);
    placeSchedule(st, s);
    return ok({ created: true });
  }
  touch(st, prev, () => {
    const timing = TIMING.some((k) => prev.spec[k] !== spec[k]);
    const resumed = prev.spec.paused && !spec.paused;
    prev.spec = spec;
    if (timing) restart(st, prev);
    if (resumed) prev.resumedAt = st.wall;
  });
  return ok({ created: false });
}

function notFound(queue: string, id: string): Answer {
  return err('NOT_FOUND', `no schedule ${id} in queue ${queue}`, { field: 'id' });
}

export function deleteSchedule(st: MachineState, queue: string, id: string): Answer {
  const book = st.schedules;
  const s = book.map.get(scheduleKey(queue, id));
  if (s === undefined) return notFound(queue, id);
  st.sum.subPair(s.ha, s.hb);
  if (s.pos >= 0) book.due.remove(s);
  book.map.delete(s.key);
  return ok({});
}

export function pauseSchedule(st: MachineState, queue: string, id: string, paused: boolean): Answer {
  const s = st.schedules.map.get(scheduleKey(queue, id));
  if (s === undefined) return notFound(queue, id);
  if (s.spec.paused === paused) return ok({});
  touch(st, s, () => {
    s.spec = { ...s.spec, paused };
    if (!paused) s.resumedAt = st.wall;
  });
  return ok({});
}

/** A run now, beside the slots (not counted in runs or the limit). */
export function triggerSchedule(st: MachineState, queue: string, id: string): Answer {
  const s = st.schedules.map.get(scheduleKey(queue, id));
  if (s === undefined) return notFound(queue, id);
  let taskId: string | null = null;
  touch(st, s, () => {
    s.manualRuns++;
    taskId = enqueueRun(st, s, runSpec(s, st.wall, `schedule:${id}:manual:${s.manualRuns}`, true));
  });
  return taskId === null ? err('FAILED_PRECONDITION', s.lastError ?? 'enqueue refused') : ok({ taskId });
}

/** The leader's slot instants: accepted only for the generation and horizon they were computed from. */
export function scheduleSlots(st: MachineState, cmd: CommandOf<'scheduleSlots'>): Answer {
  const s = st.schedules.map.get(scheduleKey(cmd.queue, cmd.id));
  if (s === undefined) return notFound(cmd.queue, cmd.id);
  if (cmd.gen !== s.gen || cmd.after !== s.through || s.done)
    return err('FAILED_PRECONDITION', 'stale schedule slots', { reason: 'stale_slots' });
  touch(st, s, () => {
    const end = s.spec.endAt;
    for (const at of cmd.instants) {
      if (end !== undefined && at >= end) {
        s.done = true;
        break;
      }
      s.slots.push(at);
      s.through = at;
    }
    if (cmd.done) s.done = true;
  });
  return ok({});
}

// ------------------------------------------------------------------ reads

export function scheduleView(s: Schedule): ScheduleView {
  const { task, ...spec } = s.spec;
  const v: ScheduleView = {
    queue: s.queue,
    id: s.id,
    ...spec,
    task: { ...task },
    done: s.done && s.slots.length === 0 && s.pendingLatest === null,
    runs: s.runs,
    skipped: s.skipped,
    failed: s.failed,
    nextRuns: s.slots.slice(0, 5),
  };
  if (s.lastSlot !== null) v.lastSlot = s.lastSlot;
  if (s.lastTaskId !== null) v.lastTaskId = formatId(s.lastTaskId);
  if (s.lastError !== null) v.lastError = s.lastError;
  return v;
}

export function readSchedule(st: MachineState, queue: string, id: string): Answer {
  const s = st.schedules.map.get(scheduleKey(queue, id));
  return s === undefined ? notFound(queue, id) : ok(scheduleView(s));
}

/** Every schedule (of one queue), by (queue, id). */
export function readSchedules(st: MachineState, queue?: string): Answer {
  const all = [...st.schedules.map.values()].filter((s) => queue === undefined || s.queue === queue);
  all.sort((a, b) => (a.queue !== b.queue ? (a.queue < b.queue ? -1 : 1) : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return ok(all.map(scheduleView));
}

/** What the leader needs to refill a schedule's slots (schedule-feeder.ts). */
export interface SlotNeed {
  queue: string;
  id: string;
  gen: number;
  after: number;
  /** Recorded slots not yet handled. */
  recorded: number;
  cron?: string;
  tz?: string;
  everyMs?: number;
  /** everyMs: slots are anchor + k·everyMs. */
  anchor: number;
  endAt?: number;
}

/** Running schedules holding fewer than `low` recorded slots (paused and done ones need none). */
export function slotNeeds(st: MachineState, low: number): SlotNeed[] {
  const out: SlotNeed[] = [];
  for (const s of st.schedules.map.values()) {
    if (s.done || s.spec.paused || s.slots.length >= low) continue;
    const n: SlotNeed = { queue: s.queue, id: s.id, gen: s.gen, after: s.through, recorded: s.slots.length, anchor: 0 };
    if (s.spec.cron !== undefined) n.cron = s.spec.cron;
    if (s.spec.tz !== undefined) n.tz = s.spec.tz;
    if (s.spec.everyMs !== undefined) n.everyMs = s.spec.everyMs;
    n.anchor = s.spec.startAt ?? s.anchor;
    if (s.spec.endAt !== undefined) n.endAt = s.spec.endAt;
    out.push(n);
  }
  return out;
}

// ------------------------------------------------------------------ snapshot

/** A schedule as a snapshot row (plain msgpack values). */
export function scheduleRow(s: Schedule): unknown[] {
  return [
    s.queue,
    s.id,
    s.spec,
    s.anchor,
    s.gen,
    s.through,
    s.slots,
    s.done,
    [s.runs, s.skipped, s.failed, s.manualRuns],
    s.pendingLatest,
    s.resumedAt,
    s.lastSlot,
    s.lastTaskId,
    s.lastError,
  ];
}

/** Restores snapshot rows (their hashes enter the digest sum, due ones the heap). */
export function restoreSchedules(st: MachineState, rows: unknown[][]): void {
  for (const row of rows) {
    const [
      queue,
      id,
      spec,
      anchor,
      gen,
      through,
      slots,
      done,
      counts,
      pending,
      resumedAt,
      lastSlot,
      lastTask,
      lastError,
    ] = row as [
      string,
      string,
      StoredSpec,
      number,
      number,
      number,
      number[],
      boolean,
      number[],
      number | null,
      number,
      number | null,
      number | null,
      string | null,
    ];
    const s = new Schedule(
      queue,
      id,
      { ...spec, task: { ...spec.task, payload: copyBytes(spec.task.payload) } },
      anchor,
    );
    s.gen = gen;
    s.through = through;
    s.slots = [...slots];
    s.done = done;
    [s.runs, s.skipped, s.failed, s.manualRuns] = counts as [number, number, number, number];
    s.pendingLatest = pending;
    s.resumedAt = resumedAt;
    s.lastSlot = lastSlot;
    s.lastTaskId = lastTask;
    s.lastError = lastError;
    st.schedules.map.set(s.key, s);
    placeSchedule(st, s);
  }
}
