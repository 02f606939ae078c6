// A typed handle on one queue: producer calls, reads, admin, waitFor and the event stream.
import type {
  Backoff,
  CommandOf,
  DedupSpec,
  KeyLimits,
  QueueSettings,
  ReadQuery,
  QueueStats,
  TaskSpec,
  TaskState,
  TaskView,
} from '../protocol/commands.js';
import type { Client, CallOptions, ReadConsistency } from './client.js';
import { decodePayload, encodePayload, RESERVED_HEADER_PREFIX, userHeaders } from './codec.js';
import { checkEnqueueItems, checkEnqueueOptions, checkQueueSettings } from './options.js';
import { raftqError, TaskFailedError, UnavailableError, DeadlineExceededError, NotLeaderError } from './errors.js';
import { WAIT_FOR_WIRE, type TaskPage } from '../protocol/wire-reads.js';
import { eventIterator, type EventStream } from './events.js';
import {
  ackMany,
  extendTask,
  leaseTasks,
  nackTask,
  releaseTask,
  type AckItem,
  type AckOutcome,
  type ExtendOptions,
  type Lease,
  type LeaseOptions,
  type LeaseRound,
  type NackOptions,
  type ReleaseOptions,
} from './queue-leases.js';
import { traceEnqueue, type TraceStamp } from './tracing.js';
import { readKeys, type KeysOptions, type KeysPage } from './limits.js';
import { cancelTask, dependencySpecs, type Dependency } from './flows.js';

/**
 * What `redrive()` resolves with: the new tasks' ids (an array, as before), and whether the redrive
 * continues as a job in later entries (docs/sdk.md, dead letters).
 */
export type RedriveResult = string[] & { continuing: boolean };

export type { EventStream } from './events.js';

export interface EnqueueOptions {
  /** Higher first (integer). */
  priority?: number;
  /** Relative delay; exclusive with runAt. */
  delayMs?: number;
  /** Absolute time (a Date or epoch ms); exclusive with delayMs. */
  runAt?: Date | number;
  maxAttempts?: number;
  maxDeliveries?: number;
  leaseMs?: number;
  ttlMs?: number;
  /** Deduplicates enqueues within the queue's idempotency window. */
  idempotencyKey?: string;
  /** Strict FIFO group. */
  group?: string;
  headers?: Record<string, string>;
  /** Limit key (a tenant, an API host): per-key limits and fair scheduling between keys. */
  key?: string;
  /** Units this task counts against concurrency and rate limits (default 1). */
  cost?: number;
  /** Deduplicate by `dedup.key`: 'active', 'throttle' or 'debounce' (docs/sdk.md); exclusive with idempotencyKey. */
  dedup?: DedupSpec;
  /** A custom task id ('invoice-42'): while that task is retained, enqueueing the id again returns it. */
  id?: string;
  /** This task's retry backoff, field by field over the queue's (`nack` with delayMs overrides both). */
  backoff?: Partial<Backoff>;
  /** Tasks that must complete first (docs/workflows.md): ids, or { id, policy: 'fail' | 'ignore' | 'remove' }. */
  dependsOn?: Dependency[];
}

export interface EnqueueResult {
  /** The task kept: the new one, or the earlier one this enqueue was deduplicated to. */
  id: string;
  deduplicated: boolean;
  /** debounce: the earlier task took this enqueue's payload and delay. */
  replaced?: boolean;
  /** throttle: within the window of task `id`. */
  throttled?: boolean;
}

/** A task as the SDK shows it: the payload and result decoded. */
export interface Task<T = unknown> extends Omit<TaskView, 'payload' | 'result'> {
  payload: T;
  /** The handler's return value (completed tasks). */
  result?: unknown;
  /** Set instead of payload when the payload cannot be decoded. */
  payloadError?: string;
}

export interface ListOptions extends CallOptions {
  state?: TaskState;
  cursor?: string;
  limit?: number;
  consistency?: ReadConsistency;
}

export interface Page<T> {
  items: Task<T>[];
  nextCursor: string | null;
}

/** Whether `o` has an own enumerable key (without listing them). */
function hasKeys(o: object): boolean {
  for (const k in o) if (Object.hasOwn(o, k)) return true;
  return false;
}

/** A task the broker deduplicates by itself (an idempotency key or a custom id): safe to send again. */
function idempotentSpec(t: TaskSpec): boolean {
  return t.idempotencyKey !== undefined || t.id !== undefined;
}

/** One enqueue's answer as the list a producer span counts. */
function asList(one: EnqueueResult): EnqueueResult[] {
  return [one];
}

/** No call option set: nothing sets this call apart from other calls. */
function plainCall(call: CallOptions): boolean {
  for (const k in call) if ((call as Record<string, unknown>)[k] !== undefined) return false;
  return true;
}

/** Settings to set; `keys` is merged key by key (a key set to null loses its override). */
export type QueueSettingsPatch = Omit<Partial<QueueSettings>, 'keys'> & { keys?: Record<string, KeyLimits | null> };

export class Queue<T = unknown> {
  constructor(
    readonly client: Client,
    readonly name: string,
  ) {}

  /** Adds one task; resolves once it is committed. */
  async enqueue(payload: T, options: EnqueueOptions = {}, call: CallOptions = {}): Promise<EnqueueResult> {
    checkEnqueueOptions(options);
    if (plainCall(call)) {
      // The usual case: no item list to build and check again, no per-call wrapper (issue 11: the
      // producer's own CPU per task bounds A and B). It may share a command with the others of this turn.
      return traceEnqueue(
        this.name,
        this.client.limits,
        (stamp) => {
          const spec = stamp(this.specOf(payload, options, 0));
          return this.client.enqueueOne(this.name, spec, idempotentSpec(spec));
        },
        asList,
      );
    }
    const [one] = await this.enqueueMany([{ payload, ...options }], call);
    if (one === undefined) throw raftqError('INTERNAL', 'enqueue answered no item');
    return one;
  }

  /** Adds many tasks in one round trip, all or nothing; one result per item, in order. */
  enqueueMany(items: Array<{ payload: T } & EnqueueOptions>, call: CallOptions = {}): Promise<EnqueueResult[]> {
    // Not async (one promise less per enqueue); a bad argument still rejects, it does not throw.
    try {
      checkEnqueueItems(items);
    } catch (e) {
      return Promise.reject(e as Error);
    }
    return traceEnqueue(this.name, this.client.limits, (stamp) => this.submitEnqueue(items, call, stamp));
  }

  private async submitEnqueue(
    items: Array<{ payload: T } & EnqueueOptions>,
    call: CallOptions,
    stamp: TraceStamp,
  ): Promise<EnqueueResult[]> {
    const tasks = items.map((item, i) => stamp(this.taskSpec(item, i)));
    const idempotent = tasks.every(idempotentSpec);
    // One task and no call options: it may share a command with the others of this turn.
    if (tasks.length === 1 && plainCall(call))
      return [await this.client.enqueueOne(this.name, tasks[0] as TaskSpec, idempotent)];
    const { answer } = await this.client.command(
      { type: 'enqueue', queue: this.name, tasks },
      Object.assign({}, call, { idempotent }),
    );
    const out = answer.items;
    if (out.length !== tasks.length)
      throw raftqError('INTERNAL', `enqueue answered ${out.length} of ${tasks.length} items`);
    return out;
  }

  /** @internal The wire spec of one item (flows.ts builds flows with it). */
  taskSpec(item: { payload: T } & EnqueueOptions, i: number): TaskSpec {
    return this.specOf(item.payload, item, i);
  }

  /** The wire spec of a payload with its options (item `i` of the call, for error fields). */
  private specOf(payload: T, item: EnqueueOptions, i: number): TaskSpec {
    const own = item.headers ?? undefined; // null (not allowed by the type) counts as none, as before
    if (own !== undefined) {
      for (const k of Object.keys(own)) {
        if (k.startsWith(RESERVED_HEADER_PREFIX)) {
          throw raftqError('INVALID_ARGUMENT', `tasks[${i}].headers.${k}: the raftq- prefix is reserved`, {
            field: `tasks[${i}].headers.${k}`,
          });
        }
      }
    }
    const encoded = encodePayload(payload, this.client);
    // The codec's headers as they are when the user set none (no copy per task).
    const headers = own === undefined ? encoded.headers : Object.assign({}, own, encoded.headers);
    const spec: TaskSpec = { payload: encoded.payload };
    if (hasKeys(headers)) spec.headers = headers;
    const copy = <K extends keyof TaskSpec>(k: K, v: TaskSpec[K] | undefined): void => {
      if (v !== undefined) spec[k] = v;
    };
    copy('priority', item.priority);
    copy('delayMs', item.delayMs);
    copy('runAt', item.runAt instanceof Date ? item.runAt.getTime() : item.runAt);
    copy('maxAttempts', item.maxAttempts);
    copy('maxDeliveries', item.maxDeliveries);
    copy('leaseMs', item.leaseMs);
    copy('ttlMs', item.ttlMs);
    copy('idempotencyKey', item.idempotencyKey);
    copy('group', item.group);
    copy('key', item.key);
    copy('cost', item.cost);
    copy('dedup', item.dedup);
    copy('id', item.id);
    copy('backoff', item.backoff);
    copy('dependsOn', dependencySpecs(item.dependsOn, `tasks[${i}].dependsOn`));
    return spec;
  }

  // ---- leasing by hand (docs/sdk.md "Leasing by hand"; the Worker does all this for you) ----

  /** Leases up to `max` ready tasks: decoded payloads, tokens and belief deadlines. */
  async lease(options: LeaseOptions = {}): Promise<Lease<T>[]> {
    return (await leaseTasks<T>(this.client, this.name, options)).leases;
  }

  /** `lease`, with when the request was first sent and how long the leader held it (a poll loop's back-off). */
  async leaseRound(options: LeaseOptions = {}): Promise<LeaseRound<T>> {
    return leaseTasks<T>(this.client, this.name, options);
  }

  /** Completes a leased task with its result; LeaseLostError if the lease is no longer this token's. */
  async ack(id: string, token: string, result?: unknown, call: CallOptions = {}): Promise<void> {
    const [one] = await ackMany(this.client, [result === undefined ? { id, token } : { id, token, result }], call);
    if (one !== undefined && !one.ok) throw one.error;
  }

  /** Completes many leased tasks in one command; each item succeeds or fails (typed error) alone. */
  async ackMany(items: ReadonlyArray<AckItem>, call: CallOptions = {}): Promise<AckOutcome[]> {
    return ackMany(this.client, items, call);
  }

  /** Fails a leased attempt: retried (after delayMs or the backoff) or dead-lettered. */
  async nack(
    id: string,
    token: string,
    options: NackOptions = {},
    call: CallOptions = {},
  ): Promise<{ state: TaskState; deadLetterId?: string }> {
    return nackTask(this.client, id, token, { ...options, ...call });
  }

  /** Renews a lease (and saves progress or a checkpoint); the new belief deadline, and the extend's first send. */
  async extend(
    id: string,
    token: string,
    options: ExtendOptions = {},
    call: CallOptions = {},
  ): Promise<{ beliefDeadline: number; sentAt: number }> {
    return extendTask(this.client, id, token, { ...options, ...call });
  }

  /** Gives a leased task back without counting an attempt (holding its limit key back `holdKeyMs`). */
  async release(id: string, token: string, options: ReleaseOptions = {}): Promise<TaskState> {
    return releaseTask(this.client, id, token, options);
  }

  /** Usage and limits of the queue's limit keys, one page sorted by key ('' is the tasks without a key). */
  async keys(options: KeysOptions = {}): Promise<KeysPage> {
    return readKeys(this.client, this.name, options);
  }

  /** The task by id (NotFoundError if absent). */
  async get(id: string, options: CallOptions & { consistency?: ReadConsistency } = {}): Promise<Task<T>> {
    const reply = await this.client.read('GetTask', { type: 'task', id }, options);
    return this.decodeTask(reply.task);
  }

  /** One page of tasks in a state (default waiting), by priority then id. */
  async list(options: ListOptions = {}): Promise<Page<T>> {
    const query: ReadQuery = { type: 'list', queue: this.name, state: options.state ?? 'waiting' };
    if (options.cursor !== undefined) query.cursor = options.cursor;
    if (options.limit !== undefined) query.limit = options.limit;
    return this.page(await this.client.read('ListTasks', query, options));
  }

  /** One page of this queue's dead letters. */
  async deadLetters(options: Omit<ListOptions, 'state'> = {}): Promise<Page<T>> {
    const query: ReadQuery = { type: 'deadLetters', queue: this.name };
    if (options.cursor !== undefined) query.cursor = options.cursor;
    if (options.limit !== undefined) query.limit = options.limit;
    return this.page(await this.client.read('ListDeadLetters', query, options));
  }

  async stats(options: CallOptions & { consistency?: ReadConsistency } = {}): Promise<QueueStats> {
    return (await this.client.read('QueueStats', { type: 'stats', queue: this.name }, options)).stats;
  }

  /**
   * Cancels a task; resolves with its new state. A running one stays `leased` until its worker
   * stops (its handler's signal fires): with `wait`, this resolves once it ended (docs/workflows.md).
   */
  async cancel(id: string, call: CallOptions & { wait?: boolean } = {}): Promise<TaskState> {
    return cancelTask(this.client, id, call);
  }

  /** Makes a delayed task ready now. */
  async promote(id: string, call: CallOptions = {}): Promise<TaskState> {
    return this.stateCommand({ type: 'promote', id }, call);
  }

  /** Changes a waiting or delayed task's priority, payload or time. */
  async update(
    id: string,
    changes: { priority?: number; payload?: T; runAt?: Date | number; delayMs?: number },
    call: CallOptions = {},
  ): Promise<TaskState> {
    const cmd: CommandOf<'update'> = { type: 'update', id };
    if (changes.priority !== undefined) cmd.priority = changes.priority;
    if (changes.payload !== undefined) {
      const encoded = encodePayload(changes.payload, this.client);
      if (Object.keys(encoded.headers).length > 0) {
        // Headers cannot change through update: a raw or compressed payload would be misread.
        throw raftqError('INVALID_ARGUMENT', 'payload: update takes a payload the codec encodes, uncompressed', {
          field: 'payload',
        });
      }
      cmd.payload = encoded.payload;
    }
    if (changes.runAt !== undefined)
      cmd.runAt = changes.runAt instanceof Date ? changes.runAt.getTime() : changes.runAt;
    if (changes.delayMs !== undefined) cmd.delayMs = changes.delayMs;
    return this.stateCommand(cmd, call);
  }

  /**
   * Moves dead tasks (or this dead-letter queue's tasks) back; resolves with the new task ids, and
   * `continuing` true when a redrive without ids goes on as a job in later entries (its rest is not
   * in the ids).
   */
  async redrive(
    options: { ids?: string[]; toQueue?: string; max?: number } = {},
    call: CallOptions = {},
  ): Promise<RedriveResult> {
    const cmd: CommandOf<'redrive'> = { type: 'redrive', queue: this.name };
    if (options.ids !== undefined) cmd.ids = options.ids;
    if (options.toQueue !== undefined) cmd.toQueue = options.toQueue;
    if (options.max !== undefined) cmd.max = options.max;
    const { answer } = await this.client.command(cmd, call);
    return Object.assign([...answer.ids], { continuing: answer.continuing });
  }

  async create(settings: QueueSettingsPatch = {}, call: CallOptions = {}): Promise<void> {
    checkQueueSettings(this.name, settings);
    await this.client.command({ type: 'createQueue', queue: this.name, settings }, call);
  }
  async configure(settings: QueueSettingsPatch, call: CallOptions = {}): Promise<void> {
    checkQueueSettings(this.name, settings);
    await this.client.command({ type: 'configureQueue', queue: this.name, settings }, { ...call, idempotent: true });
  }
  async pause(call: CallOptions = {}): Promise<void> {
    await this.client.command({ type: 'pauseQueue', queue: this.name }, { ...call, idempotent: true });
  }
  async resume(call: CallOptions = {}): Promise<void> {
    await this.client.command({ type: 'resumeQueue', queue: this.name }, { ...call, idempotent: true });
  }
  /** Cancels every non-terminal task (reason "purged"). */
  async purge(call: CallOptions = {}): Promise<void> {
    await this.client.command({ type: 'purgeQueue', queue: this.name }, { ...call, idempotent: true });
  }
  /** Deletes the queue; `force` cancels its non-terminal tasks first. */
  async delete(options: { force?: boolean } = {}, call: CallOptions = {}): Promise<void> {
    await this.client.command({ type: 'deleteQueue', queue: this.name, force: options.force === true }, call);
  }

  /**
   * Waits until the task is terminal: resolves with its (decoded) result when completed, rejects
   * with TaskFailedError otherwise. Survives failovers: the leader-side watch is re-established.
   */
  async waitFor(id: string, options: CallOptions = {}): Promise<unknown> {
    const clock = this.client.clock;
    const deadline = options.timeoutMs === undefined ? Infinity : clock.now() + options.timeoutMs;
    for (;;) {
      const remaining = deadline - clock.now();
      if (remaining <= 0) throw raftqError('DEADLINE_EXCEEDED', `task ${id} is not terminal yet`);
      const slice = Math.min(remaining, 60_000);
      try {
        const reply = await this.client.query('WaitFor', WAIT_FOR_WIRE.request.encode(id, Math.ceil(slice)), {
          ...options,
          timeoutMs: slice + 1_000,
        });
        const task = this.decodeTask(WAIT_FOR_WIRE.reply.decode(reply).task);
        if (task.state === 'completed') return task.result;
        throw new TaskFailedError(id, task.state, task.lastError, task.reason);
      } catch (e) {
        // A watch that ended without an answer (timeout slice, step-down past our retries): again.
        const again =
          e instanceof DeadlineExceededError || e instanceof UnavailableError || e instanceof NotLeaderError;
        if (!again || this.client.isClosed || options.signal?.aborted) throw e;
      }
    }
  }

  /**
   * Task events of this queue as they are applied on the node the client talks to, from now on.
   * Reconnects after a node failure (events in between may be missed: reconcile with reads).
   */
  events(options: { signal?: AbortSignal; bufferMax?: number } = {}): EventStream {
    return eventIterator(this.client, { queue: this.name }, options);
  }

  private async stateCommand(cmd: CommandOf<'promote' | 'update'>, call: CallOptions): Promise<TaskState> {
    const { answer } = await this.client.command(cmd, call);
    return answer.state;
  }

  private page(reply: TaskPage): Page<T> {
    return { items: reply.items.map((x) => this.decodeTask(x)), nextCursor: reply.nextCursor };
  }

  /** A task as the SDK shows it: payload and result decoded with the client's codec. */
  decodeTask(view: TaskView): Task<T> {
    const { payload, result, ...rest } = view;
    const task = { ...rest, headers: userHeaders(view.headers) } as Task<T>;
    try {
      task.payload = decodePayload(payload, view.headers, this.client.codec) as T;
    } catch (e) {
      task.payload = payload as T;
      task.payloadError = e instanceof Error ? e.message : String(e);
    }
    if (result !== undefined) {
      try {
        task.result = this.client.codec.decode(result);
      } catch {
        task.result = result;
      }
    }
    return task;
  }
}
