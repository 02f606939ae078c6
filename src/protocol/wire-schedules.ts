// The schedule part of the client wire contract (client.proto "schedules"): the commands' entries,
// spread into COMMAND_WIRE (wire.ts), and the reads', spread into READ_WIRE (wire-reads.ts). Their
// Submit oneof fields are numbered 200..204 in client.proto.
import type { AsOf } from './commands.js';
import type { ScheduleTask, ScheduleView } from './schedules.js';
import {
  asArray,
  asNumber,
  asObject,
  asOptionalNumber,
  asOptionalString,
  asString,
  asStringMap,
  asBytes,
  type Message,
} from './wire-values.js';

type Decoded<T> =
  { ok: true; value: T } | { ok: false; error: { code: 'INVALID_ARGUMENT'; message: string; field: string } };

/** What the schedule commands answer (beside the entry's index). */
export interface ScheduleAnswers {
  upsertSchedule: { created: boolean };
  deleteSchedule: object;
  pauseSchedule: object;
  resumeSchedule: object;
  triggerSchedule: { taskId: string };
}

export type ScheduleReadMethod = 'GetSchedule' | 'ListSchedules';

export interface ScheduleReadReplies {
  GetSchedule: { schedule: ScheduleView };
  ListSchedules: { schedules: ScheduleView[] };
}

const SPEC_FIELDS = [
  'cron',
  'tz',
  'everyMs',
  'startAt',
  'endAt',
  'limit',
  'catchUp',
  'catchUpMax',
  'graceMs',
  'jitterMs',
  'paused',
] as const;
const TASK_FIELDS = ['priority', 'ttlMs', 'maxAttempts', 'maxDeliveries', 'leaseMs', 'group', 'key', 'cost'] as const;

function present(v: unknown): boolean {
  return v !== undefined && v !== null;
}

function pick(into: Message, from: Message, names: readonly string[]): Message {
  for (const n of names) if (present(from[n])) into[n] = from[n];
  return into;
}

function ok<T>(value: T): Decoded<T> {
  return { ok: true, value };
}

/** A template from the wire: empty headers are absent (proto3 maps have no "unset"). */
function taskFromWire(v: unknown): Message {
  const t = asObject(v);
  const out = pick({ payload: asBytes(t['payload']) }, t, TASK_FIELDS);
  if (Object.keys(asObject(t['headers'])).length > 0) out['headers'] = asStringMap(t['headers']);
  return out;
}

function fieldsOf(cmd: object): Message {
  const { type: _type, ...fields } = cmd as Message;
  return { ...fields };
}

const done = {
  fromMachine: (_cmd: unknown, _value: unknown, meta: { index: number }) => ({ index: meta.index }),
  encode: (a: { index: number }): Message => ({ index: a.index }),
  decode: (m: Message) => ({ index: asNumber(m['index']) }),
};

function byRef(type: 'deleteSchedule' | 'pauseSchedule' | 'resumeSchedule' | 'triggerSchedule') {
  return {
    encode: fieldsOf,
    decode: (r: Message): Decoded<Message> => ok({ type, queue: r['queue'], id: r['id'] }),
  };
}

export const SCHEDULE_COMMAND_WIRE = {
  upsertSchedule: {
    method: 'UpsertSchedule',
    field: 'upsertSchedule',
    request: {
      encode: fieldsOf,
      decode: (r: Message): Decoded<Message> =>
        ok(
          pick(
            { type: 'upsertSchedule', queue: r['queue'], id: r['id'], task: taskFromWire(r['task']) },
            r,
            SPEC_FIELDS,
          ),
        ),
    },
    reply: {
      fromMachine: (_cmd: unknown, value: unknown, meta: { index: number }) => ({
        created: asObject(value)['created'] === true,
        index: meta.index,
      }),
      encode: (a: { created: boolean; index: number }): Message => ({ created: a.created, index: a.index }),
      decode: (m: Message) => ({ created: m['created'] === true, index: asNumber(m['index']) }),
    },
  },
  deleteSchedule: { method: 'DeleteSchedule', field: 'deleteSchedule', request: byRef('deleteSchedule'), reply: done },
  pauseSchedule: { method: 'PauseSchedule', field: 'pauseSchedule', request: byRef('pauseSchedule'), reply: done },
  resumeSchedule: { method: 'ResumeSchedule', field: 'resumeSchedule', request: byRef('resumeSchedule'), reply: done },
  triggerSchedule: {
    method: 'TriggerSchedule',
    field: 'triggerSchedule',
    request: byRef('triggerSchedule'),
    reply: {
      fromMachine: (_cmd: unknown, value: unknown, meta: { index: number }) => ({
        taskId: asString(asObject(value)['taskId']),
        index: meta.index,
      }),
      encode: (a: { taskId: string; index: number }): Message => ({ taskId: a.taskId, index: a.index }),
      decode: (m: Message) => ({ taskId: asString(m['taskId']), index: asNumber(m['index']) }),
    },
  },
} as const;

// ---- reads ----

const QUEUE = /^[A-Za-z0-9._:/-]{1,128}$/;
const ID = /^[A-Za-z0-9._:/-]{1,100}$/;

function invalid(field: string, message: string): Decoded<never> {
  return { ok: false, error: { code: 'INVALID_ARGUMENT', message: `${field} ${message}`, field } };
}

function scheduleTaskFromWire(v: unknown): ScheduleTask {
  const t = taskFromWire(v);
  return t as unknown as ScheduleTask;
}

/** Lenient and total, as every SDK-side decoder. */
export function scheduleFromWire(v: unknown): ScheduleView {
  const o = asObject(v);
  const out: ScheduleView = {
    queue: asString(o['queue']),
    id: asString(o['id']),
    catchUp: (asOptionalString(o['catchUp']) ?? 'latest') as ScheduleView['catchUp'],
    catchUpMax: asNumber(o['catchUpMax']),
    graceMs: asNumber(o['graceMs']),
    jitterMs: asNumber(o['jitterMs']),
    paused: o['paused'] === true,
    done: o['done'] === true,
    runs: asNumber(o['runs']),
    skipped: asNumber(o['skipped']),
    failed: asNumber(o['failed']),
    nextRuns: asArray(o['nextRuns']).map(asNumber),
    task: scheduleTaskFromWire(o['task']),
  };
  for (const k of ['cron', 'tz', 'lastTaskId', 'lastError'] as const) {
    const s = asOptionalString(o[k]);
    if (s !== undefined) out[k] = s;
  }
  for (const k of ['everyMs', 'startAt', 'endAt', 'limit', 'lastSlot'] as const) {
    const n = asOptionalNumber(o[k]);
    if (n !== undefined) out[k] = n;
  }
  return out;
}

function asOfFromWire(v: unknown): AsOf {
  const o = asObject(v);
  return { index: asNumber(o['index']), mono: asNumber(o['mono']), wall: asNumber(o['wall']) };
}

type Query = { type: 'schedule'; queue: string; id: string } | { type: 'schedules'; queue?: string };

export const SCHEDULE_READ_WIRE = {
  GetSchedule: {
    request: {
      encode: (q: { type: string; queue?: string; id?: string }): Message => ({ queue: q.queue, id: q.id }),
      decode: (r: Message): Decoded<Query> => {
        if (typeof r['queue'] !== 'string' || !QUEUE.test(r['queue']))
          return invalid('queue', 'must be a queue name of 1..128 characters [A-Za-z0-9._:/-]');
        if (typeof r['id'] !== 'string' || !ID.test(r['id']))
          return invalid('id', 'must be a schedule id of 1..100 characters [A-Za-z0-9._:/-]');
        return ok({ type: 'schedule', queue: r['queue'], id: r['id'] });
      },
    },
    reply: {
      encode: (value: unknown, asOf: AsOf): Message => ({ asOf, schedule: value }),
      decode: (m: Message) => ({ schedule: scheduleFromWire(m['schedule']), asOf: asOfFromWire(m['asOf']) }),
    },
  },
  ListSchedules: {
    request: {
      encode: (q: { type: string; queue?: string }): Message => (q.queue === undefined ? {} : { queue: q.queue }),
      decode: (r: Message): Decoded<Query> => {
        const queue = r['queue'];
        if (!present(queue) || queue === '') return ok({ type: 'schedules' });
        if (typeof queue !== 'string' || !QUEUE.test(queue))
          return invalid('queue', 'must be a queue name of 1..128 characters [A-Za-z0-9._:/-]');
        return ok({ type: 'schedules', queue });
      },
    },
    reply: {
      encode: (value: unknown, asOf: AsOf): Message => ({ asOf, schedules: asArray(value) }),
      decode: (m: Message) => ({
        schedules: asArray(m['schedules']).map(scheduleFromWire),
        asOf: asOfFromWire(m['asOf']),
      }),
    },
  },
} as const;
