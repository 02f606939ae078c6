// OpenTelemetry through a real 3-node cluster (issue 15): a task enqueued under a registered SDK and
// retried once is one trace — the producer span and one consumer span per attempt, the failed
// attempt with error status — carried by the task's traceparent header through the broker.
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it } from 'vitest';
import { waitForLeader } from './helpers.js';
import { clusterPerTest } from '../support/cluster.js';

const fx = clusterPerTest();

afterEach(() => {
  trace.disable();
  context.disable();
});

describe('OpenTelemetry trace propagation', () => {
  it('follows a task from the producer through the broker to both attempts in one trace', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(provider);

    const tc = await fx.start(3);
    await waitForLeader(tc.cluster);
    const c = fx.client();
    const q = c.queue<string>('otel');
    const { id } = await q.enqueue('work', { headers: { tenant: 't1' } });

    const seen: Array<{ traceparent: string | undefined; active: string | undefined }> = [];
    const w = c.worker<string, string>(
      'otel',
      (task) => {
        seen.push({ traceparent: task.headers['traceparent'], active: trace.getActiveSpan()?.spanContext().traceId });
        if (seen.length === 1) throw new Error('first attempt fails');
        return 'done';
      },
      { retryDelayMs: () => 0, holdMsMax: 1_000 },
    );
    fx.track(w);
    await expect(q.waitFor(id, { timeoutMs: 30_000 })).resolves.toBe('done');
    await w.close({ timeoutMs: 2_000 });
    await provider.forceFlush();

    const spans = exporter.getFinishedSpans();
    const producers = spans.filter((s) => s.kind === SpanKind.PRODUCER);
    const consumers = spans
      .filter((s) => s.kind === SpanKind.CONSUMER)
      .sort((a, b) => Number(a.attributes['raftq.task.attempt']) - Number(b.attributes['raftq.task.attempt']));
    expect(producers).toHaveLength(1);
    expect(consumers).toHaveLength(2);
    const producer = producers[0]!;
    const traceId = producer.spanContext().traceId;
    expect(producer.name).toBe('raftq.enqueue otel');
    expect(producer.attributes['messaging.message.id']).toBe(id);
    expect(new Set(spans.map((s) => s.spanContext().traceId))).toEqual(new Set([traceId]));

    const [first, second] = consumers as [(typeof consumers)[0], (typeof consumers)[0]];
    for (const span of consumers) {
      expect(span.name).toBe('raftq.process otel');
      expect(span.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
      expect(span.attributes['messaging.message.id']).toBe(id);
      expect(span.attributes['messaging.destination.name']).toBe('otel');
    }
    expect(first.attributes['raftq.task.attempt']).toBe(1);
    expect(second.attributes['raftq.task.attempt']).toBe(2);
    expect(first.status).toEqual({ code: SpanStatusCode.ERROR, message: 'first attempt fails' });
    expect(second.status.code).toBe(SpanStatusCode.UNSET);
    // Each attempt ran under its own lease: the fencing tokens differ and grow.
    const tokens = consumers.map((s) => Number(s.attributes['raftq.fencing_token']));
    expect(tokens[1]).toBeGreaterThan(tokens[0]!);

    // The handler saw the user's header beside the producer's traceparent, and ran in the trace.
    const stored = await q.get(id);
    expect(stored.headers['tenant']).toBe('t1');
    expect(stored.headers['traceparent']).toBe(`00-${traceId}-${producer.spanContext().spanId}-01`);
    expect(seen).toEqual([
      { traceparent: stored.headers['traceparent'], active: traceId },
      { traceparent: stored.headers['traceparent'], active: traceId },
    ]);
  }, 90_000);
});
