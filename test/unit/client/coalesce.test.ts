// The SDK's coalescing transport over a scripted fake transport (every reply decided by the test) and,
// end to end, over the real client service (LoopbackTransport): batching, order, per-item errors,
// aborts, deadlines, the UNIMPLEMENTED fallback and the bounds.
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/client.js';
import { CoalescingTransport } from '../../../src/client/coalesce.js';
import { AlreadyExistsError, InvalidArgumentError } from '../../../src/client/errors.js';
import type { CallCancel } from '../../../src/client/transport.js';
import {
  TransportError,
  type Message,
  type Method,
  type StreamHandlers,
  type StreamMethod,
  type Transport,
} from '../../../src/client/transport.js';
import type { ErrorDetail } from '../../../src/protocol/errors.js';
import { FakeClock, FakeCluster, LoopbackTransport, settle } from './fakes.js';

interface Sent {
  address: string;
  method: Method;
  request: Message;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  resolve(reply: Message): void;
  reject(e: TransportError): void;
}

/** A transport whose every call waits until the test answers it. */
class ScriptedTransport implements Transport {
  readonly sent: Sent[] = [];
  closed = false;
  call(address: string, method: Method, request: Message, timeoutMs: number, signal?: AbortSignal): Promise<Message> {
    return new Promise((resolve, reject) =>
      this.sent.push({ address, method, request, timeoutMs, signal, resolve, reject }),
    );
  }
  stream(_a: string, _m: StreamMethod, _r: Message, handlers: StreamHandlers): () => void {
    handlers.onEnd(null);
    return () => undefined;
  }
  close(): void {
    this.closed = true;
  }
  methods(): string[] {
    return this.sent.map((s) => s.method);
  }
  last(method: Method): Sent {
    const s = this.sent.filter((x) => x.method === method).at(-1);
    if (s === undefined) throw new Error(`no ${method} sent`);
    return s;
  }
}

type Outcome = { ok: true; reply: Message } | { ok: false; error: TransportError };

/** Starts a call and records how it ends, so a test can check that it has not ended yet. */
function track(p: Promise<Message>): { outcome: Outcome | null } {
  const t: { outcome: Outcome | null } = { outcome: null };
  p.then(
    (reply) => (t.outcome = { ok: true, reply }),
    (error: TransportError) => (t.outcome = { ok: false, error }),
  );
  return t;
}

function items(s: Sent): Message[] {
  return s.request['items'] as Message[];
}

function errorResult(detail: ErrorDetail): Message {
  return {
    result: 'error',
    error: { code: detail.code, message: `items[x]: ${detail.message}`, detailJson: JSON.stringify(detail) },
  };
}

const A = '10.0.0.1:7000';
const B = '10.0.0.2:7000';
const enq = (n: number): Message => ({ queue: 'q', tasks: [{ payload: new Uint8Array([n]) }] });

function setup(options: ConstructorParameters<typeof CoalescingTransport>[1] = {}) {
  const clock = new FakeClock();
  const inner = new ScriptedTransport();
  const t = new CoalescingTransport(inner, { clock, ...options });
  return { clock, inner, t };
}

describe('CoalescingTransport - batching', () => {
  it('sends the calls of one turn to one address as one Submit, in order, and splits the replies', async () => {
    const { inner, t } = setup();
    const shared = new AbortController().signal;
    const calls = [
      track(t.call(A, 'Enqueue', enq(1), 5_000, shared)),
      track(t.call(A, 'Cancel', { id: '7' }, 5_000, shared)),
      track(t.call(A, 'Enqueue', enq(2), 5_000, shared)),
    ];
    // Callers sharing a signal share one listener, gone once they are all answered.
    expect(getEventListeners(shared, 'abort')).toHaveLength(1);
    expect(inner.sent).toHaveLength(0);
    await settle();
    expect(inner.methods()).toEqual(['Submit']);
    const submit = inner.last('Submit');
    expect(items(submit)).toEqual([{ enqueue: enq(1) }, { cancel: { id: '7' } }, { enqueue: enq(2) }]);
    submit.resolve({
      results: [
        { result: 'enqueue', enqueue: { items: [{ id: '1' }] } },
        { result: 'cancel', cancel: { state: 'cancelled' } },
        { result: 'enqueue', enqueue: { items: [{ id: '2' }] } },
      ],
    });
    await settle();
    expect(calls.map((c) => c.outcome)).toEqual([
      { ok: true, reply: { items: [{ id: '1' }] } },
      { ok: true, reply: { state: 'cancelled' } },
      { ok: true, reply: { items: [{ id: '2' }] } },
    ]);
    expect(t.stats()).toMatchObject({ submitCalls: 1, submitItems: 3, unaryCalls: 0 });
    expect(getEventListeners(shared, 'abort')).toHaveLength(0);
  });

  it('sends a lone call, a long-poll lease, reads and other addresses as before', async () => {
    const { inner, t } = setup();
    void t.call(A, 'Enqueue', enq(1), 5_000);
    await settle();
    void t.call(A, 'Lease', { queue: 'q', workerId: 'w', max: 1, maxHoldMs: 1_000 }, 5_000);
    void t.call(A, 'GetTask', { id: '1' }, 5_000);
    void t.call(A, 'Lease', { queue: 'q', workerId: 'w', max: 1 }, 5_000);
    void t.call(A, 'Ack', { items: [] }, 5_000);
    void t.call(B, 'Nack', { id: '1', token: '2' }, 5_000);
    void t.call(B, 'Release', { id: '1', token: '2' }, 5_000);
    await settle();
    expect(inner.sent.map((s) => `${s.method}@${s.address}`)).toEqual([
      `Enqueue@${A}`,
      `Lease@${A}`,
      `GetTask@${A}`,
      `Submit@${A}`,
      `Submit@${B}`,
    ]);
    expect(items(inner.sent[3] as Sent).map((i) => Object.keys(i)[0])).toEqual(['lease', 'ack']);
    expect(items(inner.sent[4] as Sent).map((i) => Object.keys(i)[0])).toEqual(['nack', 'release']);
  });

  it('bounds a Submit by items and by bytes; a command bigger than the byte bound goes alone', async () => {
    const { inner, t } = setup({ itemsMax: 4, bytesMax: 1_000 });
    for (let i = 0; i < 10; i++) void t.call(A, 'Enqueue', enq(i), 5_000);
    await settle();
    expect(inner.sent.map((s) => items(s).length)).toEqual([4, 4, 2]);
    const big = (n: number): Message => ({ queue: 'q', tasks: [{ payload: new Uint8Array(n) }] });
    inner.sent.length = 0;
    void t.call(A, 'Enqueue', big(400), 5_000);
    void t.call(A, 'Enqueue', big(400), 5_000);
    void t.call(A, 'Enqueue', big(400), 5_000);
    void t.call(A, 'Enqueue', big(2_000), 5_000);
    await settle();
    // The third 400-byte call would overflow the first batch, which leaves at once; the 2,000-byte
    // one goes alone straight away; the third is then alone in its batch, so it goes unary too.
    const size = (r: Message): number => ((r['tasks'] as Message[])[0]?.['payload'] as Uint8Array).length;
    expect(inner.sent.map((s) => (s.method === 'Submit' ? `Submit x${items(s).length}` : size(s.request)))).toEqual([
      'Submit x2',
      2_000,
      400,
    ]);
  });

  it('on a Submit stream, a command of aloneBytes or more goes alone and at once; smaller ones still share', async () => {
    const clock = new FakeClock();
    const inner = new (class extends ScriptedTransport {
      streamsSubmit(): boolean {
        return true;
      }
    })();
    const t = new CoalescingTransport(inner, { clock, aloneBytes: 1_000 });
    const big = (n: number): Message => ({ queue: 'q', tasks: [{ payload: new Uint8Array(n) }] });
    void t.call(A, 'Enqueue', enq(1), 5_000);
    void t.call(A, 'Enqueue', big(1_500), 5_000);
    void t.call(A, 'Enqueue', enq(2), 5_000);
    void t.call(A, 'Enqueue', big(3_000), 5_000);
    // Before the turn ends, only the big ones have left, each in a Submit of its own.
    const payloadSizes = (s: Sent): number[] =>
      items(s)
        .map((i) => ((i['enqueue'] as Message)['tasks'] as Message[])[0]?.['payload'] as Uint8Array)
        .map((p) => p.length);
    expect(inner.sent.map((s) => s.method)).toEqual(['Submit', 'Submit']);
    expect(inner.sent.map(payloadSizes)).toEqual([[1_500], [3_000]]);
    await settle();
    expect(inner.sent.map(payloadSizes)).toEqual([[1_500], [3_000], [1, 1]]);

    // Infinity: the big ones share the turn's Submit as before.
    const again = new (class extends ScriptedTransport {
      streamsSubmit(): boolean {
        return true;
      }
    })();
    const shared = new CoalescingTransport(again, { clock, aloneBytes: Infinity });
    void shared.call(A, 'Enqueue', big(1_500), 5_000);
    void shared.call(A, 'Enqueue', big(3_000), 5_000);
    expect(again.sent).toHaveLength(0);
    await settle();
    expect(again.sent.map(payloadSizes)).toEqual([[1_500, 3_000]]);
  });

  it('gives the Submit the latest deadline and fails an earlier one locally on time', async () => {
    const { clock, inner, t } = setup();
    const short = track(t.call(A, 'Enqueue', enq(1), 100));
    const long = track(t.call(A, 'Enqueue', enq(2), 5_000));
    await settle();
    const submit = inner.last('Submit');
    expect(submit.timeoutMs).toBe(5_000);
    await clock.advance(99);
    expect(short.outcome).toBeNull();
    await clock.advance(1);
    expect(short.outcome).toMatchObject({ ok: false, error: { detail: { code: 'DEADLINE_EXCEEDED' } } });
    expect(long.outcome).toBeNull();
    submit.resolve({
      results: [
        { result: 'enqueue', enqueue: { items: [{ id: '1' }] } },
        { result: 'enqueue', enqueue: { items: [{ id: '2' }] } },
      ],
    });
    await settle();
    expect(long.outcome).toEqual({ ok: true, reply: { items: [{ id: '2' }] } });
    expect(short.outcome?.ok).toBe(false);
  });
});

describe('CoalescingTransport - errors', () => {
  it('fails an item alone with the unary error detail; a wrong or missing result is INTERNAL', async () => {
    const { inner, t } = setup();
    const detail: ErrorDetail = {
      code: 'INVALID_ARGUMENT',
      message: 'tasks[0].priority must be ...',
      field: 'tasks[0].priority',
    };
    const calls = [0, 1, 2, 3].map((i) => track(t.call(A, 'Enqueue', enq(i), 5_000)));
    await settle();
    inner.last('Submit').resolve({
      results: [
        { result: 'enqueue', enqueue: { items: [{ id: '1' }] } },
        errorResult(detail),
        { result: 'cancel', cancel: {} },
      ],
    });
    await settle();
    expect(calls[0]?.outcome?.ok).toBe(true);
    const failed = calls[1]?.outcome;
    expect(failed?.ok === false && failed.error).toBeInstanceOf(TransportError);
    expect(failed?.ok === false && failed.error.detail).toEqual(detail);
    expect(calls[2]?.outcome).toMatchObject({ ok: false, error: { detail: { code: 'INTERNAL' } } });
    expect(calls[3]?.outcome).toMatchObject({ ok: false, error: { detail: { code: 'INTERNAL' } } });
  });

  it('fails every caller alike when the whole Submit fails, each with its own copy of the detail', async () => {
    const { inner, t } = setup();
    const calls = [track(t.call(A, 'Enqueue', enq(1), 5_000)), track(t.call(A, 'Ack', { items: [] }, 5_000))];
    await settle();
    inner.last('Submit').reject(new TransportError({ code: 'UNAVAILABLE', message: 'connection refused' }));
    await settle();
    const [a, b] = calls.map((c) => c.outcome);
    expect(a).toMatchObject({ ok: false, error: { detail: { code: 'UNAVAILABLE', message: 'connection refused' } } });
    expect(b).toMatchObject({ ok: false, error: { detail: { code: 'UNAVAILABLE' } } });
    if (a?.ok === false && b?.ok === false) expect(a.error.detail).not.toBe(b.error.detail);
  });

  it('falls back to unary calls for a node that does not know Submit, and tries again later', async () => {
    const { clock, inner, t } = setup({ reprobeMs: 10_000 });
    const calls = [track(t.call(A, 'Enqueue', enq(1), 5_000)), track(t.call(A, 'Cancel', { id: '3' }, 5_000))];
    await settle();
    inner.last('Submit').reject(new TransportError({ code: 'INTERNAL', message: 'UNIMPLEMENTED' }, true));
    await settle();
    expect(inner.methods()).toEqual(['Submit', 'Enqueue', 'Cancel']);
    expect(inner.sent[1]?.request).toEqual(enq(1));
    inner.last('Enqueue').resolve({ items: [{ id: '9' }] });
    inner.last('Cancel').reject(new TransportError({ code: 'NOT_FOUND', message: 'no task 3' }));
    await settle();
    expect(calls[0]?.outcome).toEqual({ ok: true, reply: { items: [{ id: '9' }] } });
    expect(calls[1]?.outcome).toMatchObject({ ok: false, error: { detail: { code: 'NOT_FOUND' } } });
    // Meanwhile that address gets unary calls; another address still gets Submit.
    void t.call(A, 'Enqueue', enq(2), 5_000);
    void t.call(A, 'Enqueue', enq(3), 5_000);
    void t.call(B, 'Enqueue', enq(4), 5_000);
    void t.call(B, 'Enqueue', enq(5), 5_000);
    await settle();
    expect(inner.methods().slice(3)).toEqual(['Enqueue', 'Enqueue', 'Submit']);
    await clock.advance(10_000);
    void t.call(A, 'Enqueue', enq(6), 5_000);
    void t.call(A, 'Enqueue', enq(7), 5_000);
    await settle();
    expect(inner.methods().at(-1)).toBe('Submit');
    expect(t.stats().fallbacks).toBe(1);
  });

  it('rejects an aborted caller locally: before the send it is left out, after it the others still get answers', async () => {
    const { inner, t } = setup();
    const early = new AbortController();
    const late = new AbortController();
    const calls = [
      track(t.call(A, 'Enqueue', enq(1), 5_000, early.signal)),
      track(t.call(A, 'Enqueue', enq(2), 5_000, late.signal)),
      track(t.call(A, 'Enqueue', enq(3), 5_000)),
      track(t.call(A, 'Enqueue', enq(4), 5_000)),
    ];
    early.abort();
    await settle();
    const submit = inner.last('Submit');
    expect(items(submit)).toEqual([{ enqueue: enq(2) }, { enqueue: enq(3) }, { enqueue: enq(4) }]);
    expect(calls[0]?.outcome).toMatchObject({ ok: false, error: { detail: { code: 'UNAVAILABLE' } } });
    late.abort();
    await settle();
    expect(calls[1]?.outcome).toMatchObject({ ok: false, error: { detail: { code: 'UNAVAILABLE' } } });
    expect(submit.signal?.aborted).toBe(false);
    const ok = (id: string): Message => ({ result: 'enqueue', enqueue: { items: [{ id }] } });
    submit.resolve({ results: [ok('2'), ok('3'), ok('4')] });
    await settle();
    expect(calls.slice(2).map((c) => c.outcome)).toEqual([
      { ok: true, reply: { items: [{ id: '3' }] } },
      { ok: true, reply: { items: [{ id: '4' }] } },
    ]);
    expect(calls[1]?.outcome?.ok).toBe(false);
  });

  it('cancels the Submit once every caller in it gave up; close fails unsent calls', async () => {
    const { inner, t } = setup();
    const c = new AbortController();
    void t.call(A, 'Enqueue', enq(1), 5_000, c.signal).catch(() => undefined);
    void t.call(A, 'Enqueue', enq(2), 5_000, c.signal).catch(() => undefined);
    await settle();
    c.abort();
    expect(inner.last('Submit').signal?.aborted).toBe(true);
    const unsent = track(t.call(A, 'Enqueue', enq(3), 5_000));
    t.close();
    await settle();
    expect(unsent.outcome).toMatchObject({ ok: false, error: { detail: { code: 'UNAVAILABLE' } } });
    expect(inner.closed).toBe(true);
  });
});

describe('CoalescingTransport - over a transport that takes a CallCancel', () => {
  /** The scripted transport, offering callCancellable: Submits come with a CallCancel, not a signal. */
  class CancellableTransport extends ScriptedTransport {
    readonly cancels: CallCancel[] = [];
    callCancellable(a: string, m: Method, r: Message, ms: number, cancel: CallCancel): Promise<Message> {
      this.cancels.push(cancel);
      return this.call(a, m, r, ms);
    }
  }

  it('cancels the Submit once every caller in it gave up, not before', async () => {
    const inner = new CancellableTransport();
    const t = new CoalescingTransport(inner, { clock: new FakeClock() });
    const first = new AbortController();
    const second = new AbortController();
    void t.call(A, 'Enqueue', enq(1), 5_000, first.signal).catch(() => undefined);
    void t.call(A, 'Enqueue', enq(2), 5_000, second.signal).catch(() => undefined);
    await settle();
    expect(inner.last('Submit').signal).toBeUndefined();
    const [cancel] = inner.cancels;
    const heard: string[] = [];
    cancel?.listen(() => heard.push('cancelled'));
    first.abort();
    expect(cancel?.cancelled).toBe(false);
    second.abort();
    expect(cancel?.cancelled).toBe(true);
    expect(heard).toEqual(['cancelled']);
    t.close();
  });

  it('answers the callers of a Submit it did not cancel', async () => {
    const inner = new CancellableTransport();
    const t = new CoalescingTransport(inner, { clock: new FakeClock() });
    const calls = [track(t.call(A, 'Enqueue', enq(1), 5_000)), track(t.call(A, 'Enqueue', enq(2), 5_000))];
    await settle();
    const ok = (id: string): Message => ({ result: 'enqueue', enqueue: { items: [{ id }] } });
    inner.last('Submit').resolve({ results: [ok('1'), ok('2')] });
    await settle();
    expect(calls.map((c) => c.outcome?.ok)).toEqual([true, true]);
    expect(inner.cancels[0]?.cancelled).toBe(false);
    t.close();
  });
});

describe('CoalescingTransport - with the Client and the real client service', () => {
  let client: Client | null = null;
  afterEach(async () => {
    await client?.close({ timeoutMs: 0 });
    client = null;
  });

  it('concurrent commands keep their own session seqs and errors; few calls carry them', async () => {
    const clock = new FakeClock();
    const cluster = new FakeCluster(clock, 3);
    const loop = new LoopbackTransport(cluster);
    // Each enqueue its own command (batchEnqueues: false): these tests are about coalescing commands.
    const transport = new CoalescingTransport(loop, { clock });
    client = new Client({ servers: cluster.addresses, transport, clock, batchEnqueues: false });
    const q = client.queue<{ n: number }>('co');
    await q.create();
    const enqueues = Array.from({ length: 50 }, (_, n) => q.enqueue({ n }));
    // Already exists: fails alone with its typed error.
    const exists = q.create().then(
      () => null,
      (e: unknown) => e,
    );
    // Refused by the SDK's own validation (never sent); settled into a value so it is never unhandled.
    const invalid = q.enqueue({ n: -1 }, { priority: 1e9 }).then(
      () => null,
      (e: unknown) => e,
    );
    const ok = await Promise.allSettled(enqueues);
    const ids = ok.map((r) => (r.status === 'fulfilled' ? r.value.id : ''));
    expect(ok.every((r) => r.status === 'fulfilled')).toBe(true);
    expect(new Set(ids).size).toBe(50);
    expect(await exists).toBeInstanceOf(AlreadyExistsError);
    expect(await invalid).toBeInstanceOf(InvalidArgumentError);
    const submits = loop.calls.filter((c) => c.method === 'Submit');
    expect(submits.length).toBeGreaterThan(0);
    expect(loop.calls.length).toBeLessThan(10);
    // Every command kept its own session sequence number.
    const seqs = submits.flatMap((s) =>
      (s.request['items'] as Message[]).map((i) => ((Object.values(i)[0] as Message)['header'] as Message)['seq']),
    );
    expect(new Set(seqs).size).toBe(seqs.length);
    const page = await q.list({ state: 'waiting', limit: 100 });
    expect(page.items.map((t) => t.payload.n).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, n) => n));
  });

  it('per-command NOT_LEADER hints and a lost Submit reply are retried per command, applied once', async () => {
    const clock = new FakeClock();
    const cluster = new FakeCluster(clock, 3);
    const loop = new LoopbackTransport(cluster);
    cluster.leader = cluster.fronts[2] ?? null;
    // Each enqueue its own command (batchEnqueues: false): these tests are about coalescing commands.
    const transport = new CoalescingTransport(loop, { clock });
    client = new Client({ servers: cluster.addresses, transport, clock, batchEnqueues: false });
    const q = client.queue<{ n: number }>('co-retry');
    await q.create(); // the client now sends to n3
    // Leadership moves to n2: n3 answers each item NOT_LEADER with the hint, the callers follow it
    // at once and together (one Submit to n2), and that Submit's reply is lost after it applied.
    cluster.leader = cluster.fronts[1] ?? null;
    const n2 = cluster.fronts[1]?.address;
    let dropped = 0;
    loop.intercept = (address, method) =>
      method === 'Submit' && address === n2 && dropped++ === 0 ? 'drop-reply' : null;
    const pending = Promise.all(Array.from({ length: 20 }, (_, n) => q.enqueue({ n })));
    await clock.advance(5_000);
    const ids = (await pending).map((r) => r.id);
    expect(new Set(ids).size).toBe(20);
    const submits = loop.calls.filter((c) => c.method === 'Submit');
    expect(submits.slice(0, 2).map((c) => c.address)).toEqual([cluster.fronts[2]?.address, n2]);
    // The retries (each on its own jittered back-off, so mostly unary) carried the same session
    // sequence numbers as the lost Submit, so nothing was applied twice.
    const first = loop.calls.findIndex((c) => c.method === 'Submit' && c.address === n2);
    const seqOf = (m: Message): unknown => (m['header'] as Message)['seq'];
    const itemsOf = (c: (typeof loop.calls)[number]): Message[] =>
      c.method === 'Submit'
        ? (c.request['items'] as Message[]).map((i) => Object.values(i)[0] as Message)
        : c.method === 'Enqueue'
          ? [c.request]
          : [];
    const lost = itemsOf(loop.calls[first] as (typeof loop.calls)[number]).map(seqOf);
    const retried = loop.calls
      .slice(first + 1)
      .flatMap(itemsOf)
      .map(seqOf);
    expect(lost).toHaveLength(20);
    expect(new Set(retried)).toEqual(new Set(lost));
    const stats = await q.stats();
    expect(stats.counts.waiting).toBe(20);
  });
});

describe('CoalescingTransport - injected scheduler', () => {
  it('flushes a batch through the clock’s immediate, so a simulation decides when the turn ends', async () => {
    const clock = new FakeClock();
    const turns: Array<() => void> = [];
    const scheduled = Object.assign(clock, { immediate: (fn: () => void) => void turns.push(fn) });
    const inner = new ScriptedTransport();
    const t = new CoalescingTransport(inner, { clock: scheduled });
    t.call('a:1', 'Cancel', { id: '1' }, 1_000);
    t.call('a:1', 'Cancel', { id: '2' }, 1_000);
    await settle();
    expect(inner.sent).toHaveLength(0);
    expect(turns).toHaveLength(1);
    turns.shift()?.();
    expect(inner.methods()).toEqual(['Submit']);
    expect(items(inner.last('Submit'))).toHaveLength(2);
    t.close();
  });
});
