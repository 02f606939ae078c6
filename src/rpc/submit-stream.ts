// The Submit stream (client.proto `SubmitStream`, issue 11): many Submits on one long-lived gRPC
// stream. Each request runs through the very handler of the unary Submit call (admission, per-item
// validation, grants, the executor), given a per-request view of the stream as its call: the
// stream's metadata (token, forwarding), a deadline from the request's timeoutMs, and a cancel of its
// own. What the stream saves is gRPC's per-call work — a new HTTP/2 stream, headers, trailers, a
// deadline timer — which cost more per command than the state machine, Raft and storage together
// (bench/RESULTS.md, "profile").
import * as grpc from '@grpc/grpc-js';
import { isErrorDetail, type ErrorDetail } from '../protocol/errors.js';
import { ERROR_METADATA_KEY } from '../protocol/proto.js';
import { asObject, type Message } from '../protocol/wire-values.js';
import { grpcErrorOf } from './client-errors.js';
import { LazyAbort } from './lazy-abort.js';

type Obj = Message;
type Decoded = { ok: true; value: Obj } | { ok: false; reason: string };
type Unary = grpc.ServerUnaryCall<Decoded, Obj>;
export type SubmitDuplex = grpc.ServerDuplexStream<Decoded, Obj>;
type UnaryHandler = (call: Unary, cb: grpc.sendUnaryData<Obj>) => void;

export interface SubmitStreamOptions {
  /** Requests in flight on one stream at most; one more is answered RESOURCE_EXHAUSTED on its own. */
  inFlightMax: number;
  /** The calendar clock the per-request deadlines are on (as gRPC deadlines are). */
  wallNow: () => number;
}

export interface SubmitStreamStats {
  /** Streams open now, and requests they carried (cumulative). */
  open: number;
  requests: number;
}

const MAX_ID = Number.MAX_SAFE_INTEGER;

/** The bidi handler of SubmitStream over the unary Submit handler; `closers` ends streams on shutdown. */
export function submitStreamHandler(
  submit: UnaryHandler,
  o: SubmitStreamOptions,
  closers: Set<() => void>,
  stats: SubmitStreamStats,
): (call: SubmitDuplex) => void {
  return (call) => new SubmitStreamCall(call, submit, o, closers, stats).start();
}

class SubmitStreamCall {
  private readonly inFlight = new Map<number, LazyAbort>();
  /** Reading new requests (false after the client's half-close, a cancel or shutdown). */
  private reading = true;
  /** Writing replies (false once the stream ended). */
  private open = true;
  private readonly shutdown = (): void => this.stopReading();

  constructor(
    private readonly call: SubmitDuplex,
    private readonly submit: UnaryHandler,
    private readonly o: SubmitStreamOptions,
    private readonly closers: Set<() => void>,
    private readonly stats: SubmitStreamStats,
  ) {}

  start(): void {
    this.stats.open += 1;
    this.closers.add(this.shutdown);
    this.call.on('data', (d: Decoded) => this.onRequest(d));
    this.call.on('end', () => this.stopReading());
    this.call.on('cancelled', () => this.end(null));
    this.call.on('error', () => this.end(null));
    // Headers now: the client knows the stream was admitted (a refusal before them ran nothing).
    this.call.sendMetadata(new grpc.Metadata());
  }

  private onRequest(d: Decoded): void {
    if (!this.reading) return;
    if (!d.ok) return this.end({ code: 'INVALID_ARGUMENT', message: d.reason, field: 'request' });
    const v = d.value;
    const id = v['id'];
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0 || id > MAX_ID) {
      return this.end({ code: 'INVALID_ARGUMENT', message: 'id must be a non-negative safe integer', field: 'id' });
    }
    if (v['cancel'] === true) {
      this.inFlight.get(id)?.abort();
      return;
    }
    if (this.inFlight.has(id)) {
      return this.end({
        code: 'INVALID_ARGUMENT',
        message: `id ${id} is already in flight on this stream`,
        field: 'id',
      });
    }
    this.stats.requests += 1;
    if (this.inFlight.size >= this.o.inFlightMax) {
      const detail: ErrorDetail = {
        code: 'RESOURCE_EXHAUSTED',
        message: `${this.inFlight.size} requests in flight on this stream, the most it runs (submitStreamInFlightMax)`,
        limit: 'submitStreamInFlightMax',
        retryAfterMs: 10,
      };
      this.write({ id, error: errorReply(detail) });
      return;
    }
    this.run(id, asObject(v['submit']), v['timeoutMs']);
  }

  private run(id: number, request: Obj, timeoutMs: unknown): void {
    const abort = new LazyAbort();
    this.inFlight.set(id, abort);
    const ms = typeof timeoutMs === 'number' && timeoutMs > 0 ? timeoutMs : null;
    // The epoch ms a Date of that instant would hold (the unary call's deadline is a Date; no need to make one).
    const deadline: grpc.Deadline = ms === null ? Infinity : timeClip(this.o.wallNow() + ms);
    const view = new StreamRequest({ ok: true, value: request }, this.call, deadline, abort);
    this.submit(view as unknown as Unary, (err, reply) => {
      this.inFlight.delete(id);
      if (err) this.write({ id, error: errorReplyOf(err) });
      else this.write({ id, submit: reply ?? {} });
      if (!this.reading && this.inFlight.size === 0) this.finish();
    });
  }

  private write(reply: Obj): void {
    if (this.open) this.call.write(reply);
  }

  /** No new requests; the stream ends once those in flight are answered. */
  private stopReading(): void {
    this.reading = false;
    if (this.inFlight.size === 0) this.finish();
  }

  private finish(): void {
    if (!this.open) return;
    this.release();
    this.call.end();
  }

  /** Ends the stream now: with `detail` as its status, or (null) because the client went away. */
  private end(detail: ErrorDetail | null): void {
    if (!this.open) return;
    this.reading = false;
    for (const a of this.inFlight.values()) a.abort();
    this.inFlight.clear();
    this.release();
    if (detail !== null) this.call.emit('error', grpcErrorOf(detail));
  }

  private release(): void {
    this.open = false;
    this.stats.open -= 1;
    this.closers.delete(this.shutdown);
  }
}

/** One request of the stream as the unary Submit handler sees its call (what it uses of one). */
class StreamRequest {
  readonly cancelled = false;
  readonly metadata: grpc.Metadata;

  constructor(
    readonly request: Decoded,
    private readonly stream: SubmitDuplex,
    private readonly deadline: grpc.Deadline,
    private readonly abort: LazyAbort,
  ) {
    this.metadata = stream.metadata;
  }

  getDeadline(): grpc.Deadline {
    return this.deadline;
  }

  getPeer(): string {
    return this.stream.getPeer();
  }

  on(event: string, listener: () => void): this {
    if (event === 'cancelled') this.abort.onAbort(listener);
    return this;
  }
}

/** `new Date(ms).getTime()` without the Date (ECMAScript TimeClip). */
function timeClip(ms: number): number {
  return Math.abs(ms) > 8.64e15 ? NaN : Math.trunc(ms) + 0;
}

/** The ErrorReply of a failed unary Submit: its status's `raftq-error` detail. */
function errorReplyOf(err: Partial<grpc.StatusObject> | grpc.ServiceError): Obj {
  return errorReply(statusDetail(err));
}

/** A status's `raftq-error` detail (INTERNAL when it has none). */
export function statusDetail(err: Partial<grpc.StatusObject> | grpc.ServiceError): ErrorDetail {
  const raw = err.metadata?.get(ERROR_METADATA_KEY)[0];
  if (typeof raw === 'string') {
    try {
      const parsed: unknown = JSON.parse(raw);
      if (isErrorDetail(parsed)) return parsed;
    } catch {
      // fall through
    }
  }
  return { code: 'INTERNAL', message: err.details ?? 'submit failed' };
}

function errorReply(detail: ErrorDetail): Obj {
  const error: Obj = { code: detail.code, message: detail.message, detailJson: JSON.stringify(detail) };
  if (detail.field !== undefined) error['field'] = detail.field;
  return error;
}
