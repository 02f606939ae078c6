// Reads (docs/design.md §3): task by id, list by queue and state with a cursor, dead letters, queue
// stats, queues, sessions. Derived fields (ages, expired leases) are computed at the asOf stamps.
// Reads are not on the apply path: a page scans its queue, O(queue length).

import { readSharedLimits } from './shared-limits-commands.js';
import type { Answer, AttemptRecord, ListPage, QueueStats, ReadQuery, TaskState, TaskView } from '../protocol/index.js';
import { TASK_STATES, formatId, parseId } from '../protocol/index.js';
import { customIdOf } from './custom-id.js';
import { isDedupKey } from './dedup.js';
import { readKeys } from './limits-reads.js';
import { readSchedule, readSchedules } from './schedules.js';
import { flowView } from './flows-reads.js';
import { storyView } from './story-view.js';
import type { MachineState } from './state.js';
import { S_DEAD, S_DELAYED, S_LEASED, S_WAITING, STATE_CODES, STATE_NAMES, TOTALS } from './records.js';
import type { Attempt, Queue, Task } from './records.js';
import { payloadBytes } from './payloads.js';

const PAGE_ITEMS_DEFAULT = 100;
const PAGE_ITEMS_MAX = 1000;

function attemptView(a: Attempt): AttemptRecord {
  const v: AttemptRecord = {
    token: formatId(a.token),
    workerId: a.worker,
    leasedMono: a.leasedMono,
    leasedWall: a.leasedWall,
    end: a.end as AttemptRecord['end'],
    endedMono: a.endedMono,
    error: a.error,
  };
  // The story (issue 15): a term is shown when known (entries applied without one record 0).
  if (a.leasedTerm) v.leasedTerm = a.leasedTerm;
  if (typeof a.endedIndex === 'number') v.endedIndex = a.endedIndex;
  if (a.endedTerm) v.endedTerm = a.endedTerm;
  return v;
}

export function taskView(m: MachineState, t: Task): TaskView {
  const x = t.x;
  const v: TaskView = {
    id: formatId(t.id),
    queue: t.q.name,
    state: STATE_NAMES[t.state] as TaskState,
    payload: payloadBytes(t),
    headers: t.headers ?? {},
    priority: t.priority,
    attempts: t.attempts,
    deliveries: t.deliveries,
    leases: t.leases,
    maxAttempts: x?.maxAttempts ?? t.q.settings.maxAttempts,
    maxDeliveries: x?.maxDeliveries ?? t.q.settings.maxDeliveries,
    enqueuedMono: t.enqMono,
    enqueuedWall: t.enqWall,
    history: (t.history ?? []).map(attemptView),
  };
  if (t.reason !== undefined) v.reason = t.reason;
  if (t.endedMono !== undefined) v.endedMono = t.endedMono;
  if (t.enqIndex !== undefined) v.enqueuedIndex = t.enqIndex;
  if (t.enqTerm) v.enqueuedTerm = t.enqTerm;
  if (t.endedIndex !== undefined) v.endedIndex = t.endedIndex;
  if (t.endedTerm) v.endedTerm = t.endedTerm;
  if (t.state === S_DELAYED) {
    v.runAt = x?.wallDue === true ? { clock: 'wall', at: t.dueWall } : { clock: 'mono', at: t.dueMono };
  }
  if (t.state === S_LEASED) {
    v.lease = {
      token: formatId(t.token),
      workerId: t.worker ?? '',
      deadlineMono: t.dueMono,
      expired: t.dueMono <= m.mono,
    };
  }
  if (x === undefined) return v;
  if (x.group !== undefined) v.group = x.group;
  if (x.key !== undefined && !isDedupKey(x.key)) v.idempotencyKey = x.key;
  if (x.limitKey !== undefined) v.key = x.limitKey;
  if (x.cost !== undefined) v.cost = x.cost;
  const customId = customIdOf(x.key);
  if (customId !== undefined && t.q.keys.get(x.key as string)?.id === t.id) v.customId = customId;
  if (x.progress !== undefined) v.progress = x.progress;
  if (x.checkpoint !== undefined) v.checkpoint = x.checkpoint;
  if (x.result !== undefined) v.result = x.result;
  if (x.lastError !== undefined) v.lastError = x.lastError;
  if (x.deadLetterOf !== undefined) {
    const d = x.deadLetterOf;
    v.deadLetterOf = { id: formatId(d.id), queue: d.queue, reason: d.reason, history: d.history.map(attemptView) };
  }
  if (x.deadLetterId !== undefined) v.deadLetterId = formatId(x.deadLetterId);
  if (x.redrivenFrom !== undefined) v.redrivenFrom = formatId(x.redrivenFrom);
  flowView(x, v);
  return v;
}

/** A read of one task carries its story (issue 15); list pages do not (their size stays small). */
function withStory(v: TaskView, t: Task): TaskView {
  const story = storyView(t);
  if (story.length > 0) v.story = story;
  return v;
}

/** Page order: priority descending, then id ascending; the cursor is the last (priority, id) seen. */
function page(
  m: MachineState,
  q: Queue,
  match: (t: Task) => boolean,
  cursor: string | undefined,
  limit: number | undefined,
): Answer {
  let after: [number, number] | null = null;
  if (cursor !== undefined) {
    const parts = typeof cursor === 'string' ? cursor.split(':') : [];
    const p = Number(parts[0]);
    const id = parseId(parts[1]);
    if (parts.length !== 2 || !Number.isSafeInteger(p) || id === null) {
      return { ok: false, error: { code: 'INVALID_ARGUMENT', message: 'bad cursor', field: 'cursor' } };
    }
    after = [p, id];
  }
  const n = Math.min(Math.max(1, limit ?? PAGE_ITEMS_DEFAULT), PAGE_ITEMS_MAX);
  const found: Task[] = [];
  for (let t = q.first; t !== null; t = t.qnext) {
    if (!match(t)) continue;
    if (after !== null && (t.priority > after[0] || (t.priority === after[0] && t.id <= after[1]))) continue;
    found.push(t);
  }
  found.sort((a, b) => (a.priority !== b.priority ? b.priority - a.priority : a.id - b.id));
  const items = found.slice(0, n);
  const last = items[items.length - 1];
  const nextCursor = found.length > n && last !== undefined ? `${last.priority}:${last.id}` : null;
  const out: ListPage = { items: items.map((t) => taskView(m, t)), nextCursor };
  return { ok: true, value: out };
}

function stats(m: MachineState, q: Queue): QueueStats {
  const counts = {} as Record<TaskState, number>;
  TASK_STATES.forEach((s) => (counts[s] = q.counts[STATE_CODES[s]] as number));
  let oldest: number | null = null;
  for (let t = q.first; t !== null; t = t.qnext) {
    if (t.state === S_WAITING) {
      oldest = m.mono - t.enqMono;
      break;
    }
  }
  const totals = {} as QueueStats['totals'];
  TOTALS.forEach((name, i) => (totals[name] = q.totals[i] as number));
  return { queue: q.name, counts, oldestWaitingAgeMs: oldest, totals, settings: q.settings };
}

function notFound(what: string): Answer {
  return { ok: false, error: { code: 'NOT_FOUND', message: `no ${what}` } };
}

export function read(m: MachineState, query: ReadQuery): Answer {
  switch (query.type) {
    case 'task': {
      const t = m.tasks.get(parseId(query.id) ?? 0);
      return t === undefined ? notFound(`task ${query.id}`) : { ok: true, value: withStory(taskView(m, t), t) };
    }
    case 'list': {
      const q = m.queues.get(query.queue);
      const code = STATE_CODES[query.state];
      if (code === undefined)
        return { ok: false, error: { code: 'INVALID_ARGUMENT', message: 'bad state', field: 'state' } };
      if (q === undefined) return notFound(`queue ${query.queue}`);
      return page(m, q, (t) => t.state === code, query.cursor, query.limit);
    }
    case 'deadLetters': {
      const q = m.queues.get(query.queue);
      if (q === undefined) return notFound(`queue ${query.queue}`);
      const match = (t: Task): boolean =>
        t.state === S_DEAD || ((t.state === S_WAITING || t.state === S_DELAYED) && t.x?.deadLetterOf !== undefined);
      return page(m, q, match, query.cursor, query.limit);
    }
    case 'stats': {
      const q = m.queues.get(query.queue);
      return q === undefined ? notFound(`queue ${query.queue}`) : { ok: true, value: stats(m, q) };
    }
    case 'queues': {
      const names = [...m.queues.keys()].sort();
      return { ok: true, value: { queues: names.map((n) => stats(m, m.queues.get(n) as Queue)) } };
    }
    case 'session': {
      const s = m.sessions.get(query.session);
      if (s === undefined || s.lastMono + s.timeoutMs <= m.mono) return notFound(`session ${query.session}`);
      const value = {
        session: s.id,
        floor: s.floor,
        outstanding: s.answers.size,
        expiresAtMono: s.lastMono + s.timeoutMs,
      };
      return { ok: true, value };
    }
    case 'keys':
      return readKeys(m, query.queue, query.cursor, query.limit);
    case 'schedule':
      return readSchedule(m, query.queue, query.id);
    case 'schedules':
      return readSchedules(m, query.queue);
    case 'sharedLimits':
      return readSharedLimits(m);
    default:
      return { ok: false, error: { code: 'INVALID_ARGUMENT', message: 'unknown read', field: 'type' } };
  }
}
