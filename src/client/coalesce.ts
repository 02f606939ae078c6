// Coalescing: command calls to one address made in the same event-loop turn travel as one Submit
// call (client.proto), because the cost of a command is mostly per gRPC call, not per task. It sits
// below the Client's retry logic, so every command keeps its own session seq, deadline, retries and
// errors: each caller gets exactly the reply or TransportError its unary call would have given.
import { isErrorCode, isErrorDetail, type ErrorDetail } from '../protocol/errors.js';
import { DEFAULT_LIMITS } from '../protocol/limits.js';
import { asObject } from '../protocol/wire-values.js';
import { COMMAND_WIRE } from '../protocol/wire.js';
import { systemClock, systemImmediate, type Clock, type Timer } from './clock.js';
import {
  CallCancel,
  TransportError,
  type Message,
  type Method,
  type StreamHandlers,
  type StreamMethod,
  type Transport,
} from './transport.js';
import { renamedOption } from './renamed-options.js';

/** The unary methods a Submit can carry, and the SubmitItem / SubmitResult field of each. */
export const SUBMIT_FIELDS: Readonly<Partial<Record<Method, string>>> = Object.fromEntries(
  Object.values(COMMAND_WIRE).flatMap((w) => (w.field === null ? [] : [[w.method, w.field]])),
);

export interface CoalescingOptions {
  /** Most commands in one Submit (default: the server's submitItemsMax, 1024). */
  itemsMax?: number;
  /** Most (estimated) request bytes in one Submit (default 4 MiB); a bigger command goes alone. */
  bytesMax?: number;
  /**
   * On a Submit stream, a command of at least this many (estimated) bytes goes alone and at once
   * (default 64 KiB; Infinity: never): it fills a log entry by itself, and sharing a Submit only made
   * concurrent batches travel, commit and return together, so none was written while another applied.
   */
  aloneBytes?: number;
  /** @deprecated Renamed `itemsMax` (still accepted, with a DeprecationWarning). */
  maxItems?: number;
  /** @deprecated Renamed `bytesMax` (still accepted, with a DeprecationWarning). */
  maxBytes?: number;
  /**
   * When a batch leaves: 'immediate' (the clock's `immediate`: after this event-loop turn, so
   * callers woken by the same reply are gathered; the default) or 'microtask' (before any I/O;
   * smaller batches).
   */
  flush?: 'immediate' | 'microtask';
  /** After an address answered UNIMPLEMENTED, unary calls only for this long (default 60 s). */
  reprobeMs?: number;
  /** Time: per-command deadlines, reprobes and the flush turn (default: the system clock). */
  clock?: Clock;
}

export interface CoalescingStats {
  /** Submit calls sent and the commands they carried. */
  submitCalls: number;
  submitItems: number;
  /** Command calls sent unary: lone, too big, held leases, or to an address without Submit. */
  unaryCalls: number;
  /** Submit calls answered UNIMPLEMENTED (their commands were then sent unary). */
  fallbacks: number;
}

interface Pending {
  method: Method;
  field: string;
  request: Message;
  /** Absolute deadline on the clock. */
  end: number;
  bytes: number;
  signal: AbortSignal | undefined;
  batch: Batch | null;
  settled: boolean;
  timer: Timer | null;
  resolve(reply: Message): void;
  reject(e: TransportError): void;
  /** The watch on its caller's signal, until settled. */
  watch: Watch | null;
}

/** The calls waiting on one caller signal, and its one abort listener (see watch). */
interface Watch {
  signal: AbortSignal;
  waiting: Set<Pending>;
  onAbort: () => void;
}

interface Batch {
  address: string;
  items: Pending[];
  bytes: number;
  /** Cancels the Submit once every caller in it has given up. */
  abort: AbortController | CallCancel | null;
}

const BYTES_MAX_DEFAULT = 4 * 1024 * 1024;
const ALONE_BYTES_DEFAULT = 64 * 1024;
const REPROBE_MS_DEFAULT = 60_000;
/** How deep the size estimate walks a request (requests are a few levels deep). */
const ESTIMATE_DEPTH_MAX = 6;
/** Deadlines within this much of the Submit's are left to the Submit's own deadline. */
const DEADLINE_SLACK_MS = 1;

/** A Transport that sends concurrent command calls to one address as Submit calls of `inner`. */
export class CoalescingTransport implements Transport {
  private readonly itemsMax: number;
  private readonly bytesMax: number;
  private readonly aloneBytes: number;
  private readonly reprobeMs: number;
  private readonly clock: Clock;
  private readonly flushAt: 'immediate' | 'microtask';
  /** Batches not sent yet, per address. */
  private readonly open = new Map<string, Batch>();
  /** Addresses that answered UNIMPLEMENTED, until when they get unary calls only. */
  private readonly unaryUntil = new Map<string, number>();
  /** The calls waiting on each caller signal (see watch). */
  private readonly watched = new Map<AbortSignal, Watch>();
  private scheduled = false;
  private closed = false;
  private readonly counters: CoalescingStats = { submitCalls: 0, submitItems: 0, unaryCalls: 0, fallbacks: 0 };

  constructor(
    private readonly inner: Transport,
    options: CoalescingOptions = {},
  ) {
    const itemsMax = renamedOption<number>(options, 'itemsMax', 'maxItems', 'coalesce option');
    this.itemsMax = Math.max(1, Math.floor(itemsMax ?? DEFAULT_LIMITS.submitItemsMax));
    this.bytesMax = Math.max(
      1,
      renamedOption<number>(options, 'bytesMax', 'maxBytes', 'coalesce option') ?? BYTES_MAX_DEFAULT,
    );
    this.aloneBytes = options.aloneBytes ?? ALONE_BYTES_DEFAULT;
    this.reprobeMs = options.reprobeMs ?? REPROBE_MS_DEFAULT;
    this.clock = options.clock ?? systemClock;
    this.flushAt = options.flush ?? 'immediate';
  }

  stats(): CoalescingStats {
    return { ...this.counters };
  }

  call(address: string, method: Method, request: Message, timeoutMs: number, signal?: AbortSignal): Promise<Message> {
    const field = SUBMIT_FIELDS[method];
    const held = method === 'Lease' && typeof request['maxHoldMs'] === 'number' && request['maxHoldMs'] > 0;
    if (field === undefined) return this.inner.call(address, method, request, timeoutMs, signal);
    const bytes = estimateBytes(request, 0);
    const streamed = this.streamed(address);
    if ((held && !streamed) || this.closed || bytes > this.bytesMax || !this.submitKnown(address)) {
      this.counters.unaryCalls += 1;
      return this.inner.call(address, method, request, timeoutMs, signal);
    }
    if (signal?.aborted) return Promise.reject(cancelled());
    return new Promise<Message>((resolve, reject) => {
      const p: Pending = {
        method,
        field,
        request,
        end: this.clock.now() + Math.max(1, timeoutMs),
        bytes,
        signal,
        batch: null,
        settled: false,
        timer: null,
        resolve,
        reject,
        watch: null,
      };
      if (signal !== undefined) this.watch(signal, p);
      // A held lease must not hold the others' answers, and a big batch must not wait for them
      // (aloneBytes): each goes alone, at once.
      if (held || (streamed && bytes >= this.aloneBytes)) {
        p.batch = { address, items: [p], bytes, abort: null };
        this.send(p.batch);
      } else this.enlist(address, p);
    });
  }

  stream(address: string, method: StreamMethod, request: Message, handlers: StreamHandlers): () => void {
    return this.inner.stream(address, method, request, handlers);
  }

  streamsSubmit(address: string): boolean {
    return this.streamed(address);
  }

  close(): void {
    this.closed = true;
    const waiting = [...this.open.values()].flatMap((b) => b.items);
    this.open.clear();
    for (const p of waiting)
      this.settle(p, null, new TransportError({ code: 'UNAVAILABLE', message: 'transport closed' }));
    this.inner.close();
  }

  // ---- internals ----

  /**
   * Fails `p` when `signal` aborts. Callers mostly share one signal (the Client's close signal): one
   * listener per signal, not per call, as listeners on one signal are costly to add and remove by
   * the thousand.
   */
  private watch(signal: AbortSignal, p: Pending): void {
    let w = this.watched.get(signal);
    if (w === undefined) {
      const waiting = new Set<Pending>();
      const onAbort = (): void => {
        for (const x of [...waiting]) this.giveUp(x, cancelled());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      w = { signal, waiting, onAbort };
      this.watched.set(signal, w);
    }
    w.waiting.add(p);
    p.watch = w;
  }

  /** `p` no longer waits on its caller's signal; the last one out removes the listener. */
  private unwatch(p: Pending): void {
    const w = p.watch;
    if (w === null) return;
    p.watch = null;
    w.waiting.delete(p);
    if (w.waiting.size > 0 || this.watched.get(w.signal) !== w) return;
    this.watched.delete(w.signal);
    w.signal.removeEventListener('abort', w.onAbort);
  }

  /** Submits to `address` ride a stream: a one-command Submit costs less than its own unary call. */
  private streamed(address: string): boolean {
    return this.inner.streamsSubmit?.(address) === true;
  }

  private submitKnown(address: string): boolean {
    const until = this.unaryUntil.get(address);
    if (until === undefined) return true;
    if (this.clock.now() < until) return false;
    this.unaryUntil.delete(address);
    return true;
  }

  /** Adds a call to its address's open batch; a full batch leaves at once. */
  private enlist(address: string, p: Pending): void {
    let batch = this.open.get(address);
    if (batch !== undefined && batch.bytes + p.bytes > this.bytesMax) {
      this.open.delete(address);
      this.send(batch);
      batch = undefined;
    }
    if (batch === undefined) {
      batch = { address, items: [], bytes: 0, abort: null };
      this.open.set(address, batch);
    }
    p.batch = batch;
    batch.items.push(p);
    batch.bytes += p.bytes;
    if (batch.items.length >= this.itemsMax) {
      this.open.delete(address);
      this.send(batch);
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    if (this.flushAt === 'microtask') queueMicrotask(() => this.flush());
    else if (this.clock.immediate !== undefined) this.clock.immediate(() => this.flush());
    else systemImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const batches = [...this.open.values()];
    this.open.clear();
    for (const b of batches) this.send(b);
  }

  private send(batch: Batch): void {
    // One pass (this runs for every Submit): the callers still waiting, and the latest deadline.
    const items: Pending[] = [];
    let end = -Infinity;
    for (const p of batch.items) {
      if (p.settled) continue;
      items.push(p);
      if (p.end > end) end = p.end;
    }
    batch.items = items;
    const first = items[0];
    if (first === undefined) return;
    if (items.length === 1 && !this.streamed(batch.address)) return this.sendUnary(batch.address, first);
    const now = this.clock.now();
    // The Submit lives until the latest deadline; each earlier one fails its own caller on time
    // (to the millisecond, as a gRPC deadline would: callers of one turn rarely need a timer).
    for (const p of items) {
      if (p.end < end - DEADLINE_SLACK_MS)
        p.timer = this.clock.setTimer(p.end - now, () => this.giveUp(p, deadlineExceeded()));
    }
    this.counters.submitCalls += 1;
    this.counters.submitItems += items.length;
    const request = { items: items.map((p) => ({ [p.field]: p.request })) };
    let reply: Promise<Message>;
    if (this.inner.callCancellable !== undefined) {
      const cancel = new CallCancel();
      batch.abort = cancel;
      reply = this.inner.callCancellable(batch.address, 'Submit', request, end - now, cancel);
    } else {
      const abort = new AbortController();
      batch.abort = abort;
      reply = this.inner.call(batch.address, 'Submit', request, end - now, abort.signal);
    }
    reply.then(
      (reply) => this.deliver(items, reply),
      (e: unknown) => this.failed(batch.address, items, e),
    );
  }

  private sendUnary(address: string, p: Pending): void {
    this.counters.unaryCalls += 1;
    const remaining = Math.max(1, p.end - this.clock.now());
    p.batch = null;
    this.inner.call(address, p.method, p.request, remaining, p.signal).then(
      (reply) => this.settle(p, reply, null),
      (e: unknown) => this.settle(p, null, asTransportError(e)),
    );
  }

  /** Splits a SubmitReply back to the callers, in order. */
  private deliver(items: Pending[], reply: Message): void {
    const results = Array.isArray(reply['results']) ? (reply['results'] as unknown[]) : [];
    items.forEach((p, k) => {
      const r = asObject(results[k]);
      const which = r['result'];
      if (which === 'error') return this.settle(p, null, new TransportError(errorReplyDetail(asObject(r['error']))));
      if (which === p.field) return this.settle(p, asObject(r[p.field]), null);
      this.settle(
        p,
        null,
        new TransportError({
          code: 'INTERNAL',
          message: `Submit answered ${String(which ?? 'nothing')} to ${p.field} (item ${k} of ${results.length})`,
        }),
      );
    });
  }

  /** The whole Submit failed: a node without Submit gets the commands unary; else each caller fails alike. */
  private failed(address: string, items: Pending[], e: unknown): void {
    const err = asTransportError(e);
    if (err.unimplemented) {
      this.counters.fallbacks += 1;
      this.unaryUntil.set(address, this.clock.now() + this.reprobeMs);
      for (const p of items) {
        if (p.settled) continue;
        p.timer?.cancel();
        p.timer = null;
        this.sendUnary(address, p);
      }
      return;
    }
    // A copy per caller: the Client adds a leader hint to the detail it got.
    for (const p of items) this.settle(p, null, new TransportError({ ...err.detail }));
  }

  /** The caller stops waiting (abort, its own deadline): its command may still run in the Submit. */
  private giveUp(p: Pending, e: TransportError): void {
    this.settle(p, null, e);
    const batch = p.batch;
    const abort = batch?.abort ?? null;
    if (abort === null || !(batch as Batch).items.every((x) => x.settled)) return;
    if (abort instanceof CallCancel) abort.cancel();
    else abort.abort();
  }

  private settle(p: Pending, reply: Message | null, error: TransportError | null): void {
    if (p.settled) return;
    p.settled = true;
    p.timer?.cancel();
    p.timer = null;
    this.unwatch(p);
    if (error !== null) p.reject(error);
    else p.resolve(reply ?? {});
  }
}

function asTransportError(e: unknown): TransportError {
  if (e instanceof TransportError) return e;
  return new TransportError({ code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) });
}

/** What a cancelled gRPC call gives (grpc-transport.ts maps CANCELLED to UNAVAILABLE). */
function cancelled(): TransportError {
  return new TransportError({ code: 'UNAVAILABLE', message: 'Cancelled on client' });
}

function deadlineExceeded(): TransportError {
  return new TransportError({ code: 'DEADLINE_EXCEEDED', message: 'Deadline exceeded (coalesced call)' });
}

/** An ErrorReply's detail: the unary trailer's JSON when it parses, else its code and message. */
export function errorReplyDetail(e: Message): ErrorDetail {
  const json = e['detailJson'];
  if (typeof json === 'string' && json !== '') {
    try {
      const parsed: unknown = JSON.parse(json);
      if (isErrorDetail(parsed)) return parsed;
    } catch {
      // fall back to the plain fields
    }
  }
  const code = typeof e['code'] === 'string' && isErrorCode(e['code']) ? e['code'] : 'INTERNAL';
  return { code, message: typeof e['message'] === 'string' ? e['message'] : 'error' };
}

/** A rough size of a request on the wire: bytes and strings, plus a little per field. */
function estimateBytes(v: unknown, depth: number): number {
  if (v instanceof Uint8Array) return v.byteLength + 4;
  if (typeof v === 'string') return v.length + 4;
  if (typeof v !== 'object' || v === null || depth >= ESTIMATE_DEPTH_MAX) return 10;
  let n = 4;
  if (Array.isArray(v)) for (const x of v) n += estimateBytes(x, depth + 1);
  else for (const k in v) n += 2 + estimateBytes((v as Message)[k], depth + 1);
  return n;
}
