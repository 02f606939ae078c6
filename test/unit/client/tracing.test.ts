// Trace propagation in task headers (issue 15, docs/sdk.md "Tracing"): without a registered SDK the
// headers are untouched; with one, the producer span's context is stamped as W3C traceparent /
// tracestate, never over the user's own, never past the header limits; the parser refuses
// malformed values.
import {
  context,
  createTraceState,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type SpanContext,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it } from 'vitest';
import { formatTraceparent, parseTraceContext, stampTraceContext, traceAttempt } from '../../../src/client/tracing.js';
import { DEFAULT_LIMITS } from '../../../src/protocol/limits.js';
import { machineServerAndClient } from './machine-executor.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';
const SC: SpanContext = { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: TraceFlags.SAMPLED };

const fixture = machineServerAndClient();

/** Registers an SDK; `spans()` flushes (the simple processor exports asynchronously) and lists them. */
function register(): { spans: () => Promise<ReadableSpan[]> } {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
  return {
    spans: async () => {
      await provider.forceFlush();
      return exporter.getFinishedSpans();
    },
  };
}

afterEach(() => {
  trace.disable();
  context.disable();
});

describe('without a tracer provider', () => {
  it('leaves the headers of enqueued tasks untouched', async () => {
    const q = fixture.client().queue('untraced');
    const bare = await q.enqueue('a');
    const withHeaders = await q.enqueue('b', { headers: { tenant: 't1' } });
    expect((await q.get(bare.id)).headers).toEqual({});
    expect((await q.get(withHeaders.id)).headers).toEqual({ tenant: 't1' });
  });

  it('runs the handler directly and returns its value', async () => {
    const task = { id: '1', queue: 'q', headers: {}, attempts: 0, leases: 1 };
    expect(await traceAttempt(task, '7', () => 42)).toBe(42);
    await expect(traceAttempt(task, '7', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  });

  it('stamps nothing from an invalid span context', () => {
    const spec = { payload: new Uint8Array(), headers: { a: 'b' } };
    const invalid = { ...SC, traceId: '0'.repeat(32) };
    expect(stampTraceContext(spec, invalid, DEFAULT_LIMITS)).toBe(spec);
  });
});

describe('with a tracer provider', () => {
  it('stamps the producer span context as traceparent', async () => {
    const sdk = register();
    const q = fixture.client().queue('traced');
    const { id } = await q.enqueue('a', { headers: { tenant: 't1' } });
    const [span, ...more] = await sdk.spans();
    expect(more).toEqual([]);
    expect(span?.name).toBe('raftq.enqueue traced');
    expect(span?.attributes['messaging.message.id']).toBe(id);
    const headers = (await q.get(id)).headers;
    expect(headers['tenant']).toBe('t1');
    expect(headers['traceparent']).toBe(formatTraceparent(span?.spanContext() ?? SC));
  });

  it("never overwrites the user's own traceparent", async () => {
    register();
    const q = fixture.client().queue('traced');
    const mine = `00-${TRACE_ID}-${SPAN_ID}-00`;
    const { id } = await q.enqueue('a', { headers: { TraceParent: mine } });
    expect((await q.get(id)).headers).toEqual({ TraceParent: mine });
  });
});

describe('traceAttempt with a tracer provider', () => {
  it("runs the handler in a consumer span, the child of the task's traceparent", async () => {
    const sdk = register();
    const task = { id: '9', queue: 'q', headers: { traceparent: formatTraceparent(SC) }, attempts: 1, leases: 2 };
    const inside = await traceAttempt(task, '17', () => trace.getActiveSpan()?.spanContext().spanId);
    await expect(traceAttempt(task, '18', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    const [ok, failed] = await sdk.spans();
    expect(ok?.name).toBe('raftq.process q');
    expect(ok?.kind).toBe(SpanKind.CONSUMER);
    expect(ok?.spanContext().traceId).toBe(TRACE_ID);
    expect(ok?.parentSpanContext?.spanId).toBe(SPAN_ID);
    expect(inside).toBe(ok?.spanContext().spanId);
    expect(ok?.attributes).toMatchObject({
      'messaging.message.id': '9',
      'messaging.destination.name': 'q',
      'raftq.task.attempt': 2,
      'raftq.task.leases': 2,
      'raftq.fencing_token': '17',
    });
    expect(ok?.status.code).toBe(SpanStatusCode.UNSET);
    expect(failed?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'boom' });
  });
});

describe('a handler that enqueues', () => {
  it('puts its task in the same trace, under the consumer span', async () => {
    const sdk = register();
    const task = { id: '9', queue: 'q', headers: { traceparent: formatTraceparent(SC) }, attempts: 0, leases: 1 };
    const q = fixture.client().queue('nested');
    const { id } = await traceAttempt(task, '17', () => q.enqueue('child'));
    const [producer, consumer] = await sdk.spans();
    expect(producer?.spanContext().traceId).toBe(TRACE_ID);
    expect(producer?.parentSpanContext?.spanId).toBe(consumer?.spanContext().spanId);
    expect((await q.get(id)).headers['traceparent']).toBe(formatTraceparent(producer?.spanContext() ?? SC));
  });
});

describe('stampTraceContext', () => {
  const spec = (headers: Record<string, string>): { payload: Uint8Array; headers: Record<string, string> } => ({
    payload: new Uint8Array(),
    headers,
  });

  it('adds traceparent and tracestate', () => {
    const sc = { ...SC, traceState: createTraceState('vendor=opaque') };
    expect(stampTraceContext(spec({}), sc, DEFAULT_LIMITS).headers).toEqual({
      traceparent: `00-${TRACE_ID}-${SPAN_ID}-01`,
      tracestate: 'vendor=opaque',
    });
  });

  it('adds nothing when the user set tracestate alone', () => {
    const s = spec({ tracestate: 'mine=1' });
    expect(stampTraceContext(s, SC, DEFAULT_LIMITS)).toBe(s);
  });

  it('respects the header count limit', () => {
    const full = Object.fromEntries(Array.from({ length: DEFAULT_LIMITS.headersMax }, (_, i) => [`h${i}`, 'v']));
    const s = spec(full);
    expect(stampTraceContext(s, SC, DEFAULT_LIMITS)).toBe(s);
  });

  it('drops tracestate first, then both, at the header byte limit', () => {
    const sc = { ...SC, traceState: createTraceState('vendor=opaque') };
    const traceparentBytes = 'traceparent'.length + 55;
    const limits = { ...DEFAULT_LIMITS, headerBytesMax: 'big'.length + 100 + traceparentBytes };
    const s = spec({ big: 'x'.repeat(100) });
    expect(Object.keys(stampTraceContext(s, sc, limits).headers ?? {})).toEqual(['big', 'traceparent']);
    const tighter = { ...limits, headerBytesMax: limits.headerBytesMax - 1 };
    expect(stampTraceContext(s, sc, tighter)).toBe(s);
  });
});

describe('parseTraceContext', () => {
  it('reads what formatTraceparent writes, with tracestate', () => {
    const sc = parseTraceContext({ traceparent: formatTraceparent(SC), tracestate: 'a=1,b=2' });
    expect(sc).toMatchObject({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1, isRemote: true });
    expect(sc?.traceState?.get('b')).toBe('2');
  });

  it('matches the header name case-insensitively', () => {
    expect(parseTraceContext({ TRACEPARENT: `00-${TRACE_ID}-${SPAN_ID}-00` })?.traceId).toBe(TRACE_ID);
  });

  it.each([
    ['no header', undefined],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${SPAN_ID}-01`],
    ['all-zero span id', `00-${TRACE_ID}-${'0'.repeat(16)}-01`],
    ['version ff', `ff-${TRACE_ID}-${SPAN_ID}-01`],
    ['version 00 with an extra field', `00-${TRACE_ID}-${SPAN_ID}-01-xx`],
    ['upper-case hex', `00-${TRACE_ID.toUpperCase()}-${SPAN_ID}-01`],
    ['short span id', `00-${TRACE_ID}-${SPAN_ID.slice(1)}-01`],
  ])('refuses %s', (_why, value) => {
    expect(parseTraceContext(value === undefined ? {} : { traceparent: value })).toBeUndefined();
  });

  it('accepts a later version with extra fields', () => {
    expect(parseTraceContext({ traceparent: `01-${TRACE_ID}-${SPAN_ID}-01-extra` })?.spanId).toBe(SPAN_ID);
  });
});
