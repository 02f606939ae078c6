// OpenTelemetry trace propagation through task headers (docs/sdk.md "Tracing"): an enqueue runs in a
// `producer` span whose context travels in the task's W3C `traceparent` / `tracestate` headers, and
// each worker attempt runs its handler in a `consumer` span that is that context's child — so a
// trace follows a task from producer through the broker to every attempt, retries included.
// Only `@opentelemetry/api` is used: without a registered SDK its tracer is a no-op, the spans are
// invalid, and nothing is added to the headers.
import {
  context,
  createTraceState,
  ProxyTracerProvider,
  isSpanContextValid,
  isValidSpanId,
  isValidTraceId,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
  type SpanContext,
} from '@opentelemetry/api';
import type { TaskSpec } from '../protocol/commands.js';
import type { Limits } from '../protocol/limits.js';

export const TRACEPARENT_HEADER = 'traceparent';
export const TRACESTATE_HEADER = 'tracestate';
const TRACER_NAME = 'raftq';

/** Adds the producer span's context to one task's headers (see stampTraceContext). */
export type TraceStamp = (spec: TaskSpec) => TaskSpec;
const UNTRACED: TraceStamp = (spec) => spec;

// Fetched per use, not cached: the global provider can be replaced (or disabled) at any time, and
// without one this is a cheap proxy whose spans are invalid.
function tracer(): ReturnType<typeof trace.getTracer> {
  return trace.getTracer(TRACER_NAME);
}

/**
 * Whether a span started now would be invalid and non-recording: no SDK behind the global provider
 * (the API's proxy has no delegate) and no valid span in `parent`. The no-op tracer then starts an
 * invalid span whatever it is given, so the caller may skip making one (issue 11: a span, its
 * options and attributes per enqueue and per attempt, for nothing).
 */
function untraced(parent: Context): boolean {
  const provider = trace.getTracerProvider();
  if (!(provider instanceof ProxyTracerProvider) || provider.getDelegateTracer(TRACER_NAME) !== undefined) return false;
  // No span in the context at all (the usual case without tracing): nothing to validate.
  const sc = trace.getSpanContext(parent);
  return sc === undefined || !isSpanContextValid(sc);
}

function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** The header's value, its name matched case-insensitively (W3C names are case-insensitive). */
function headerValue(headers: Record<string, string>, name: string): string | undefined {
  const exact = headers[name];
  if (exact !== undefined) return exact;
  // for...in, not Object.entries: this runs for every leased task, and most carry no such header.
  for (const k in headers) {
    if (k.length === name.length && k.toLowerCase() === name && Object.hasOwn(headers, k)) return headers[k];
  }
  return undefined;
}

/** `00-<trace id>-<span id>-<flags>` (W3C Trace Context, version 00). */
export function formatTraceparent(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** A remote span context from W3C headers, or undefined when absent or malformed. */
export function parseTraceContext(headers: Record<string, string>): SpanContext | undefined {
  const value = headerValue(headers, TRACEPARENT_HEADER);
  if (value === undefined) return undefined;
  const m = TRACEPARENT.exec(value.trim());
  if (m === null) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string?];
  // Version ff is invalid; version 00 has exactly four fields; later versions may append more.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (!isValidTraceId(traceId) || !isValidSpanId(spanId)) return undefined;
  const sc: SpanContext = { traceId, spanId, traceFlags: parseInt(flags, 16), isRemote: true };
  const state = headerValue(headers, TRACESTATE_HEADER);
  if (state !== undefined && state.trim() !== '') sc.traceState = createTraceState(state);
  return sc;
}

/**
 * The task with `traceparent` (and `tracestate`) set from `sc` — unless `sc` is invalid (no SDK),
 * the user set either header themselves (theirs wins), or the headers would pass the broker's
 * limits (tracestate is dropped first, then both: the enqueue never fails for tracing's sake).
 */
export function stampTraceContext(spec: TaskSpec, sc: SpanContext, limits: Limits): TaskSpec {
  if (!isSpanContextValid(sc)) return spec;
  const headers = spec.headers ?? {};
  if (headerValue(headers, TRACEPARENT_HEADER) !== undefined || headerValue(headers, TRACESTATE_HEADER) !== undefined)
    return spec;
  let count = 0;
  let bytes = 0;
  for (const [k, v] of Object.entries(headers)) {
    count += 1;
    bytes += utf8Length(k) + utf8Length(v);
  }
  const parent = formatTraceparent(sc);
  const state = sc.traceState?.serialize() ?? '';
  const parentBytes = TRACEPARENT_HEADER.length + parent.length;
  const stateBytes = TRACESTATE_HEADER.length + utf8Length(state);
  const fits = (n: number, b: number): boolean => count + n <= limits.headersMax && bytes + b <= limits.headerBytesMax;
  if (!fits(1, parentBytes)) return spec;
  const out: Record<string, string> = { ...headers, [TRACEPARENT_HEADER]: parent };
  if (state !== '' && fits(2, parentBytes + stateBytes)) out[TRACESTATE_HEADER] = state;
  return { ...spec, headers: out };
}

/**
 * Runs one enqueue call (one or many tasks) in a `raftq.enqueue <queue>` producer span; `submit`
 * gets a stamp that puts the span's context into each task's headers.
 */
export function traceEnqueue<R>(
  queue: string,
  limits: Limits,
  submit: (stamp: TraceStamp) => Promise<R>,
  /** The answer's tasks, for the span's attributes (the answer itself when it is their list). */
  tasksOf: (answer: R) => ReadonlyArray<{ id: string }> = (answer) => answer as ReadonlyArray<{ id: string }>,
): Promise<R> {
  // Not async: untraced, the submit's own promise is the answer (no wrapper, no extra turns).
  if (untraced(context.active())) return submit(UNTRACED);
  return tracedEnqueue(queue, limits, submit, tasksOf);
}

async function tracedEnqueue<R>(
  queue: string,
  limits: Limits,
  submit: (stamp: TraceStamp) => Promise<R>,
  tasksOf: (answer: R) => ReadonlyArray<{ id: string }>,
): Promise<R> {
  const span = tracer().startSpan(`raftq.enqueue ${queue}`, {
    kind: SpanKind.PRODUCER,
    attributes: {
      'messaging.system': 'raftq',
      'messaging.operation.type': 'send',
      'messaging.destination.name': queue,
    },
  });
  const sc = span.spanContext();
  // No SDK: an invalid, non-recording span — headers stay as they are and nothing else is paid.
  if (!isSpanContextValid(sc) && !span.isRecording()) return submit(UNTRACED);
  const stamp: TraceStamp = (spec) => stampTraceContext(spec, sc, limits);
  try {
    const answer = await context.with(trace.setSpan(context.active(), span), () => submit(stamp));
    const out = tasksOf(answer);
    span.setAttribute('messaging.batch.message_count', out.length);
    if (out.length === 1 && out[0] !== undefined) span.setAttribute('messaging.message.id', out[0].id);
    return answer;
  } catch (e) {
    fail(span, e);
    throw e;
  } finally {
    span.end();
  }
}

/** What the consumer span needs of a leased task. */
export interface TracedTask {
  id: string;
  queue: string;
  headers: Record<string, string>;
  /** Handler failures before this attempt. */
  attempts: number;
  /** Leases of the task, this one included. */
  leases: number;
}

/**
 * Runs one attempt's handler in a `raftq.process <queue>` consumer span, the child of the context
 * the producer put in the task's headers (a root span when it put none); a throw sets the status
 * to error and is rethrown unchanged.
 */
export function traceAttempt<R>(task: TracedTask, token: string, run: () => Promise<R> | R): Promise<R> | R {
  const remote = parseTraceContext(task.headers);
  const parent: Context = remote === undefined ? context.active() : trace.setSpanContext(context.active(), remote);
  // Not async: untraced, the handler's own value or promise is the answer (no wrapper per task).
  if (untraced(parent)) return run();
  return tracedAttempt(task, token, run, parent);
}

async function tracedAttempt<R>(
  task: TracedTask,
  token: string,
  run: () => Promise<R> | R,
  parent: Context,
): Promise<R> {
  const span = tracer().startSpan(
    `raftq.process ${task.queue}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.system': 'raftq',
        'messaging.operation.type': 'process',
        'messaging.destination.name': task.queue,
        'messaging.message.id': task.id,
        'raftq.task.attempt': task.attempts + 1,
        'raftq.task.leases': task.leases,
        'raftq.fencing_token': token,
      },
    },
    parent,
  );
  if (!span.isRecording() && !isSpanContextValid(span.spanContext())) return run();
  try {
    return await context.with(trace.setSpan(parent, span), run);
  } catch (e) {
    fail(span, e);
    throw e;
  } finally {
    span.end();
  }
}

function fail(span: Span, e: unknown): void {
  if (e instanceof Error) span.recordException(e);
  span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof Error ? e.message : String(e) });
}
