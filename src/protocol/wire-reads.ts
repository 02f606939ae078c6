// The read half of the client wire contract (client.proto): each read method's request and reply
// codecs, plus WaitFor and the Events stream. One table for the server and the SDK.
import type { AsOf, KeyPage, QueueStats, ReadQuery, TaskEvent, TaskState, TaskView } from './commands.js';
import { TASK_STATES } from './commands.js';
import { parseId } from './codec.js';
import {
  asArray,
  asNumber,
  asObject,
  asOptionalString,
  eventFromWire,
  statsFromWire,
  taskViewFromWire,
  type Message,
} from './wire-values.js';
import type { Decoded } from './wire.js';
import { LIST_KEYS_WIRE, statsToWire } from './wire-limits.js';
import { SCHEDULE_READ_WIRE, type ScheduleReadMethod, type ScheduleReadReplies } from './wire-schedules.js';
import {
  SHARED_LIMIT_READ_WIRE,
  type SharedLimitReadMethod,
  type SharedLimitReadReplies,
} from './wire-limits-shared.js';

export type ReadMethod =
  | 'GetTask'
  | 'ListTasks'
  | 'ListDeadLetters'
  | 'QueueStats'
  | 'ListQueues'
  | 'ListKeys'
  | ScheduleReadMethod
  | SharedLimitReadMethod;

export interface TaskPage {
  items: TaskView[];
  nextCursor: string | null;
}

interface ReadReplies extends ScheduleReadReplies, SharedLimitReadReplies {
  GetTask: { task: TaskView };
  ListTasks: TaskPage;
  ListDeadLetters: TaskPage;
  QueueStats: { stats: QueueStats };
  ListQueues: { queues: Message[] };
  ListKeys: KeyPage;
}

/** What a read's reply carries: its answer and the applied state it was read at. */
export type ReadReplyOf<M extends ReadMethod> = ReadReplies[M] & { asOf: AsOf };

export interface ReadWire<M extends ReadMethod> {
  request: {
    encode(query: ReadQuery): Message;
    /** Server: the query of a request, checked (names, ids, cursors, limits). */
    decode(req: Message): Decoded<ReadQuery>;
  };
  reply: {
    /** Server: the state machine's read value as this method's reply. */
    encode(value: unknown, asOf: AsOf): Message;
    /** SDK: lenient and total. */
    decode(reply: Message): ReadReplyOf<M>;
  };
}

const NAME = /^[A-Za-z0-9._:/-]{1,128}$/;
export const CURSOR_MAX = 1024;
export const READ_LIMIT_MAX = 1000;

function invalid(
  field: string,
  message: string,
): { ok: false; error: { code: 'INVALID_ARGUMENT'; message: string; field: string } } {
  return { ok: false, error: { code: 'INVALID_ARGUMENT', message: `${field} ${message}`, field } };
}

/** A queue name field, checked. */
export function decodeQueueName(r: Message, field = 'queue'): Decoded<string> {
  const q = r[field];
  if (typeof q !== 'string' || !NAME.test(q))
    return invalid(field, 'must be a queue name of 1..128 characters [A-Za-z0-9._:/-]');
  return { ok: true, value: q };
}

/** A task id field, checked. */
export function decodeTaskId(r: Message): Decoded<string> {
  const id = r['id'];
  if (parseId(id) === null) return invalid('id', 'must be a decimal id string');
  return { ok: true, value: id as string };
}

function decodePage(r: Message): Decoded<{ cursor?: string; limit?: number }> {
  const out: { cursor?: string; limit?: number } = {};
  const cursor = r['cursor'];
  if (cursor !== undefined && cursor !== null) {
    if (typeof cursor !== 'string' || cursor.length > CURSOR_MAX)
      return invalid('cursor', `must be at most ${CURSOR_MAX} characters`);
    out.cursor = cursor;
  }
  const limit = r['limit'];
  if (limit !== undefined && limit !== null) {
    if (typeof limit !== 'number' || limit < 1 || limit > READ_LIMIT_MAX)
      return invalid('limit', `must be in [1, ${READ_LIMIT_MAX}]`);
    out.limit = limit;
  }
  return { ok: true, value: out };
}

function encodePage(q: { cursor?: string; limit?: number }, into: Message): Message {
  if (q.cursor !== undefined) into['cursor'] = q.cursor;
  if (q.limit !== undefined) into['limit'] = q.limit;
  return into;
}

/** A list answered either bare or under `key`. */
function listOf(v: unknown, key: string): unknown[] {
  return Array.isArray(v) ? v : asArray(asObject(v)[key]);
}

function asOfFromWire(v: unknown): AsOf {
  const o = asObject(v);
  return { index: asNumber(o['index']), mono: asNumber(o['mono']), wall: asNumber(o['wall']) };
}

const pageReply = {
  encode: (value: unknown, asOf: AsOf): Message => {
    const out: Message = { asOf, items: listOf(value, 'items') };
    const next = asObject(value)['nextCursor'];
    if (typeof next === 'string') out['nextCursor'] = next;
    return out;
  },
  decode: (m: Message): TaskPage & { asOf: AsOf } => ({
    items: asArray(m['items']).map(taskViewFromWire),
    nextCursor: asOptionalString(m['nextCursor']) ?? null,
    asOf: asOfFromWire(m['asOf']),
  }),
};

/** A query's fields as a request (its type is the method). */
function fieldsOf(q: ReadQuery): Message {
  const { type: _type, ...rest } = q;
  return { ...rest };
}

function queueQuery(paged: boolean, r: Message): Decoded<ReadQuery> {
  const queue = decodeQueueName(r);
  if (!queue.ok) return queue;
  if (!paged) return { ok: true, value: { type: 'stats', queue: queue.value } };
  const page = decodePage(r);
  return page.ok ? { ok: true, value: { type: 'deadLetters', queue: queue.value, ...page.value } } : page;
}

export const READ_WIRE: { readonly [M in ReadMethod]: ReadWire<M> } = {
  GetTask: {
    request: {
      encode: fieldsOf,
      decode: (r) => {
        const id = decodeTaskId(r);
        return id.ok ? { ok: true, value: { type: 'task', id: id.value } } : id;
      },
    },
    reply: {
      encode: (value, asOf) => ({ asOf, task: value }),
      decode: (m) => ({ task: taskViewFromWire(m['task']), asOf: asOfFromWire(m['asOf']) }),
    },
  },
  ListTasks: {
    request: {
      encode: (q) => (q.type === 'list' ? encodePage(q, { queue: q.queue, state: q.state }) : fieldsOf(q)),
      decode: (r) => {
        const state = r['state'] === '' || r['state'] === undefined ? 'waiting' : r['state'];
        if (!TASK_STATES.includes(state as TaskState))
          return invalid('state', `must be one of ${TASK_STATES.join(', ')}`);
        const queue = decodeQueueName(r);
        if (!queue.ok) return queue;
        const page = decodePage(r);
        if (!page.ok) return page;
        return { ok: true, value: { type: 'list', queue: queue.value, state: state as TaskState, ...page.value } };
      },
    },
    reply: pageReply,
  },
  ListDeadLetters: {
    request: {
      encode: (q) => (q.type === 'deadLetters' ? encodePage(q, { queue: q.queue }) : fieldsOf(q)),
      decode: (r) => queueQuery(true, r),
    },
    reply: pageReply,
  },
  QueueStats: {
    request: { encode: fieldsOf, decode: (r) => queueQuery(false, r) },
    reply: {
      encode: (value, asOf) => ({ asOf, stats: statsToWire(value) }),
      decode: (m) => ({ stats: statsFromWire(m['stats']), asOf: asOfFromWire(m['asOf']) }),
    },
  },
  ListQueues: {
    request: { encode: () => ({}), decode: () => ({ ok: true, value: { type: 'queues' } }) },
    reply: {
      encode: (value, asOf) => ({
        asOf,
        queues: listOf(value, 'queues').map((q) => (typeof q === 'string' ? { queue: q } : statsToWire(q))),
      }),
      decode: (m) => ({ queues: asArray(m['queues']).map(asObject), asOf: asOfFromWire(m['asOf']) }),
    },
  },
  ListKeys: LIST_KEYS_WIRE,
  ...SCHEDULE_READ_WIRE,
  ...SHARED_LIMIT_READ_WIRE,
};

export const READ_METHODS = Object.keys(READ_WIRE) as ReadMethod[];

export function isReadMethod(method: string): method is ReadMethod {
  return Object.prototype.hasOwnProperty.call(READ_WIRE, method);
}

/** WaitFor: resolves with the task once terminal (a TaskReply, as GetTask). */
export const WAIT_FOR_WIRE = {
  request: {
    encode: (id: string, timeoutMs: number): Message => ({ id, timeoutMs }),
    decode: (r: Message): Decoded<{ id: string; timeoutMs: unknown }> => {
      const id = decodeTaskId(r);
      return id.ok ? { ok: true, value: { id: id.value, timeoutMs: r['timeoutMs'] } } : id;
    },
  },
  reply: READ_WIRE.GetTask.reply,
};

/** Events: the server stream of task events, optionally of one queue. */
export const EVENTS_WIRE = {
  request: {
    encode: (filter: { queue?: string }): Message => (filter.queue === undefined ? {} : { queue: filter.queue }),
    decode: (r: Message): Decoded<{ queue?: string }> => {
      if (r['queue'] === undefined || r['queue'] === null) return { ok: true, value: {} };
      const queue = decodeQueueName(r);
      return queue.ok ? { ok: true, value: { queue: queue.value } } : queue;
    },
  },
  message: {
    encode: (e: TaskEvent): Message => ({ ...e }),
    decode: eventFromWire,
  },
};
