// The client port (`--listen`): a thin adapter from client.proto requests to the node's
// ClientExecutor. Every request is decoded and validated here before the executor sees it; anything a
// client sends is answered with a status of DESIGN.md §5's table, never a throw, and the error detail
// rides in the `raftq-error` trailer so grpcurl users see the stable code.
import * as grpc from '@grpc/grpc-js';
import type { Answer, Command, ReadQuery, SessionCommand, TaskEvent, TaskState } from '../protocol/commands.js';
import { TASK_STATES, TERMINAL_STATES } from '../protocol/commands.js';
import { parseId } from '../protocol/codec.js';
import { ERROR_TABLE, isErrorCode, type ErrorDetail } from '../protocol/errors.js';
import { DEFAULT_LIMITS, type Limits } from '../protocol/limits.js';
import { SUBMIT_METHOD_BY_FIELD } from '../protocol/submit.js';
import { validateCommand } from '../protocol/validate.js';
import { commandReply, readReply, statusReply } from './client-replies.js';
import type { ClientExecutor, ExecuteOptions } from './executor.js';
import { CLIENT_SERVICE, ERROR_METADATA_KEY, loadProtoFile } from '../protocol/proto.js';

export { CLIENT_SERVICE, ERROR_METADATA_KEY } from '../protocol/proto.js';

export interface ClientServiceOptions {
  limits?: Limits;
  /** Work time of a call whose header names none (ms). */
  defaultTimeoutMs?: number;
  /** Upper bound of any call's work time (ms); the gRPC deadline may be shorter. */
  maxTimeoutMs?: number;
  /** Upper bound of a lease's maxHoldMs. */
  maxHoldMsMax?: number;
  /** Events queued on one stream for a slow reader before it is ended with RESOURCE_EXHAUSTED. */
  eventQueueMax?: number;
  /** Monotonic clock of the executor's deadlines (default performance.now). */
  now?: () => number;
}

export const CLIENT_SERVICE_DEFAULTS = {
  defaultTimeoutMs: 10_000,
  maxTimeoutMs: 120_000,
  maxHoldMsMax: 60_000,
  eventQueueMax: 10_000,
} as const;

export interface ClientServiceMetrics {
  calls: number;
  invalidArgument: number;
  resourceExhausted: number;
  /** Executor failures answered with INTERNAL (bugs in the node, counted, not fatal). */
  internal: number;
  /** Errors answered per code (from the executor's answers or our own checks). */
  errors: Record<string, number>;
  eventStreams: number;
  waiters: number;
  /** Submit calls and the commands they carried (also counted in `calls`: one per Submit). */
  submitCalls: number;
  submitItems: number;
}

type Obj = Record<string, unknown>;
type Decoded = { ok: true; value: Obj } | { ok: false; reason: string };
type Unary = grpc.ServerUnaryCall<Decoded, Obj>;
type Callback = grpc.sendUnaryData<Obj>;

interface Prepared {
  method: string;
  sc: SessionCommand;
  /** The header's timeoutMs, as the request carried it. */
  timeoutMs: unknown;
  maxHoldMs: number;
}

/** A prepared Submit item: its position and oneof field name. */
interface Slot {
  i: number;
  name: string;
  p: Prepared;
}

class Refusal {
  constructor(readonly detail: ErrorDetail) {}
}

function refuse(field: string, message: string): never {
  throw new Refusal({ code: 'INVALID_ARGUMENT', message: `${field} ${message}`, field });
}

/** The gRPC status object of an error detail, with the detail in trailing metadata. */
export function grpcErrorOf(detail: ErrorDetail): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  // Metadata values must be printable ASCII: escape the rest inside the JSON text.
  metadata.set(
    ERROR_METADATA_KEY,
    JSON.stringify(detail).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
  );
  const spec = isErrorCode(detail.code) ? ERROR_TABLE[detail.code] : ERROR_TABLE.INTERNAL;
  return { code: spec.grpcCode, details: `${detail.code}: ${detail.message}`, metadata };
}

/** The methods that carry one command, and how to build it from the request. */
const COMMANDS: Record<string, (r: Obj) => Obj> = {
  KeepAlive: () => ({ type: 'keepAlive' }),
  CloseSession: () => ({ type: 'closeSession' }),
  Enqueue: (r) => ({ type: 'enqueue', queue: r['queue'], tasks: list(r['tasks']).map(taskSpec) }),
  Lease: (r) => pick({ type: 'lease', queue: r['queue'], workerId: r['workerId'], max: r['max'] }, r, ['leaseMs']),
  Extend: (r) => pick({ type: 'extend', id: r['id'], token: r['token'] }, r, ['leaseMs', 'progress', 'checkpoint']),
  Ack: (r) => ({
    type: 'ack',
    items: list(r['items']).map((i) => pick({ id: obj(i)['id'], token: obj(i)['token'] }, obj(i), ['result'])),
  }),
  Nack: (r) => pick({ type: 'nack', id: r['id'], token: r['token'] }, r, ['error', 'delayMs', 'dead']),
  Release: (r) => ({ type: 'release', id: r['id'], token: r['token'] }),
  Cancel: (r) => ({ type: 'cancel', id: r['id'] }),
  Promote: (r) => ({ type: 'promote', id: r['id'] }),
  Update: (r) => pick({ type: 'update', id: r['id'] }, r, ['priority', 'payload', 'runAt', 'delayMs']),
  CreateQueue: (r) => ({ type: 'createQueue', queue: r['queue'], settings: settings(r['settings']) }),
  ConfigureQueue: (r) => ({ type: 'configureQueue', queue: r['queue'], settings: settings(r['settings']) }),
  PauseQueue: (r) => ({ type: 'pauseQueue', queue: r['queue'] }),
  ResumeQueue: (r) => ({ type: 'resumeQueue', queue: r['queue'] }),
  PurgeQueue: (r) => ({ type: 'purgeQueue', queue: r['queue'] }),
  DeleteQueue: (r) => ({ type: 'deleteQueue', queue: r['queue'], force: r['force'] === true }),
  Redrive: (r) => {
    const out = pick({ type: 'redrive', queue: r['queue'] }, r, ['toQueue', 'max']);
    if (list(r['ids']).length > 0) out['ids'] = r['ids'];
    return out;
  },
};

/** SubmitItem's `command` oneof: field name -> the unary method it stands for (client.proto). */

const NULLABLE_SETTINGS = new Set(['deadLetterQueue', 'maxLength', 'taskTtlMs', 'concurrency']);
const SETTINGS_FIELDS = [
  'leaseMs',
  'maxAttempts',
  'maxDeliveries',
  'deadLetterQueue',
  'maxLength',
  'retentionMs',
  'taskTtlMs',
  'idempotencyWindowMs',
  'concurrency',
  'paused',
];

function obj(v: unknown): Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {};
}
function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
/** Copies the fields of `from` that are present (proto3 `optional` fields are absent when unset). */
function pick(into: Obj, from: Obj, names: string[]): Obj {
  for (const n of names) if (from[n] !== undefined && from[n] !== null) into[n] = from[n];
  return into;
}

function taskSpec(v: unknown): Obj {
  const t = obj(v);
  const out = pick({ payload: t['payload'] }, t, [
    'priority',
    'delayMs',
    'runAt',
    'idempotencyKey',
    'group',
    'ttlMs',
    'maxAttempts',
    'maxDeliveries',
    'leaseMs',
  ]);
  if (Object.keys(obj(t['headers'])).length > 0) out['headers'] = t['headers'];
  return out;
}

function settings(v: unknown): Obj {
  const s = obj(v);
  const out = pick({}, s, SETTINGS_FIELDS);
  if (s['backoff'] !== null && s['backoff'] !== undefined) {
    out['backoff'] = pick({}, obj(s['backoff']), ['type', 'delayMs', 'maxDelayMs', 'jitterPct']);
  }
  list(s['unset']).forEach((name, i) => {
    if (typeof name !== 'string' || !NULLABLE_SETTINGS.has(name)) {
      refuse(`settings.unset[${i}]`, `must be one of ${[...NULLABLE_SETTINGS].join(', ')}`);
    }
    out[name] = null;
  });
  return out;
}

/** The session part of a header: sessionless (session "" and seq 0) or a session with seq ≥ 1. */
function sessionOf(header: unknown): { session: string | null; seq: number; floor?: number } {
  const h = obj(header);
  const session = typeof h['session'] === 'string' ? h['session'] : '';
  const seq = typeof h['seq'] === 'number' ? h['seq'] : 0;
  const floor = typeof h['floor'] === 'number' ? h['floor'] : 0;
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(floor)) refuse('header.seq', 'must be below 2^53');
  if (session === '') {
    if (seq !== 0) refuse('header.seq', 'must be 0 without a session');
    return { session: null, seq: 0 };
  }
  if (session.length > 64) refuse('header.session', 'must be at most 64 characters');
  if (seq < 1) refuse('header.seq', 'must be at least 1 with a session');
  if (floor > seq) refuse('header.floor', 'must not exceed seq');
  return floor > 0 ? { session, seq, floor } : { session, seq };
}

/** Byte fields over their limit: RESOURCE_EXHAUSTED naming the field and limit (never retried: no retryAfterMs). */
function tooLarge(cmd: Obj, limits: Limits): void {
  const check = (v: unknown, field: string, max: number, limit: string): void => {
    if (v instanceof Uint8Array && v.byteLength > max) {
      throw new Refusal({
        code: 'RESOURCE_EXHAUSTED',
        message: `${field} is ${v.byteLength} bytes, over ${limit} (${max})`,
        field,
        limit,
      });
    }
  };
  list(cmd['tasks']).forEach((t, i) =>
    check(obj(t)['payload'], `tasks[${i}].payload`, limits.payloadBytesMax, 'payloadBytesMax'),
  );
  list(cmd['items']).forEach((t, i) =>
    check(obj(t)['result'], `items[${i}].result`, limits.resultBytesMax, 'resultBytesMax'),
  );
  check(cmd['payload'], 'payload', limits.payloadBytesMax, 'payloadBytesMax');
  check(cmd['checkpoint'], 'checkpoint', limits.checkpointBytesMax, 'checkpointBytesMax');
}

const NAME = /^[A-Za-z0-9._:/-]{1,128}$/;
const CURSOR_MAX = 1024;
const READ_LIMIT_MAX = 1000;

function queueName(r: Obj, field = 'queue'): string {
  const q = r[field];
  if (typeof q !== 'string' || !NAME.test(q))
    refuse(field, 'must be a queue name of 1..128 characters [A-Za-z0-9._:/-]');
  return q;
}

function taskId(r: Obj): string {
  if (parseId(r['id']) === null) refuse('id', 'must be a decimal id string');
  return r['id'] as string;
}

function pageOf(r: Obj): { cursor?: string; limit?: number } {
  const out: { cursor?: string; limit?: number } = {};
  const cursor = r['cursor'];
  if (cursor !== undefined && cursor !== null) {
    if (typeof cursor !== 'string' || cursor.length > CURSOR_MAX)
      refuse('cursor', `must be at most ${CURSOR_MAX} characters`);
    out.cursor = cursor;
  }
  const limit = r['limit'];
  if (limit !== undefined && limit !== null) {
    if (typeof limit !== 'number' || limit < 1 || limit > READ_LIMIT_MAX)
      refuse('limit', `must be in [1, ${READ_LIMIT_MAX}]`);
    out.limit = limit;
  }
  return out;
}

const READS: Record<string, (r: Obj) => ReadQuery> = {
  GetTask: (r) => ({ type: 'task', id: taskId(r) }),
  ListTasks: (r) => {
    const state = r['state'] === '' || r['state'] === undefined ? 'waiting' : r['state'];
    if (!TASK_STATES.includes(state as TaskState)) refuse('state', `must be one of ${TASK_STATES.join(', ')}`);
    return { type: 'list', queue: queueName(r), state: state as TaskState, ...pageOf(r) };
  },
  ListDeadLetters: (r) => ({ type: 'deadLetters', queue: queueName(r), ...pageOf(r) }),
  QueueStats: (r) => ({ type: 'stats', queue: queueName(r) }),
  ListQueues: () => ({ type: 'queues' }),
};

export interface ClientService {
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
  metrics(): ClientServiceMetrics;
  /** Ends open event streams and waiters (on node shutdown). */
  close(): void;
}

/** The gRPC service implementation over an executor. */
export function createClientService(executor: ClientExecutor, options: ClientServiceOptions = {}): ClientService {
  return new ClientServiceImpl(executor, options).service();
}

class ClientServiceImpl {
  private readonly limits: Limits;
  private readonly opts: Required<Omit<ClientServiceOptions, 'limits'>>;
  private readonly counters: ClientServiceMetrics = {
    calls: 0,
    invalidArgument: 0,
    resourceExhausted: 0,
    internal: 0,
    errors: {},
    eventStreams: 0,
    waiters: 0,
    submitCalls: 0,
    submitItems: 0,
  };
  private readonly closers = new Set<() => void>();

  constructor(
    private readonly executor: ClientExecutor,
    options: ClientServiceOptions,
  ) {
    this.limits = options.limits ?? DEFAULT_LIMITS;
    this.opts = { ...CLIENT_SERVICE_DEFAULTS, now: () => performance.now(), ...options };
  }

  service(): ClientService {
    const impl: grpc.UntypedServiceImplementation = {};
    for (const method of Object.keys(COMMANDS))
      impl[method] = (call: Unary, cb: Callback) => this.guard(call, cb, () => this.command(method, call));
    for (const method of Object.keys(READS))
      impl[method] = (call: Unary, cb: Callback) => this.guard(call, cb, () => this.read(method, call));
    impl['OpenSession'] = (call: Unary, cb: Callback) => this.guard(call, cb, () => this.openSession(call));
    impl['Status'] = (call: Unary, cb: Callback) =>
      this.guard(call, cb, async () => statusReply(this.executor.status()));
    impl['WaitFor'] = (call: Unary, cb: Callback) => this.guard(call, cb, () => this.waitFor(call));
    impl['Submit'] = (call: Unary, cb: Callback) => this.guard(call, cb, () => this.submit(call));
    impl['Events'] = (call: grpc.ServerWritableStream<Decoded, Obj>) => this.events(call);
    return {
      definition: clientServiceDefinition(),
      implementation: impl,
      metrics: () => ({ ...this.counters, errors: { ...this.counters.errors } }),
      close: () => {
        for (const c of [...this.closers]) c();
      },
    };
  }

  /** Runs one unary handler: decoding failures, refusals, answers and throws all become a status. */
  private guard(call: Unary, cb: Callback, body: () => Promise<Obj>): void {
    this.counters.calls += 1;
    const decoded = call.request;
    if (!decoded.ok) {
      this.fail(cb, { code: 'INVALID_ARGUMENT', message: decoded.reason, field: 'request' });
      return;
    }
    let run: Promise<Obj>;
    try {
      run = body();
    } catch (e) {
      run = Promise.reject(e);
    }
    run.then(
      (reply) => cb(null, reply),
      (e: unknown) => {
        if (e instanceof Refusal) return this.fail(cb, e.detail);
        this.counters.internal += 1;
        this.fail(cb, { code: 'INTERNAL', message: e instanceof Error ? e.message : 'internal error' });
      },
    );
  }

  private fail(cb: Callback, detail: ErrorDetail): void {
    this.count(detail);
    cb(grpcErrorOf(detail));
  }

  private count(detail: ErrorDetail): void {
    if (detail.code === 'INVALID_ARGUMENT') this.counters.invalidArgument += 1;
    if (detail.code === 'RESOURCE_EXHAUSTED') this.counters.resourceExhausted += 1;
    this.counters.errors[detail.code] = (this.counters.errors[detail.code] ?? 0) + 1;
  }

  /** Absolute deadline on the executor's clock: the header's work time, the gRPC deadline, our cap. */
  private deadline(call: Unary | grpc.ServerWritableStream<Decoded, Obj>, timeoutMs: unknown, extraMs = 0): number {
    const asked = typeof timeoutMs === 'number' && timeoutMs > 0 ? timeoutMs : this.opts.defaultTimeoutMs;
    let budget = Math.min(asked, this.opts.maxTimeoutMs) + extraMs;
    const grpcDeadline = call.getDeadline();
    const at = grpcDeadline instanceof Date ? grpcDeadline.getTime() : grpcDeadline;
    if (Number.isFinite(at)) budget = Math.min(budget, Math.max(0, at - Date.now()));
    return this.opts.now() + budget;
  }

  private signalOf(call: Unary): AbortSignal {
    const c = new AbortController();
    call.on('cancelled', () => c.abort());
    return c.signal;
  }

  private async command(method: string, call: Unary): Promise<Obj> {
    const p = this.prepare(method, (call.request as { ok: true; value: Obj }).value);
    return this.execute(method, p.sc, call, p.timeoutMs, p.maxHoldMs);
  }

  /** Decodes and validates one command request (throws a Refusal), as its unary method does. */
  private prepare(method: string, req: Obj): Prepared {
    const build = COMMANDS[method] as (r: Obj) => Obj;
    const header = obj(req['header']);
    const sc = sessionOf(header);
    const cmd = build(req);
    tooLarge(cmd, this.limits);
    const checked = validateCommand(cmd, this.limits);
    if (!checked.ok) throw new Refusal(checked.error);
    let maxHoldMs = 0;
    if (method === 'Lease' && typeof req['maxHoldMs'] === 'number')
      maxHoldMs = Math.min(req['maxHoldMs'], this.opts.maxHoldMsMax);
    return { method, sc: { ...sc, cmd: checked.value }, timeoutMs: header['timeoutMs'], maxHoldMs };
  }

  /**
   * Many commands in one call. Each item is prepared as its unary call would be and fails alone;
   * the valid ones go to the executor together, so they can share one log entry. A held lease runs
   * on its own (its hold must not delay the others' answers inside the executor).
   */
  private async submit(call: Unary): Promise<Obj> {
    const items = list((call.request as { ok: true; value: Obj }).value['items']);
    const max = this.limits.submitItemsMax;
    if (items.length > max) {
      throw new Refusal({
        code: 'RESOURCE_EXHAUSTED',
        message: `items has ${items.length} commands, over submitItemsMax (${max})`,
        field: 'items',
        limit: 'submitItemsMax',
      });
    }
    this.counters.submitCalls += 1;
    this.counters.submitItems += items.length;
    const results: Obj[] = [];
    const shared: Slot[] = [];
    const held: Slot[] = [];
    items.forEach((raw, i) => {
      const item = obj(raw);
      const name = typeof item['command'] === 'string' ? item['command'] : '';
      const method = SUBMIT_METHOD_BY_FIELD[name];
      if (method === undefined) {
        results[i] = this.itemError(i, '', {
          code: 'INVALID_ARGUMENT',
          message: 'command must be set (one of enqueue, ack, ...)',
          field: 'command',
        });
        return;
      }
      try {
        const p = this.prepare(method, obj(item[name]));
        (p.maxHoldMs > 0 ? held : shared).push({ i, name, p });
      } catch (e) {
        results[i] = this.itemError(i, name, this.detailOfThrow(e));
      }
    });
    const signal = this.signalOf(call);
    const runs = held.map((slot) => this.executeSlots([slot], call, signal, results));
    if (shared.length > 0) runs.push(this.executeSlots(shared, call, signal, results));
    await Promise.all(runs);
    return { results };
  }

  /** Runs prepared items in one executor call and writes each one's SubmitResult into `results`. */
  private async executeSlots(slots: Slot[], call: Unary, signal: AbortSignal, results: Obj[]): Promise<void> {
    const deadlines = slots.map((s) => this.deadline(call, s.p.timeoutMs, s.p.maxHoldMs));
    // Deadlines only bound holds in the executor, and only a lone held lease has one: the latest is safe.
    const opts: ExecuteOptions = { deadline: Math.max(...deadlines), signal };
    const hold = slots.length === 1 ? (slots[0] as Slot).p.maxHoldMs : 0;
    if (hold > 0) opts.maxHoldMs = hold;
    let answers: Answer[];
    let reply: (s: Slot, a: Answer & { ok: true }) => Obj;
    try {
      const result = await this.executor.execute(
        slots.map((s) => s.p.sc),
        opts,
      );
      if (result.answers.length !== slots.length)
        throw new Error(`executor answered ${result.answers.length} answers for ${slots.length} commands`);
      answers = result.answers;
      reply = (s, a) => commandReply(s.p.method, s.p.sc.cmd as Command, a.value, result);
    } catch (e) {
      const now = this.opts.now();
      slots.forEach((s, k) => {
        const late = now >= (deadlines[k] as number);
        results[s.i] = this.itemError(
          s.i,
          s.name,
          late ? { code: 'DEADLINE_EXCEEDED', message: 'deadline passed' } : this.detailOfThrow(e),
        );
      });
      return;
    }
    slots.forEach((s, k) => {
      const a = answers[k] as Answer;
      results[s.i] = a.ok ? { [s.name]: reply(s, a) } : this.itemError(s.i, s.name, a.error);
    });
  }

  /** A Refusal's detail, or INTERNAL (counted) for anything else thrown. */
  private detailOfThrow(e: unknown): ErrorDetail {
    if (e instanceof Refusal) return e.detail;
    this.counters.internal += 1;
    return { code: 'INTERNAL', message: e instanceof Error ? e.message : 'internal error' };
  }

  /** One item's ErrorReply: the unary error detail verbatim, plus where in the Submit it is. */
  private itemError(i: number, name: string, detail: ErrorDetail): Obj {
    this.count(detail);
    const at = name === '' ? `items[${i}]` : `items[${i}].${name}`;
    const error: Obj = { code: detail.code, message: `${at}: ${detail.message}`, detailJson: JSON.stringify(detail) };
    if (detail.field !== undefined) error['field'] = `${at}.${detail.field}`;
    return { error };
  }

  private async openSession(call: Unary): Promise<Obj> {
    const req = (call.request as { ok: true; value: Obj }).value;
    const cmd: Obj = { type: 'openSession' };
    if (typeof req['timeoutMs'] === 'number') cmd['timeoutMs'] = req['timeoutMs'];
    const checked = validateCommand(cmd, this.limits);
    if (!checked.ok) throw new Refusal(checked.error);
    return this.execute('OpenSession', { session: null, seq: 0, cmd: checked.value }, call, req['callTimeoutMs'], 0);
  }

  private async execute(
    method: string,
    sc: SessionCommand,
    call: Unary,
    timeoutMs: unknown,
    maxHoldMs: number,
  ): Promise<Obj> {
    const deadline = this.deadline(call, timeoutMs, maxHoldMs);
    const opts =
      maxHoldMs > 0 ? { deadline, maxHoldMs, signal: this.signalOf(call) } : { deadline, signal: this.signalOf(call) };
    const result = await this.executor.execute([sc], opts).catch((e: unknown) => {
      if (this.opts.now() >= deadline) throw new Refusal({ code: 'DEADLINE_EXCEEDED', message: 'deadline passed' });
      throw e;
    });
    const answer = result.answers[0];
    if (answer === undefined) throw new Error(`executor answered ${result.answers.length} answers for 1 command`);
    if (!answer.ok) throw new Refusal(answer.error);
    return commandReply(method, sc.cmd as Command, answer.value, result);
  }

  private async read(method: string, call: Unary): Promise<Obj> {
    const req = (call.request as { ok: true; value: Obj }).value;
    const query = (READS[method] as (r: Obj) => ReadQuery)(req);
    const read = obj(req['read']);
    const consistency = read['consistency'] === 'STALE' ? 'stale' : 'linearizable';
    const deadline = this.deadline(call, read['timeoutMs']);
    const answer = await this.executor.read(query, { consistency, deadline });
    if (!answer.answer.ok) throw new Refusal(answer.answer.error);
    return readReply(query, answer.answer.value, answer.asOf);
  }

  /**
   * Resolves when the task is terminal. Subscribes before the first read so no transition is
   * missed between them; fails with UNAVAILABLE when this node steps down.
   */
  private async waitFor(call: Unary): Promise<Obj> {
    const req = (call.request as { ok: true; value: Obj }).value;
    const id = taskId(req);
    const deadline = this.deadline(call, req['timeoutMs']);
    this.counters.waiters += 1;
    const cleanups: Array<() => void> = [];
    try {
      return await new Promise<Obj>((resolve, reject) => {
        let reading = false;
        let again = false;
        let settled = false;
        const settle = (f: () => void): void => {
          if (settled) return;
          settled = true;
          f();
        };
        const check = (): void => {
          if (settled) return;
          if (reading) {
            again = true;
            return;
          }
          reading = true;
          again = false;
          this.executor
            .read({ type: 'task', id }, { consistency: 'linearizable', deadline })
            .then(({ answer, asOf }) => {
              reading = false;
              if (!answer.ok) return settle(() => reject(new Refusal(answer.error)));
              if (TERMINAL_STATES.includes(obj(answer.value)['state'] as TaskState)) {
                return settle(() => resolve(readReply({ type: 'task', id }, answer.value, asOf)));
              }
              if (again) check();
            })
            .catch((e: unknown) => {
              reading = false;
              settle(() => reject(e));
            });
        };
        cleanups.push(
          this.executor.subscribe({}, (e: TaskEvent) => {
            if (e.id === id && TERMINAL_STATES.includes(e.state)) check();
          }),
        );
        cleanups.push(
          this.executor.onStepDown(() =>
            settle(() =>
              reject(
                new Refusal({ code: 'UNAVAILABLE', message: 'leader stepped down; wait again at the new leader' }),
              ),
            ),
          ),
        );
        const timer = setTimeout(
          () =>
            settle(() => reject(new Refusal({ code: 'DEADLINE_EXCEEDED', message: `task ${id} is not terminal yet` }))),
          Math.max(0, deadline - this.opts.now()),
        );
        cleanups.push(() => clearTimeout(timer));
        const onCancel = (): void => settle(() => reject(new Refusal({ code: 'UNAVAILABLE', message: 'cancelled' })));
        call.on('cancelled', onCancel);
        const close = (): void =>
          settle(() => reject(new Refusal({ code: 'UNAVAILABLE', message: 'node shutting down' })));
        this.closers.add(close);
        cleanups.push(() => this.closers.delete(close));
        check();
      });
    } finally {
      this.counters.waiters -= 1;
      for (const c of cleanups) c();
    }
  }

  /** Server stream of task events applied on this node; a reader too slow to keep up is cut off. */
  private events(call: grpc.ServerWritableStream<Decoded, Obj>): void {
    this.counters.calls += 1;
    const decoded = call.request;
    const fail = (detail: ErrorDetail): void => {
      this.count(detail);
      call.emit('error', grpcErrorOf(detail));
    };
    if (!decoded.ok) return fail({ code: 'INVALID_ARGUMENT', message: decoded.reason, field: 'request' });
    let filter: { queue?: string } = {};
    try {
      const q = decoded.value['queue'];
      if (q !== undefined && q !== null) filter = { queue: queueName(decoded.value) };
    } catch (e) {
      return fail(e instanceof Refusal ? e.detail : { code: 'INTERNAL', message: 'bad request' });
    }
    this.counters.eventStreams += 1;
    let open = true;
    let unsubscribe: () => void = () => undefined;
    const end = (detail: ErrorDetail | null): void => {
      if (!open) return;
      open = false;
      this.counters.eventStreams -= 1;
      unsubscribe();
      this.closers.delete(shutdown);
      if (detail !== null) fail(detail);
      else call.end();
    };
    const shutdown = (): void => end(null);
    this.closers.add(shutdown);
    try {
      unsubscribe = this.executor.subscribe(filter, (e) => {
        if (!open) return;
        if (call.writableLength >= this.opts.eventQueueMax) {
          return end({
            code: 'RESOURCE_EXHAUSTED',
            message: 'event reader too slow',
            limit: 'eventQueueMax',
            retryAfterMs: 1000,
          });
        }
        call.write(eventToWire(e));
      });
      // Headers now tell the client the subscription exists (its events() `ready`).
      call.sendMetadata(new grpc.Metadata());
    } catch {
      this.counters.internal += 1;
      return end({ code: 'INTERNAL', message: 'cannot subscribe' });
    }
    call.on('cancelled', () => end(null));
    call.on('error', () => end(null));
  }
}

function eventToWire(e: TaskEvent): Obj {
  return { ...e };
}

/** The proto-loader definition, with request deserializers that report garbage instead of throwing. */
export function clientServiceDefinition(): grpc.ServiceDefinition {
  const loaded = loadProtoFile('client.proto')[CLIENT_SERVICE];
  if (loaded === undefined || !('Enqueue' in loaded))
    throw new Error(`raftq: ${CLIENT_SERVICE} is not in client.proto`);
  const safe: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(loaded as grpc.ServiceDefinition)) {
    const inner = method.requestDeserialize;
    safe[name] = {
      ...method,
      requestDeserialize: (buf: Buffer): Decoded => {
        try {
          return { ok: true, value: inner(buf) as Obj };
        } catch {
          return { ok: false, reason: 'protobuf: undecodable request' };
        }
      },
    };
  }
  return safe as grpc.ServiceDefinition;
}

export interface ClientServerOptions extends ClientServiceOptions {
  /** host:port to bind; port 0 picks a free one. */
  address: string;
  executor: ClientExecutor;
  /** Largest request accepted (beyond it grpc-js answers RESOURCE_EXHAUSTED). Default 64 MiB. */
  receiveMessageBytesMax?: number;
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
}

/** The client gRPC server of one node. */
export class ClientServer {
  private boundPort = 0;

  private constructor(
    private readonly server: grpc.Server,
    readonly service: ClientService,
    private readonly host: string,
  ) {}

  static async start(options: ClientServerOptions): Promise<ClientServer> {
    const server = new grpc.Server({
      'grpc.max_receive_message_length': options.receiveMessageBytesMax ?? 64 * 1024 * 1024,
      'grpc.max_send_message_length': 256 * 1024 * 1024,
      'grpc.keepalive_time_ms': options.keepaliveTimeMs ?? 10_000,
      'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs ?? 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_ping_interval_without_data_ms': 1_000,
    });
    const service = createClientService(options.executor, options);
    server.addService(service.definition, service.implementation);
    const s = new ClientServer(server, service, options.address.slice(0, options.address.lastIndexOf(':')));
    s.boundPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(options.address, grpc.ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(err) : resolve(port),
      ),
    );
    return s;
  }

  get port(): number {
    return this.boundPort;
  }

  get address(): string {
    return `${this.host}:${this.boundPort}`;
  }

  metrics(): ClientServiceMetrics {
    return this.service.metrics();
  }

  /** Ends streams and waiters, stops accepting calls; calls still running after graceMs are cancelled. */
  async close(graceMs = 1_000): Promise<void> {
    this.service.close();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
