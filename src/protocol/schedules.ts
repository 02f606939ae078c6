// Schedules (issue 12): recurring tasks. The vocabulary (commands, reads, views) and the validators
// the state machine runs on apply. Cron expressions and time zones are only checked for shape here:
// replicas never evaluate them (their time-zone data may differ). The leader computes slot instants
// with croner (schedule-cron.ts) and writes them into the log with `scheduleSlots`; the node checks
// an expression with croner before proposing an upsert (checkScheduleProposal).
//
// This file imports nothing of validate.ts (no import cycle): validate.ts hands its field checkers in.

/** What to do with slots missed while the cluster had no quorum or the schedule was paused. */
export type CatchUp = 'none' | 'latest' | 'all';
export const CATCH_UPS: readonly CatchUp[] = ['none', 'latest', 'all'];

/** The task each run enqueues: an enqueue's task spec without its timing and deduplication fields. */
export interface ScheduleTask {
  payload: Uint8Array;
  headers?: Record<string, string>;
  priority?: number;
  ttlMs?: number;
  maxAttempts?: number;
  maxDeliveries?: number;
  leaseMs?: number;
  group?: string;
  key?: string;
  cost?: number;
}

/** A schedule as upsert sets it: exactly one of `cron` (with `tz`, default UTC) or `everyMs`. */
export interface ScheduleSpec {
  /** 5 fields (minute precision) or 6 (seconds first), croner syntax. */
  cron?: string;
  /** IANA time zone of `cron` (default "UTC"). */
  tz?: string;
  /** Fixed period in ms (≥ 1000), from `startAt` or from the upsert. */
  everyMs?: number;
  /** First slot at or after this wall instant (ms); absent: after the upsert. */
  startAt?: number;
  /** No slot at or after this wall instant (ms). */
  endAt?: number;
  /** Runs at most (slots fired; manual triggers do not count). */
  limit?: number;
  /** Missed slots: none (skipped), latest (one run for all of them, the default), all (each one). */
  catchUp?: CatchUp;
  /** Runs one schedule fires per log entry at most (catch-up after an outage is spread over entries). */
  catchUpMax?: number;
  /** A slot applied more than this after its time counts as missed (default 60 s). */
  graceMs?: number;
  /** Each slot fires up to this much after its instant, by a deterministic amount per slot. */
  jitterMs?: number;
  paused?: boolean;
  task: ScheduleTask;
}

export type ScheduleCommand =
  | ({ type: 'upsertSchedule'; queue: string; id: string } & ScheduleSpec)
  | { type: 'deleteSchedule'; queue: string; id: string }
  | { type: 'pauseSchedule'; queue: string; id: string }
  | { type: 'resumeSchedule'; queue: string; id: string }
  | { type: 'triggerSchedule'; queue: string; id: string }
  | {
      /** The leader's own: the next slot instants of a schedule, computed after `after` (its recorded horizon). */
      type: 'scheduleSlots';
      queue: string;
      id: string;
      /** The schedule's generation the instants were computed for (an upsert that changes timing bumps it). */
      gen: number;
      after: number;
      instants: number[];
      /** No slot exists after the last instant (a cron with a year field, say). */
      done: boolean;
    };

export type ScheduleQuery = { type: 'schedule'; queue: string; id: string } | { type: 'schedules'; queue?: string };

/** A schedule as reads show it. */
export interface ScheduleView extends ScheduleSpec {
  queue: string;
  id: string;
  catchUp: CatchUp;
  catchUpMax: number;
  graceMs: number;
  jitterMs: number;
  paused: boolean;
  /** No slot remains (endAt, limit, or the expression has no further time). */
  done: boolean;
  /** Slots fired, slots skipped (missed under the catch-up policy), runs whose enqueue was refused. */
  runs: number;
  skipped: number;
  failed: number;
  /** The next recorded slot instants (wall ms), at most 5, before jitter. */
  nextRuns: number[];
  lastSlot?: number;
  lastTaskId?: string;
  lastError?: string;
}

/** Headers every run's task carries. */
export const SCHEDULE_HEADER = 'x-raftq-schedule';
export const SCHEDULE_SLOT_HEADER = 'x-raftq-schedule-slot';
/** Set on runs started by triggerSchedule. */
export const SCHEDULE_MANUAL_HEADER = 'x-raftq-schedule-manual';

export const SCHEDULE_DEFAULT_OPTIONS = {
  tz: 'UTC',
  catchUp: 'latest',
  catchUpMax: 10,
  graceMs: 60_000,
  jitterMs: 0,
} as const;
export const SCHEDULE_ID_MAX = 100;
export const CRON_CHARS_MAX = 256;
export const EVERY_MS_MIN = 1000;
export const EVERY_MS_MAX = 366 * 86_400_000;
export const CATCH_UP_MAX_MAX = 1000;
export const GRACE_MS_MAX = 7 * 86_400_000;
export const JITTER_MS_MAX = 86_400_000;
/** Instants one scheduleSlots command carries at most. */
export const SLOTS_PER_COMMAND_MAX = 256;

const ID = /^[A-Za-z0-9._:/-]+$/;
const CRON = /^[0-9A-Za-z*,/\-?#+ ]+$/;
const TZ = /^[A-Za-z0-9_+\-/]{1,64}$/;

type Obj = Record<string, unknown>;

/** The field checkers of validate.ts (they throw its Invalid, which validateCommand turns into an answer). */
export interface FieldCheckers<L> {
  fail(field: string, message: string): never;
  own(o: Obj, k: string): unknown;
  name(o: Obj, k: string, path: string, limits: L): string;
  int(o: Obj, k: string, path: string, min: number, max: number, optional: true): number | undefined;
  bool(o: Obj, k: string, path: string): boolean | undefined;
  /** An enqueue's task spec, normalized. */
  taskSpec(v: unknown, path: string, limits: L): Record<string, unknown>;
  headersMax(limits: L): number;
}

const TEMPLATE_FIELDS = ['payload', 'headers', 'priority', 'ttlMs', 'maxAttempts', 'maxDeliveries', 'leaseMs'];
const TEMPLATE_EXTRA = ['group', 'key', 'cost'];
const NOT_IN_TEMPLATE = ['delayMs', 'runAt', 'idempotencyKey', 'dedup'];

function scheduleId(c: FieldCheckers<unknown>, o: Obj): string {
  const v = c.own(o, 'id');
  if (typeof v !== 'string' || v.length === 0 || v.length > SCHEDULE_ID_MAX || !ID.test(v))
    c.fail('id', `must be a schedule id of 1..${SCHEDULE_ID_MAX} characters [A-Za-z0-9._:/-]`);
  return v;
}

function template<L>(c: FieldCheckers<L>, v: unknown, limits: L): ScheduleTask {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) c.fail('task', 'must be a task template');
  for (const k of NOT_IN_TEMPLATE)
    if (c.own(v as Obj, k) !== undefined) c.fail(`task.${k}`, 'is not allowed in a schedule template');
  const spec = c.taskSpec(v, 'task', limits);
  const out: Obj = {};
  for (const k of [...TEMPLATE_FIELDS, ...TEMPLATE_EXTRA]) if (spec[k] !== undefined) out[k] = spec[k];
  const headers = (out['headers'] ?? {}) as Record<string, string>;
  // Room for the schedule's own headers on each run.
  if (Object.keys(headers).length > c.headersMax(limits) - 3)
    c.fail('task.headers', `at most ${c.headersMax(limits) - 3} headers in a schedule template`);
  for (const k of Object.keys(headers))
    if (k.startsWith('x-raftq-schedule')) c.fail(`task.headers.${k}`, 'is set by the schedule');
  return out as unknown as ScheduleTask;
}

function timing<L>(c: FieldCheckers<L>, o: Obj, out: Obj): void {
  const cron = c.own(o, 'cron');
  const every = c.int(o, 'everyMs', 'everyMs', EVERY_MS_MIN, EVERY_MS_MAX, true);
  if ((cron === undefined) === (every === undefined)) c.fail('cron', 'exactly one of cron and everyMs must be set');
  if (cron !== undefined) {
    if (typeof cron !== 'string' || cron.length > CRON_CHARS_MAX || !CRON.test(cron.trim()))
      c.fail('cron', `must be a cron expression of at most ${CRON_CHARS_MAX} characters`);
    const fields = cron.trim().split(/\s+/).length;
    if (fields !== 5 && fields !== 6) c.fail('cron', 'must have 5 or 6 fields');
    out['cron'] = cron.trim().split(/\s+/).join(' ');
    const tz = c.own(o, 'tz') ?? SCHEDULE_DEFAULT_OPTIONS.tz;
    if (typeof tz !== 'string' || !TZ.test(tz)) c.fail('tz', 'must be an IANA time zone name');
    out['tz'] = tz;
  } else {
    if (c.own(o, 'tz') !== undefined) c.fail('tz', 'only with cron');
    out['everyMs'] = every;
  }
  const startAt = c.int(o, 'startAt', 'startAt', 0, Number.MAX_SAFE_INTEGER, true);
  const endAt = c.int(o, 'endAt', 'endAt', 1, Number.MAX_SAFE_INTEGER, true);
  if (startAt !== undefined && endAt !== undefined && endAt <= startAt) c.fail('endAt', 'must be after startAt');
  const limit = c.int(o, 'limit', 'limit', 1, Number.MAX_SAFE_INTEGER, true);
  for (const [k, v] of [
    ['startAt', startAt],
    ['endAt', endAt],
    ['limit', limit],
  ] as const)
    if (v !== undefined) out[k] = v;
}

function upsert<L>(c: FieldCheckers<L>, o: Obj, limits: L): ScheduleCommand {
  const out: Obj = { type: 'upsertSchedule', queue: c.name(o, 'queue', 'queue', limits), id: scheduleId(c, o) };
  timing(c, o, out);
  const catchUp = c.own(o, 'catchUp');
  if (catchUp !== undefined) {
    if (!CATCH_UPS.includes(catchUp as CatchUp)) c.fail('catchUp', `must be one of ${CATCH_UPS.join(', ')}`);
    out['catchUp'] = catchUp;
  }
  const ints: [string, number, number][] = [
    ['catchUpMax', 1, CATCH_UP_MAX_MAX],
    ['graceMs', 0, GRACE_MS_MAX],
    ['jitterMs', 0, JITTER_MS_MAX],
  ];
  for (const [k, min, max] of ints) {
    const v = c.int(o, k, k, min, max, true);
    if (v !== undefined) out[k] = v;
  }
  const paused = c.bool(o, 'paused', 'paused');
  if (paused !== undefined) out['paused'] = paused;
  out['task'] = template(c, c.own(o, 'task'), limits);
  return out as unknown as ScheduleCommand;
}

function slots<L>(c: FieldCheckers<L>, o: Obj, limits: L): ScheduleCommand {
  const after = c.int(o, 'after', 'after', -1, Number.MAX_SAFE_INTEGER, true) ?? c.fail('after', 'is required');
  const raw = c.own(o, 'instants');
  if (!Array.isArray(raw) || raw.length > SLOTS_PER_COMMAND_MAX)
    c.fail('instants', `must be a list of at most ${SLOTS_PER_COMMAND_MAX} instants`);
  let prev = after;
  const instants = raw.map((v, i) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= prev)
      c.fail(`instants[${i}]`, 'must be increasing integers after `after`');
    prev = v;
    return v;
  });
  const done = c.bool(o, 'done', 'done') ?? false;
  if (instants.length === 0 && !done) c.fail('instants', 'must not be empty unless done');
  return {
    type: 'scheduleSlots',
    queue: c.name(o, 'queue', 'queue', limits),
    id: scheduleId(c, o),
    gen: c.int(o, 'gen', 'gen', 0, Number.MAX_SAFE_INTEGER, true) ?? c.fail('gen', 'is required'),
    after,
    instants,
    done,
  };
}

type ScheduleType = ScheduleCommand['type'];

/** The validators of the schedule commands, over validate.ts's field checkers. */
export function scheduleValidators<L>(
  c: FieldCheckers<L>,
): Record<ScheduleType, (o: Obj, limits: L) => ScheduleCommand> {
  const ref =
    (type: 'deleteSchedule' | 'pauseSchedule' | 'resumeSchedule' | 'triggerSchedule') =>
    (o: Obj, l: L): ScheduleCommand => ({ type, queue: c.name(o, 'queue', 'queue', l), id: scheduleId(c, o) });
  return {
    upsertSchedule: (o, l) => upsert(c, o, l),
    deleteSchedule: ref('deleteSchedule'),
    pauseSchedule: ref('pauseSchedule'),
    resumeSchedule: ref('resumeSchedule'),
    triggerSchedule: ref('triggerSchedule'),
    scheduleSlots: (o, l) => slots(c, o, l),
  };
}

/** A schedule read's query, checked (the read wire's decoder). Null: the query is fine. */
export function scheduleQueryError(q: { queue?: unknown; id?: unknown }, needId: boolean): string | null {
  if (q.queue !== undefined && (typeof q.queue !== 'string' || !/^[A-Za-z0-9._:/-]{1,128}$/.test(q.queue)))
    return 'queue';
  if (needId && (typeof q.id !== 'string' || q.id.length === 0 || q.id.length > SCHEDULE_ID_MAX || !ID.test(q.id)))
    return 'id';
  return null;
}
