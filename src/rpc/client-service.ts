// The client port (`--listen`): a thin adapter from client.proto calls to the node's ClientExecutor.
// What a request means and what a reply holds is the wire contract of src/protocol (wire.ts,
// wire-reads.ts); here requests are decoded and validated before the executor sees them, and
// anything a client sends is answered with a status of docs/design.md §5's table, never a throw.
// Time comes from the injected clock, so the node simulation runs this exact code.
import * as grpc from '@grpc/grpc-js';
import { systemClock, systemWallNow, type Clock } from '../client/clock.js';
import type { Answer, SessionCommand } from '../protocol/commands.js';
import type { ErrorDetail } from '../protocol/errors.js';
import { DEFAULT_LIMITS, type Limits } from '../protocol/limits.js';
import { FORWARD_METADATA_KEY } from '../protocol/proto.js';
import { checkNewProposal } from '../protocol/validate.js';
import {
  COMMAND_OF_METHOD,
  COMMAND_OF_SUBMIT_FIELD,
  COMMAND_WIRE,
  decodeCommand,
  decodeHeader,
  encodeAnswer,
  type ClientCommand,
  type ClientCommandType,
} from '../protocol/wire.js';
import { EVENTS_WIRE, READ_METHODS, READ_WIRE, WAIT_FOR_WIRE, type ReadMethod } from '../protocol/wire-reads.js';
import { asArray, asObject, type Message } from '../protocol/wire-values.js';
import { ClientAuth, OPEN, type Principal } from './auth.js';
import { grpcErrorOf, orRefuse, Refusal } from './client-errors.js';
import { clientServiceDefinition } from './client-definition.js';
import { statusReply } from './client-replies.js';
import { TaskWatchers, waitTerminal } from './client-waiters.js';
import type { ClientExecutor, ExecuteOptions, ExecuteResult } from './executor.js';
import { submitStreamHandler, type SubmitStreamStats } from './submit-stream.js';
import { clockSecrets, cryptoSecrets, type SecretSource } from './lease-secret.js';
import { LazyAbort } from './lazy-abort.js';

export { CLIENT_SERVICE, ERROR_METADATA_KEY, FORWARD_METADATA_KEY } from '../protocol/proto.js';
export { grpcErrorOf } from './client-errors.js';
export { clientServiceDefinition } from './client-definition.js';

export interface ClientServiceOptions {
  limits?: Limits;
  /** Work time of a call whose header names none (ms). */
  defaultTimeoutMs?: number;
  /** Upper bound of any call's work time (ms); the gRPC deadline may be shorter. */
  timeoutMsMax?: number;
  /** Upper bound of a lease's maxHoldMs. */
  holdMsMax?: number;
  /** Events queued on one stream for a slow reader before it is ended with RESOURCE_EXHAUSTED. */
  eventQueueMax?: number;
  /** Open event streams at most; one more is refused with RESOURCE_EXHAUSTED (limit eventStreamsMax). */
  eventStreamsMax?: number;
  /** WaitFor calls waiting at most; one more is refused with RESOURCE_EXHAUSTED (limit waitersMax). */
  waitersMax?: number;
  /** Monotonic clock of the executor's deadlines (default performance.now); overrides clock.now. */
  now?: () => number;
  /** Time of the deadlines and waitFor timers (default: the system clock). */
  clock?: Clock;
  /** Calendar clock the gRPC deadlines are on (default Date.now). */
  wallNow?: () => number;
  /** Bearer tokens and their grants (src/rpc/auth.ts); default: auth off. */
  auth?: ClientAuth;
  /** Requests in flight on one SubmitStream at most (submit-stream.ts). */
  submitStreamInFlightMax?: number;
}

export const CLIENT_SERVICE_DEFAULT_OPTIONS = {
  defaultTimeoutMs: 10_000,
  timeoutMsMax: 120_000,
  holdMsMax: 60_000,
  eventQueueMax: 10_000,
  eventStreamsMax: 10_000,
  waitersMax: 100_000,
  submitStreamInFlightMax: 10_000,
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
  /** SubmitStreams open now, and the requests they carried (each also counted as a Submit). */
  submitStreams?: SubmitStreamStats;
  /** SubmitStreams opened on the raw lane (client-server.ts; cumulative, also counted in submitStreams). */
  rawSubmitStreams?: number;
  /** Calls refused by auth, per token id ('' when no known token id was presented). */
  authFailures?: Record<string, { unauthenticated: number; permissionDenied: number }>;
}

type Obj = Message;
type Decoded = { ok: true; value: Obj } | { ok: false; reason: string };
type Unary = grpc.ServerUnaryCall<Decoded, Obj>;
type Stream = grpc.ServerWritableStream<Decoded, Obj>;
type Callback = grpc.sendUnaryData<Obj>;

interface Prepared {
  /** The validated command of a client command type, with its session stamps. */
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

function requestOf(call: Unary): Obj {
  return (call.request as { ok: true; value: Obj }).value;
}

class ClientServiceImpl {
  private readonly limits: Limits;
  private readonly opts: Required<Omit<ClientServiceOptions, 'limits' | 'now' | 'clock' | 'wallNow' | 'auth'>>;
  private readonly secrets: SecretSource;
  private readonly auth: ClientAuth;
  private readonly clock: Clock;
  private readonly wallNow: () => number;
  private readonly watchers: TaskWatchers;
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
  private readonly submitStreams: SubmitStreamStats = { open: 0, requests: 0 };

  constructor(
    private readonly executor: ClientExecutor,
    options: ClientServiceOptions,
  ) {
    const { limits, now, clock, wallNow, auth, ...rest } = options;
    this.auth = auth ?? new ClientAuth();
    this.limits = limits ?? DEFAULT_LIMITS;
    this.opts = { ...CLIENT_SERVICE_DEFAULT_OPTIONS, ...rest };
    const base = clock ?? systemClock;
    this.clock = now === undefined ? base : { now, setTimer: base.setTimer.bind(base), random: base.random.bind(base) };
    this.wallNow = wallNow ?? systemWallNow;
    this.secrets = clock === undefined ? cryptoSecrets : clockSecrets(clock); // lease-secret.ts
    this.watchers = new TaskWatchers(executor, this.opts.waitersMax);
  }

  service(): ClientService {
    const impl: grpc.UntypedServiceImplementation = {};
    // Every unary call is admitted (token, grants) before its body runs: a refusal applies nothing.
    const unary =
      (method: string, body: (call: Unary, who: Principal) => Promise<Obj>) => (call: Unary, cb: Callback) =>
        this.guard(call, cb, () =>
          this.auth.enabled
            ? this.admit(method, call, requestOf(call)).then((who) => body(call, who))
            : body(call, OPEN),
        );
    for (const [method, type] of COMMAND_OF_METHOD) {
      impl[method] = unary(method, type === 'openSession' ? (c) => this.openSession(c) : (c) => this.command(type, c));
    }
    for (const method of READ_METHODS) impl[method] = unary(method, (c) => this.read(method, c));
    impl['Status'] = unary('Status', async () => statusReply(this.executor.status()));
    impl['WaitFor'] = unary('WaitFor', (c) => this.waitFor(c));
    const submit = unary('Submit', (c, who) => this.submit(c, who));
    impl['Submit'] = submit;
    const streamOpts = { inFlightMax: this.opts.submitStreamInFlightMax, wallNow: this.wallNow };
    impl['SubmitStream'] = submitStreamHandler(submit, streamOpts, this.closers, this.submitStreams);
    impl['Events'] = (call: Stream) => this.events(call);
    return {
      definition: clientServiceDefinition(),
      implementation: impl,
      metrics: () => ({
        ...this.counters,
        errors: { ...this.counters.errors },
        submitStreams: { ...this.submitStreams },
        authFailures: this.auth.failureCounts(),
      }),
      close: () => {
        for (const c of [...this.closers]) c();
      },
    };
  }

  /** The caller, or a Refusal (UNAUTHENTICATED / PERMISSION_DENIED) thrown. */
  private async admit(method: string, call: Unary | Stream, request: Obj): Promise<Principal> {
    const who = await this.auth.admit(method, call.metadata.get('authorization'), request);
    if ('code' in who) throw new Refusal(who);
    return who;
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
      (e: unknown) => this.fail(cb, this.detailOfThrow(e)),
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

  /** A Refusal's detail, or INTERNAL (counted) for anything else thrown. */
  private detailOfThrow(e: unknown): ErrorDetail {
    if (e instanceof Refusal) return e.detail;
    this.counters.internal += 1;
    return { code: 'INTERNAL', message: e instanceof Error ? e.message : 'internal error' };
  }

  /** Absolute deadline on the executor's clock: the header's work time, the gRPC deadline, our cap. */
  private deadline(call: Unary | Stream, timeoutMs: unknown, extraMs = 0): number {
    const asked = typeof timeoutMs === 'number' && timeoutMs > 0 ? timeoutMs : this.opts.defaultTimeoutMs;
    let budget = Math.min(asked, this.opts.timeoutMsMax) + extraMs;
    const grpcDeadline = call.getDeadline();
    const at = grpcDeadline instanceof Date ? grpcDeadline.getTime() : grpcDeadline;
    if (Number.isFinite(at)) budget = Math.min(budget, Math.max(0, at - this.wallNow()));
    return this.clock.now() + budget;
  }

  /** The call's cancel, its signal made only if the executor asks (lazy-abort.ts). */
  private cancelOf(call: Unary): LazyAbort {
    const c = new LazyAbort();
    call.on('cancelled', () => c.abort());
    return c;
  }

  private async command(type: ClientCommandType, call: Unary): Promise<Obj> {
    const p = this.prepare(type, requestOf(call));
    return this.execute(p.sc, call, p.timeoutMs, p.maxHoldMs);
  }

  /** Decodes and validates one command request (throws a Refusal), as its unary method does. */
  private prepare(type: ClientCommandType, req: Obj): Prepared {
    const header = asObject(req['header']);
    const session = orRefuse(decodeHeader(header));
    const cmd = orRefuse(checkNewProposal(orRefuse(decodeCommand(type, req, this.limits))));
    let maxHoldMs = 0;
    if (type === 'lease' && typeof req['maxHoldMs'] === 'number')
      maxHoldMs = Math.min(req['maxHoldMs'], this.opts.holdMsMax);
    if (cmd.type === 'lease') cmd.secret = this.secrets(); // the grantee's proof (docs/security.md)
    const sc: SessionCommand = Object.assign({}, session, { cmd }); // hot: no spread-then-extend (docs/decisions.md)
    return { sc, timeoutMs: header['timeoutMs'], maxHoldMs };
  }

  /**
   * Many commands in one call. Each item is prepared as its unary call would be and fails alone;
   * the valid ones go to the executor together, so they can share one log entry. A held lease runs
   * on its own (its hold must not delay the others' answers inside the executor).
   */
  private async submit(call: Unary, who: Principal): Promise<Obj> {
    const items = asArray(requestOf(call)['items']);
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
      const item = asObject(raw);
      const name = typeof item['command'] === 'string' ? item['command'] : '';
      const type = COMMAND_OF_SUBMIT_FIELD.get(name);
      if (type === undefined) {
        const detail: ErrorDetail = {
          code: 'INVALID_ARGUMENT',
          message: 'command must be set (one of enqueue, ack, ...)',
          field: 'command',
        };
        results[i] = this.itemError(i, '', detail);
        return;
      }
      try {
        const denied = this.auth.authorize(who, COMMAND_WIRE[type].method, asObject(item[name]));
        if (denied !== null) throw new Refusal(denied);
        const p = this.prepare(type, asObject(item[name]));
        (p.maxHoldMs > 0 ? held : shared).push({ i, name, p });
      } catch (e) {
        results[i] = this.itemError(i, name, this.detailOfThrow(e));
      }
    });
    const cancel = this.cancelOf(call);
    const runs = held.map((slot) => this.executeSlots([slot], call, cancel, results));
    if (shared.length > 0) runs.push(this.executeSlots(shared, call, cancel, results));
    await Promise.all(runs);
    return { results };
  }

  /** Runs prepared items in one executor call and writes each one's SubmitResult into `results`. */
  private async executeSlots(slots: Slot[], call: Unary, cancel: LazyAbort, results: Obj[]): Promise<void> {
    const deadlines = slots.map((s) => this.deadline(call, s.p.timeoutMs, s.p.maxHoldMs));
    // Deadlines only bound holds in the executor, and only a lone held lease has one: the latest is safe.
    const opts = executeOptions(Math.max(...deadlines), cancel, call);
    const hold = slots.length === 1 ? (slots[0] as Slot).p.maxHoldMs : 0;
    if (hold > 0) opts.maxHoldMs = hold;
    let result: ExecuteResult;
    try {
      result = await this.executor.execute(
        slots.map((s) => s.p.sc),
        opts,
      );
      if (result.answers.length !== slots.length)
        throw new Error(`executor answered ${result.answers.length} answers for ${slots.length} commands`);
    } catch (e) {
      const now = this.clock.now();
      slots.forEach((s, k) => {
        const late = now >= (deadlines[k] as number);
        const detail: ErrorDetail = late
          ? { code: 'DEADLINE_EXCEEDED', message: 'deadline passed' }
          : this.detailOfThrow(e);
        results[s.i] = this.itemError(s.i, s.name, detail);
      });
      return;
    }
    slots.forEach((s, k) => {
      const a = result.answers[k] as Answer;
      results[s.i] = a.ok
        ? { [s.name]: encodeAnswer(s.p.sc.cmd as ClientCommand, a.value, result) }
        : this.itemError(s.i, s.name, a.error);
    });
  }

  /** One item's ErrorReply: the unary error detail verbatim, plus where in the Submit it is. */
  private itemError(i: number, name: string, detail: ErrorDetail): Obj {
    this.count(detail);
    const at = name === '' ? `items[${i}]` : `items[${i}].${name}`;
    const error: Obj = { code: detail.code, message: `${at}: ${detail.message}`, detailJson: JSON.stringify(detail) };
    if (detail.field !== undefined) error['field'] = `${at}.${detail.field}`;
    return { error };
  }

  /** OpenSession: sessionless, with its own call timeout field instead of a header. */
  private async openSession(call: Unary): Promise<Obj> {
    const req = requestOf(call);
    const cmd = orRefuse(decodeCommand('openSession', req, this.limits));
    return this.execute({ session: null, seq: 0, cmd }, call, req['callTimeoutMs'], 0);
  }

  private async execute(sc: SessionCommand, call: Unary, timeoutMs: unknown, maxHoldMs: number): Promise<Obj> {
    const deadline = this.deadline(call, timeoutMs, maxHoldMs);
    const opts = executeOptions(deadline, this.cancelOf(call), call);
    if (maxHoldMs > 0) opts.maxHoldMs = maxHoldMs;
    const result = await this.executor.execute([sc], opts).catch((e: unknown) => {
      if (this.clock.now() >= deadline) throw new Refusal({ code: 'DEADLINE_EXCEEDED', message: 'deadline passed' });
      throw e;
    });
    const answer = result.answers[0];
    if (answer === undefined) throw new Error(`executor answered ${result.answers.length} answers for 1 command`);
    if (!answer.ok) throw new Refusal(answer.error);
    return encodeAnswer(sc.cmd as ClientCommand, answer.value, result);
  }

  private async read(method: ReadMethod, call: Unary): Promise<Obj> {
    const req = requestOf(call);
    const wire = READ_WIRE[method];
    const query = orRefuse(wire.request.decode(req));
    const read = asObject(req['read']);
    const consistency = read['consistency'] === 'STALE' ? 'stale' : 'linearizable';
    const deadline = this.deadline(call, read['timeoutMs']);
    const answer = await this.executor.read(query, { consistency, deadline, ...forwardOf(call) });
    if (!answer.answer.ok) throw new Refusal(answer.answer.error);
    return wire.reply.encode(answer.answer.value, answer.asOf);
  }

  /** Resolves when the task is terminal; fails with UNAVAILABLE when this node steps down. */
  private async waitFor(call: Unary): Promise<Obj> {
    const { id, timeoutMs } = orRefuse(WAIT_FOR_WIRE.request.decode(requestOf(call)));
    const deadline = this.deadline(call, timeoutMs);
    this.counters.waiters += 1;
    try {
      const read = await waitTerminal(this.executor, this.watchers, {
        id,
        deadline,
        now: () => this.clock.now(),
        setTimer: (ms, fn) => this.clock.setTimer(ms, fn),
        ...forwardOf(call),
        onAbort: (abort) => {
          const onCancel = (): void => abort(new Refusal({ code: 'UNAVAILABLE', message: 'cancelled' }));
          const close = (): void => abort(new Refusal({ code: 'UNAVAILABLE', message: 'node shutting down' }));
          // The call's listener stays: the call ends with the wait, and a late abort is a no-op.
          call.on('cancelled', onCancel);
          this.closers.add(close);
          return () => this.closers.delete(close);
        },
      });
      const answer = read.answer as Answer & { ok: true };
      return WAIT_FOR_WIRE.reply.encode(answer.value, read.asOf);
    } finally {
      this.counters.waiters -= 1;
    }
  }

  /** Server stream of task events applied on this node; a reader too slow to keep up is cut off. */
  private events(call: Stream): void {
    this.counters.calls += 1;
    const decoded = call.request;
    const fail = (detail: ErrorDetail): void => {
      this.count(detail);
      call.emit('error', grpcErrorOf(detail));
    };
    if (!decoded.ok) return fail({ code: 'INVALID_ARGUMENT', message: decoded.reason, field: 'request' });
    const filter = EVENTS_WIRE.request.decode(decoded.value);
    if (!filter.ok) return fail(filter.error);
    if (!this.auth.enabled) return this.openEvents(call, filter.value, fail);
    this.admit('Events', call, decoded.value).then(
      () => this.openEvents(call, filter.value, fail),
      (e: unknown) => fail(this.detailOfThrow(e)),
    );
  }

  private openEvents(call: Stream, filter: { queue?: string }, fail: (detail: ErrorDetail) => void): void {
    if (call.cancelled) return;
    if (this.counters.eventStreams >= this.opts.eventStreamsMax) {
      return fail({
        code: 'RESOURCE_EXHAUSTED',
        message: `${this.counters.eventStreams} event streams already open on this node, the most it serves (eventStreamsMax)`,
        limit: 'eventStreamsMax',
        retryAfterMs: 1000,
      });
    }
    this.stream(call, filter, fail);
  }

  /** Subscribes one accepted event stream until it ends, is cancelled or falls behind. */
  private stream(call: Stream, filter: { queue?: string }, fail: (detail: ErrorDetail) => void): void {
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
          const detail: ErrorDetail = { code: 'RESOURCE_EXHAUSTED', message: 'event reader too slow' };
          return end({ ...detail, limit: 'eventQueueMax', retryAfterMs: 1000 });
        }
        call.write(EVENTS_WIRE.message.encode(e));
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

/** The executor's options; `signal` is made when the executor first reads it (a hold, a forward). */
function executeOptions(deadline: number, cancel: LazyAbort, call: Unary): ExecuteOptions {
  const opts: ExecuteOptions = {
    deadline,
    get signal(): AbortSignal {
      return cancel.signal;
    },
  };
  if (call.metadata?.get(FORWARD_METADATA_KEY)[0] === '1') opts.forward = true;
  return opts;
}

/** A client that sends `raftq-forward: 1` lets a follower forward its call to the leader (src/rpc/forward.ts). */
function forwardOf(call: Unary): { forward?: true } {
  return call.metadata?.get(FORWARD_METADATA_KEY)[0] === '1' ? { forward: true } : {};
}
