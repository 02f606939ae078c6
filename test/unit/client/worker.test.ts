// The Worker's lease belief, extends, coalesced acks, failures and shutdown, with a fake clock over
// the real client service and state machine in-process (the machine's mono clock is the fake clock).
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/client.js';
import { LeaseLostError, NonRetryableError } from '../../../src/client/errors.js';
import {
  TransportError,
  type Message,
  type Method,
  type StreamHandlers,
  type StreamMethod,
  type Transport,
} from '../../../src/client/transport.js';
import type { TaskContext, WorkerOptions, WorkerTask } from '../../../src/client/worker.js';
import { FakeClock, FakeCluster, LoopbackTransport, settle } from './fakes.js';

const LEASE = 10_000;
// margin = 500 + 2 × 0.001 × (leaseMs + maxHoldMs) = 520; extends every (10 000 − 520) / 3 = 3160.
const BELIEF = LEASE - 520;
const OPTS: WorkerOptions = { leaseMs: LEASE, holdMsMax: 0, electionTimeoutMsMax: 1_000, ackDelayMs: 2 };

let clients: Client[] = [];

function setup(clientOpts: { compressAboveBytes?: number } = {}) {
  const clock = new FakeClock();
  const cluster = new FakeCluster(clock, 1);
  const transport = new LoopbackTransport(cluster);
  const client = new Client({ servers: cluster.addresses, transport, clock, timeoutMs: 5_000, ...clientOpts });
  clients.push(client);
  return { clock, cluster, transport, client };
}

afterEach(async () => {
  for (const c of clients) await c.close({ timeoutMs: 0 }).catch(() => undefined);
  clients = [];
});

/** A handler that blocks until its signal fires (or until `finish` is called), recording both. */
function blocking(clock: FakeClock) {
  const seen: Array<{ task: WorkerTask<unknown>; ctx: TaskContext; abortedAt: number | null }> = [];
  let finishAll: (() => void) | null = null;
  const done = new Promise<void>((r) => (finishAll = r));
  const handler = async (task: WorkerTask<unknown>, ctx: TaskContext): Promise<string> => {
    const rec = { task, ctx, abortedAt: null as number | null };
    seen.push(rec);
    ctx.signal.addEventListener('abort', () => (rec.abortedAt = clock.now()));
    await done;
    return `done ${String(task.payload)}`;
  };
  return { seen, handler, finish: () => finishAll?.() };
}

describe('Worker: lease belief (docs/design.md §2)', () => {
  it('fires the AbortSignal at send + heldMs + leaseMs − margin when extends cannot get through, and still acks', async () => {
    const { clock, transport, client } = setup();
    await client.queue('q').enqueue('a');
    transport.intercept = (_a, method) =>
      method === 'Extend' ? { code: 'UNAVAILABLE', message: 'partitioned' } : null;
    const h = blocking(clock);
    const w = client.worker('q', h.handler, OPTS);
    await clock.advance(0);
    expect(h.seen).toHaveLength(1);
    const leaseSent = transport.calls.find((c) => c.method === 'Lease')?.at ?? NaN;
    await clock.advance(leaseSent + BELIEF - 1 - clock.now());
    expect(h.seen[0]?.ctx.signal.aborted).toBe(false);
    expect(transport.count('Extend')).toBeGreaterThan(0);
    await clock.advance(2);
    expect(h.seen[0]?.abortedAt).toBe(leaseSent + BELIEF);
    expect(h.seen[0]?.ctx.signal.reason).toBeInstanceOf(LeaseLostError);
    h.finish();
    await clock.advance(10);
    // The ack still goes out: the lease itself runs 520 ms longer, and the token fences it anyway.
    expect(transport.count('Ack')).toBe(1);
    expect((await client.queue('q').get(h.seen[0]?.task.id ?? '')).state).toBe('completed');
    await w.close();
  });

  it('moves the belief end forward with each successful extend', async () => {
    const { clock, transport, client } = setup();
    await client.queue('q').enqueue('a');
    const h = blocking(clock);
    const w = client.worker('q', h.handler, OPTS);
    await clock.advance(3 * LEASE);
    expect(transport.count('Extend')).toBeGreaterThanOrEqual(9);
    expect(h.seen[0]?.ctx.signal.aborted).toBe(false);
    h.finish();
    await clock.advance(10);
    const t = await client.queue('q').get(h.seen[0]?.task.id ?? '');
    expect(t.state).toBe('completed');
    expect(t.result).toBe('done a');
    await w.close();
  });

  it('aborts on LEASE_LOST from an extend and sends no ack', async () => {
    const { clock, transport, client } = setup();
    await client.queue('q').enqueue('a');
    transport.intercept = (_a, method) =>
      method === 'Extend' ? { code: 'LEASE_LOST', message: 'not the current lease' } : null;
    const h = blocking(clock);
    const errors: unknown[] = [];
    const w = client.worker('q', h.handler, OPTS);
    w.on('error', (e) => errors.push(e));
    await clock.advance(3_200);
    expect(h.seen[0]?.ctx.signal.reason).toBeInstanceOf(LeaseLostError);
    h.finish();
    await clock.advance(10);
    expect(transport.count('Ack')).toBe(0);
    expect(errors.some((e) => e instanceof LeaseLostError)).toBe(true);
    await w.close();
  });
});

describe('Worker: results, failures and shutdown', () => {
  it('coalesces acks of tasks finishing together into one batch', async () => {
    const { clock, transport, client } = setup();
    await client.queue('q').enqueueMany([1, 2, 3, 4, 5].map((n) => ({ payload: n })));
    const completed: unknown[] = [];
    const w = client.worker('q', (t: WorkerTask<number>) => t.payload * 10, { ...OPTS, concurrency: 5 });
    w.on('completed', (_t, r) => completed.push(r));
    await clock.advance(5);
    expect(transport.count('Ack')).toBe(1);
    const ack = transport.calls.find((c) => c.method === 'Ack');
    expect((ack?.request['items'] as unknown[]).length).toBe(5);
    // Long polls ride their own session, so a held lease never pins the floor acks advance.
    const session = (r?: { request: Record<string, unknown> }): unknown =>
      (r?.request['header'] as { session: string }).session;
    expect(session(transport.calls.find((c) => c.method === 'Lease'))).not.toBe(session(ack));
    expect(completed.sort()).toEqual([10, 20, 30, 40, 50]);
    expect((await client.queue('q').stats()).counts.completed).toBe(5);
    await w.close();
  });

  it('nacks a failing handler for retry, dead-letters NonRetryableError and undecodable payloads', async () => {
    const { clock, client } = setup();
    const q = client.queue<string>('q');
    await q.create({ backoff: { type: 'fixed', delayMs: 60_000, maxDelayMs: 60_000, jitterPct: 0 } });
    const [retry, fatal] = await q.enqueueMany([{ payload: 'retry' }, { payload: 'fatal' }]);
    const bad = await client.command({
      type: 'enqueue',
      queue: 'q',
      tasks: [{ payload: new Uint8Array([1, 2, 3]), headers: { 'raftq-compression': 'gzip' } }],
    });
    const badId = (bad.reply['items'] as Array<{ id: string }>)[0]?.id ?? '';
    const failed: string[] = [];
    const w = client.worker(
      'q',
      (t: WorkerTask<string>) => {
        throw t.payload === 'fatal' ? new NonRetryableError('no way') : new Error('try later');
      },
      { ...OPTS, concurrency: 3 },
    );
    w.on('failed', (t: { id: string }) => failed.push(t.id));
    await clock.advance(10);
    expect(failed.sort()).toEqual([retry?.id, fatal?.id, badId].sort());
    const r = await q.get(retry?.id ?? '');
    expect([r.state, r.attempts, r.lastError]).toEqual(['delayed', 1, 'try later']);
    const f = await q.get(fatal?.id ?? '');
    expect([f.state, f.lastError]).toEqual(['dead', 'no way']);
    const b = await q.get(badId);
    expect(b.state).toBe('dead');
    expect(b.lastError).toMatch(/^undecodable payload/);
    await w.close();
  });

  it('close({ timeoutMs }) lets handlers finish, then releases what is left', async () => {
    const { clock, transport, client } = setup();
    const q = client.queue<string>('q');
    await q.enqueueMany([{ payload: 'quick' }, { payload: 'stuck' }]);
    let finishQuick: (() => void) | null = null;
    const w = client.worker(
      'q',
      (t: WorkerTask<string>) =>
        t.payload === 'quick'
          ? new Promise<string>((r) => (finishQuick = () => r('ok')))
          : new Promise<string>(() => undefined),
      { ...OPTS, concurrency: 2 },
    );
    await clock.advance(1);
    expect(w.active).toBe(2);
    let closed = false;
    const closing = w.close({ timeoutMs: 2_000 }).then(() => (closed = true));
    await clock.advance(500);
    (finishQuick as unknown as () => void)();
    await clock.advance(10);
    expect(transport.count('Ack')).toBe(1);
    expect(closed).toBe(false);
    await clock.advance(2_000);
    await closing;
    expect(transport.count('Release')).toBe(1);
    const stats = await q.stats();
    expect([stats.counts.completed, stats.counts.waiting, stats.counts.leased]).toEqual([1, 1, 0]);
    const leasesBefore = transport.count('Lease');
    await clock.advance(5_000);
    expect(transport.count('Lease')).toBe(leasesBefore);
  });

  it('decodes compressed and raw payloads transparently', async () => {
    const { clock, client } = setup({ compressAboveBytes: 100 });
    const q = client.queue<unknown>('q');
    const big = { text: 'x'.repeat(5_000) };
    const [a] = await q.enqueueMany([{ payload: big }]);
    const [b] = await q.enqueueMany([{ payload: new Uint8Array([9, 8, 7]) }]);
    const stored = await client.query('GetTask', { id: a?.id });
    const wire = stored['task'] as { payload: Uint8Array; headers: Record<string, string> };
    expect(wire.headers['raftq-compression']).toBe('gzip');
    expect(wire.payload.byteLength).toBeLessThan(200);
    expect((await q.get(a?.id ?? '')).payload).toEqual(big);
    const got: unknown[] = [];
    const w = client.worker('q', (t) => void got.push(t.payload), { ...OPTS, concurrency: 2 });
    await clock.advance(5);
    expect(got).toContainEqual(big);
    const raw = got.find((p) => p instanceof Uint8Array) as Uint8Array;
    expect([...raw]).toEqual([9, 8, 7]);
    expect((await q.get(b?.id ?? '')).headers).toEqual({});
    await w.close();
    await settle();
  });
});

/**
 * The loopback with hooks: hold the first call of a method until the test opens a gate, let a
 * method's first call hang until its signal aborts it, or strip payloads from the first Lease reply
 * (as a lease answered from the session cache comes back).
 */
class HookedTransport implements Transport {
  private gates = new Map<Method, Promise<void>>();
  private hangs = new Set<Method>();
  stripFirstLeasePayloads = false;

  constructor(readonly inner: LoopbackTransport) {}

  /** Holds the next call of `method`; returns the function that lets it through. */
  gate(method: Method): () => void {
    let open = (): void => undefined;
    this.gates.set(method, new Promise<void>((r) => (open = r)));
    return () => open();
  }

  hangNext(method: Method): void {
    this.hangs.add(method);
  }

  async call(address: string, method: Method, request: Message, timeoutMs: number, signal?: AbortSignal) {
    if (this.hangs.delete(method)) {
      return new Promise<Message>((_resolve, reject) => {
        const cancel = (): void => reject(new TransportError({ code: 'UNAVAILABLE', message: 'cancelled' }));
        signal?.addEventListener('abort', cancel, { once: true });
      });
    }
    const gate = this.gates.get(method);
    this.gates.delete(method);
    if (gate !== undefined) await gate;
    const reply = await this.inner.call(address, method, request, timeoutMs, signal);
    if (method === 'Lease' && this.stripFirstLeasePayloads) {
      this.stripFirstLeasePayloads = false;
      for (const t of reply['tasks'] as Array<Record<string, unknown>>) delete t['payload'];
    }
    return reply;
  }

  stream(address: string, method: StreamMethod, request: Message, handlers: StreamHandlers): () => void {
    return this.inner.stream(address, method, request, handlers);
  }

  close(): void {}
}

function hookedSetup() {
  const clock = new FakeClock();
  const cluster = new FakeCluster(clock, 1);
  const inner = new LoopbackTransport(cluster);
  const transport = new HookedTransport(inner);
  const client = new Client({ servers: cluster.addresses, transport, clock, timeoutMs: 60_000 });
  clients.push(client);
  return { clock, inner, transport, client };
}

/** A handler recording, per start, its token and whether its signal had already fired. */
function recording() {
  const starts: Array<{ token: string; at: number; abortedAtStart: boolean }> = [];
  const handler = (_task: WorkerTask<unknown>, ctx: TaskContext, now: number): string => {
    starts.push({ token: ctx.token, at: now, abortedAtStart: ctx.signal.aborted });
    return 'ok';
  };
  return { starts, handler };
}

describe('Worker: a handler never starts with a fired signal', () => {
  it('a grant that arrives past its belief end is given back, not started', async () => {
    const { clock, inner, transport, client } = hookedSetup();
    const q = client.queue('q');
    const [task] = await q.enqueueMany([{ payload: 'a' }]);
    const letLeaseThrough = transport.gate('Lease');
    const rec = recording();
    const errors: unknown[] = [];
    const w = client.worker('q', (t, ctx) => rec.handler(t, ctx, clock.now()), OPTS);
    w.on('error', (e) => errors.push(e));
    await clock.advance(0);
    const leaseSent = clock.now();
    // The first Lease is applied (and answered) only after its belief would have ended.
    await clock.advance(BELIEF + 10);
    expect(inner.count('Lease')).toBe(0);
    letLeaseThrough();
    await clock.advance(0);
    const released = inner.calls.filter((c) => c.method === 'Release').map((c) => c.request['token']);
    expect(released).toHaveLength(1);
    const late = errors.find((e) => e instanceof LeaseLostError);
    expect(String((late as Error | undefined)?.message)).toMatch(/belief ended before its handler could start/);
    expect(clock.now()).toBeGreaterThan(leaseSent + BELIEF);
    // Given back at once (no attempt counted): the next lease runs it, with a live signal.
    await clock.advance(1_000);
    expect(rec.starts.map((s) => s.abortedAtStart)).toEqual([false]);
    expect(rec.starts[0]?.token).not.toBe(released[0]);
    const done = await q.get(task?.id ?? '');
    expect([done.state, done.attempts]).toEqual(['completed', 0]);
    await w.close();
  });

  it('a payload fetch still running at the belief end is cancelled and the task given back', async () => {
    const { clock, inner, transport, client } = hookedSetup();
    const q = client.queue('q');
    const [task] = await q.enqueueMany([{ payload: 'a' }]);
    transport.stripFirstLeasePayloads = true;
    transport.hangNext('GetTask');
    // Cut off from the leader meanwhile: no extend gets through, so the belief ends on time.
    inner.intercept = (_a, method) => (method === 'Extend' ? { code: 'UNAVAILABLE', message: 'partitioned' } : null);
    const rec = recording();
    const errors: unknown[] = [];
    const w = client.worker('q', (t, ctx) => rec.handler(t, ctx, clock.now()), { ...OPTS, concurrency: 1 });
    w.on('error', (e) => errors.push(e));
    await clock.advance(0);
    const leaseSent = inner.calls.find((c) => c.method === 'Lease')?.at ?? NaN;
    await clock.advance(leaseSent + BELIEF - 1 - clock.now());
    expect(rec.starts).toEqual([]);
    expect(inner.count('Release')).toBe(0);
    await clock.advance(2);
    expect(inner.count('Release')).toBe(1);
    expect(errors.some((e) => e instanceof LeaseLostError && /before its handler could start/.test(e.message))).toBe(
      true,
    );
    inner.intercept = null;
    await clock.advance(1_000);
    expect(rec.starts.map((s) => s.abortedAtStart)).toEqual([false]);
    expect(rec.starts[0]?.at).toBeGreaterThanOrEqual(leaseSent + BELIEF);
    expect((await q.get(task?.id ?? '')).state).toBe('completed');
    await w.close();
  });

  it('an extend answered after the belief end, before the belief timer ran, does not revive the belief', async () => {
    const { clock, transport, client } = hookedSetup();
    await client.queue('q').enqueue('a');
    const letExtendThrough = transport.gate('Extend');
    const h = blocking(clock);
    const w = client.worker('q', h.handler, OPTS);
    await clock.advance(0);
    const leaseSent = clock.now();
    expect(h.seen).toHaveLength(1);
    // The first extend (sent at +3160) is held; the event loop then stalls past the belief end: time
    // moves on without any timer running (as a busy process would), and the extend's reply comes first.
    await clock.advance(leaseSent + BELIEF - 100 - clock.now());
    expect(h.seen[0]?.ctx.signal.aborted).toBe(false);
    clock.t = leaseSent + BELIEF + 5;
    letExtendThrough();
    await settle();
    expect(h.seen[0]?.abortedAt).toBe(leaseSent + BELIEF + 5);
    expect(h.seen[0]?.ctx.signal.reason).toBeInstanceOf(LeaseLostError);
    h.finish();
    await clock.advance(10);
    await w.close();
  });
});
