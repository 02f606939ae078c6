// client.schedules: recurring tasks (docs/schedules.md). Upsert creates or replaces a schedule in one
// call (like BullMQ's upsertJobScheduler); each run enqueues one task whose headers carry the schedule
// id (x-raftq-schedule) and slot (x-raftq-schedule-slot, ISO 8601 UTC).
import type { ScheduleSpec, ScheduleTask, ScheduleView } from '../protocol/schedules.js';
import { SCHEDULE_HEADER, SCHEDULE_MANUAL_HEADER, SCHEDULE_SLOT_HEADER } from '../protocol/schedules.js';
import type { CallOptions, Client, ReadConsistency } from './client.js';
import { decodePayload, encodePayload, RESERVED_HEADER_PREFIX, userHeaders } from './codec.js';
import { raftqError } from './errors.js';

export { SCHEDULE_HEADER, SCHEDULE_MANUAL_HEADER, SCHEDULE_SLOT_HEADER };

/** A schedule as upsert takes it: the timing of ScheduleSpec, and the task each run enqueues. */
export interface ScheduleOptions<T = unknown> extends Omit<ScheduleSpec, 'task' | 'startAt' | 'endAt'> {
  /** First slot at or after this instant. */
  startAt?: Date | number;
  /** No slot at or after this instant. */
  endAt?: Date | number;
  /** The payload of every run (encoded with the client's codec). */
  payload: T;
  /** The run tasks' options. */
  task?: Omit<ScheduleTask, 'payload'>;
}

/** A schedule as reads show it, its payload decoded. */
export interface Schedule<T = unknown> extends Omit<ScheduleView, 'task'> {
  payload: T;
  task: Omit<ScheduleTask, 'payload'>;
}

type ReadOptions = CallOptions & { consistency?: ReadConsistency };

function instant(v: Date | number | undefined): number | undefined {
  return v instanceof Date ? v.getTime() : v;
}

export class Schedules {
  constructor(private readonly client: Client) {}

  /** Creates the schedule, or replaces an existing one's settings (created false). */
  async upsert<T>(
    queue: string,
    id: string,
    options: ScheduleOptions<T>,
    call: CallOptions = {},
  ): Promise<{ created: boolean }> {
    const { payload, task, startAt, endAt, ...timing } = options;
    for (const k of Object.keys(task?.headers ?? {})) {
      if (k.startsWith(RESERVED_HEADER_PREFIX))
        throw raftqError('INVALID_ARGUMENT', `task.headers.${k}: the raftq- prefix is reserved`, {
          field: `task.headers.${k}`,
        });
    }
    const encoded = encodePayload(payload, this.client);
    const headers = { ...task?.headers, ...encoded.headers };
    const spec: ScheduleTask = { ...task, payload: encoded.payload };
    if (Object.keys(headers).length > 0) spec.headers = headers;
    else delete spec.headers;
    const cmd = { type: 'upsertSchedule' as const, queue, id, ...timing, task: spec };
    const start = instant(startAt);
    const end = instant(endAt);
    const full = {
      ...cmd,
      ...(start === undefined ? {} : { startAt: start }),
      ...(end === undefined ? {} : { endAt: end }),
    };
    const { answer } = await this.client.command(full, { ...call, idempotent: true });
    return { created: answer.created };
  }

  async get<T = unknown>(queue: string, id: string, options: ReadOptions = {}): Promise<Schedule<T>> {
    const reply = await this.client.read('GetSchedule', { type: 'schedule', queue, id }, options);
    return this.decode<T>(reply.schedule);
  }

  /** Every schedule of `queue` (or of every queue), by queue and id, each with its next 5 run times. */
  async list<T = unknown>(queue?: string, options: ReadOptions = {}): Promise<Schedule<T>[]> {
    const query = queue === undefined ? { type: 'schedules' as const } : { type: 'schedules' as const, queue };
    const reply = await this.client.read('ListSchedules', query, options);
    return reply.schedules.map((s) => this.decode<T>(s));
  }

  async pause(queue: string, id: string, call: CallOptions = {}): Promise<void> {
    await this.client.command({ type: 'pauseSchedule', queue, id }, { ...call, idempotent: true });
  }

  /** Slots that came due while paused count as missed (catchUp decides). */
  async resume(queue: string, id: string, call: CallOptions = {}): Promise<void> {
    await this.client.command({ type: 'resumeSchedule', queue, id }, { ...call, idempotent: true });
  }

  async delete(queue: string, id: string, call: CallOptions = {}): Promise<void> {
    await this.client.command({ type: 'deleteSchedule', queue, id }, call);
  }

  /** One run now, beside the slots (not counted against `limit`); the task's id. */
  async trigger(queue: string, id: string, call: CallOptions = {}): Promise<string> {
    const { answer } = await this.client.command({ type: 'triggerSchedule', queue, id }, call);
    return answer.taskId;
  }

  private decode<T>(view: ScheduleView): Schedule<T> {
    const { task, ...rest } = view;
    const { payload, headers, ...options } = task;
    const out: Schedule<T> = { ...rest, payload: payload as T, task: options };
    try {
      out.payload = decodePayload(payload, headers ?? {}, this.client.codec) as T;
    } catch {
      // Not encoded by an SDK (raw bytes): shown as they are.
    }
    const user = userHeaders(headers ?? {});
    if (Object.keys(user).length > 0) out.task.headers = user;
    return out;
  }
}
