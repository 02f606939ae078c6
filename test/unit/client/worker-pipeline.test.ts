// The Worker's pipeline: a slot is freed when its handler returns (the ack travels in the background,
// capped by acksInFlightMax), close waits for those acks, and several lease requests are in flight
// at once, together asking for no more than the free slots. Fake clock over the real client service
// and state machine; Ack and Lease calls can be parked until the test lets them through.
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/client.js';
import { LeaseLostError } from '../../../src/client/errors.js';
import type { Message, Method, StreamHandlers, StreamMethod, Transport } from '../../../src/client/transport.js';
import type { WorkerOptions, WorkerTask } from '../../../src/client/worker.js';
import { FakeClock, FakeCluster, LoopbackTransport } from './fakes.js';

const OPTS: WorkerOptions = { leaseMs: 10_000, holdMsMax: 0, electionTimeoutMsMax: 1_000, ackDelayMs: 2 };

interface Parked {
  method: Method;
  request: Message;
  go: () => void;
}

/** The loopback, with the calls of the parked methods held until `release` lets them through. */
class ParkingTransport implements Transport {
  readonly parkedMethods = new Set<Method>();
  parked: Parked[] = [];

  constructor(readonly inner: LoopbackTransport) {}

  async call(address: string, method: Method, request: Message, timeoutMs: number, signal?: AbortSignal) {
    if (this.parkedMethods.has(method)) {
      await new Promise<void>((go) => this.parked.push({ method, request, go }));
    }
    return this.inner.call(address, method, request, timeoutMs, signal);
  }

  stream(address: string, method: StreamMethod, request: Message, handlers: StreamHandlers): () => void {
    return this.inner.stream(address, method, request, handlers);
  }

  close(): void {}

  held(method: Method): Parked[] {
    return this.parked.filter((p) => p.method === method);
  }

  /** Lets the parked calls of `method` through (the first `n`, or all). */
  release(method: Method, n = Infinity): void {
    const mine = this.held(method).slice(0, n);
    this.parked = this.parked.filter((p) => !mine.includes(p));
    for (const p of mine) p.go();
  }
}

let clients: Client[] = [];

function setup() {
  const clock = new FakeClock();
  const cluster = new FakeCluster(clock, 1);
  const inner = new LoopbackTransport(cluster);
  const transport = new ParkingTransport(inner);
  const client = new Client({ servers: cluster.addresses, transport, clock, timeoutMs: 60_000 });
  clients.push(client);
  return { clock, inner, transport, client };
}

afterEach(async () => {
  for (const c of clients) await c.close({ timeoutMs: 0 }).catch(() => undefined);
  clients = [];
});

describe('Worker: a slot is freed when its handler returns', () => {
  it('a slow ack does not hold the slot: the next task runs while the first ack is in flight', async () => {
    const { clock, inner, transport, client } = setup();
    const q = client.queue<string>('q');
    await q.enqueueMany([{ payload: 'a' }, { payload: 'b' }]);
    transport.parkedMethods.add('Ack');
    const starts: string[] = [];
    const completed: string[] = [];
    const w = client.worker('q', (t: WorkerTask<string>) => void starts.push(t.payload), { ...OPTS, concurrency: 1 });
    w.on('completed', (t: WorkerTask<string>) => completed.push(t.payload));
    await clock.advance(10);
    // Both ran with one slot, and no ack has been answered yet.
    expect(starts).toEqual(['a', 'b']);
    expect(inner.count('Ack')).toBe(0);
    expect(transport.held('Ack').length).toBeGreaterThan(0);
    expect(completed).toEqual([]);
    expect(w.active).toBe(2);
    expect((await q.stats()).counts.leased).toBe(2);
    transport.parkedMethods.delete('Ack');
    transport.release('Ack');
    await clock.advance(10);
    expect(completed.sort()).toEqual(['a', 'b']);
    expect(w.active).toBe(0);
    expect((await q.stats()).counts.completed).toBe(2);
    await w.close();
  });

  it('caps the acks in flight: past acksInFlightMax a returned handler keeps its slot until an ack answers', async () => {
    const { clock, transport, client } = setup();
    const q = client.queue<string>('q');
    await q.enqueueMany([{ payload: 'a' }, { payload: 'b' }, { payload: 'c' }]);
    transport.parkedMethods.add('Ack');
    const starts: string[] = [];
    const w = client.worker('q', (t: WorkerTask<string>) => void starts.push(t.payload), {
      ...OPTS,
      concurrency: 1,
      acksInFlightMax: 1,
      ackBatchMax: 1,
    });
    await clock.advance(10);
    // a's ack is in flight with its slot freed; b returned over the cap and holds the only slot.
    expect(starts).toEqual(['a', 'b']);
    expect(transport.held('Ack')).toHaveLength(2);
    expect(w.freeSlots()).toBe(0);
    await clock.advance(1_000);
    expect(starts).toEqual(['a', 'b']);
    // a's ack answers: b's slot goes to c, while b's ack is still in flight.
    transport.release('Ack', 1);
    await clock.advance(10);
    expect(starts).toEqual(['a', 'b', 'c']);
    transport.parkedMethods.delete('Ack');
    transport.release('Ack');
    await clock.advance(10);
    expect((await q.stats()).counts.completed).toBe(3);
    await w.close();
  });

  it('acksInFlightMax 0: the slot is freed only when the ack answers', async () => {
    const { clock, transport, client } = setup();
    const q = client.queue<string>('q');
    await q.enqueueMany([{ payload: 'a' }, { payload: 'b' }]);
    transport.parkedMethods.add('Ack');
    const starts: string[] = [];
    const w = client.worker('q', (t: WorkerTask<string>) => void starts.push(t.payload), {
      ...OPTS,
      acksInFlightMax: 0,
    });
    await clock.advance(100);
    expect(starts).toEqual(['a']);
    transport.parkedMethods.delete('Ack');
    transport.release('Ack');
    await clock.advance(10);
    expect(starts).toEqual(['a', 'b']);
    await w.close();
  });

  it('an ack refused with LEASE_LOST is reported as an error, not as completed', async () => {
    const { clock, inner, client } = setup();
    const q = client.queue<string>('q');
    await q.enqueueMany([{ payload: 'a' }, { payload: 'b' }]);
    inner.intercept = (_a, method) =>
      method === 'Ack' ? { code: 'LEASE_LOST', message: 'not the current lease' } : null;
    const errors: unknown[] = [];
    const completed: unknown[] = [];
    const w = client.worker('q', () => 'ok', { ...OPTS, concurrency: 1 });
    w.on('error', (e) => errors.push(e));
    w.on('completed', (t) => completed.push(t));
    await clock.advance(20);
    expect(errors.filter((e) => e instanceof LeaseLostError)).toHaveLength(2);
    expect(completed).toEqual([]);
    expect(w.stats.completed).toBe(0);
    expect(w.active).toBe(0);
    await w.close();
  });
});

describe('Worker: close waits for the acks in flight', () => {
  it('close({ timeoutMs }) resolves only after the ack of a returned handler answers, and releases nothing', async () => {
    const { clock, transport, client } = setup();
    const q = client.queue<string>('q');
    await q.enqueueMany([{ payload: 'a' }]);
    transport.parkedMethods.add('Ack');
    const events: string[] = [];
    const w = client.worker('q', () => 'ok', OPTS);
    w.on('completed', () => events.push('completed'));
    w.on('closed', () => events.push('closed'));
    await clock.advance(10);
    expect(transport.held('Ack')).toHaveLength(1);
    let closed = false;
    const closing = w.close({ timeoutMs: 1_000 }).then(() => (closed = true));
    await clock.advance(5_000);
    expect(closed).toBe(false);
    expect(transport.inner.count('Release')).toBe(0);
    transport.parkedMethods.delete('Ack');
    transport.release('Ack');
    await clock.advance(10);
    await closing;
    expect(events).toEqual(['completed', 'closed']);
    expect((await q.stats()).counts.completed).toBe(1);
  });
});

describe('Worker: several lease requests in flight', () => {
  it('a trickle keeps one request per lane parked; a slot freed while they are out is asked for at once', async () => {
    const { clock, transport, client } = setup();
    const q = client.queue<string>('q');
    transport.parkedMethods.add('Lease');
    let finish: Array<() => void> = [];
    const starts: string[] = [];
    const w = client.worker(
      'q',
      (t: WorkerTask<string>) => {
        starts.push(t.payload);
        return new Promise<void>((r) => finish.push(r));
      },
      { ...OPTS, concurrency: 8 },
    );
    await clock.advance(0);
    const max = (p: Parked): number => Number(p.request['max']);
    // No lease has come back yet: each of the 4 lanes asks for its share, so all four stay parked.
    expect(transport.held('Lease').map(max)).toEqual([2, 2, 2, 2]);
    await q.enqueueMany([{ payload: 't1' }]);
    transport.release('Lease', 1);
    await clock.advance(0);
    expect(starts).toEqual(['t1']);
    // The lane that brought one task asks again (max(2, 2 × 1)); 1 slot is busy, 7 asked for.
    expect(transport.held('Lease').map(max)).toEqual([2, 2, 2, 1]);
    // Never more than LEASES_IN_FLIGHT_MAX (4) out: a slot freed now waits for a request to return.
    finish.shift()?.();
    await clock.advance(0);
    expect(transport.held('Lease').map(max)).toEqual([2, 2, 2, 1]);
    expect(w.freeSlots()).toBe(8);
    transport.release('Lease', 1);
    await clock.advance(0);
    // That request came back empty and unheld while others are out: its lane waits for a freed slot.
    expect(transport.held('Lease').map(max)).toEqual([2, 2, 1]);
    transport.parkedMethods.delete('Lease');
    await q.enqueueMany([{ payload: 't2' }]);
    transport.release('Lease');
    await clock.advance(10);
    expect(starts).toEqual(['t1', 't2']);
    for (const f of finish) f();
    finish = [];
    await clock.advance(10);
    expect((await q.stats()).counts.completed).toBe(2);
    await w.close();
  });

  it('asks grow to every free slot while leases come back full', async () => {
    const { clock, transport, client } = setup();
    const q = client.queue<string>('q');
    await q.enqueueMany(Array.from({ length: 40 }, (_, i) => ({ payload: `t${i}` })));
    transport.parkedMethods.add('Lease');
    const w = client.worker('q', () => 'ok', { ...OPTS, concurrency: 16 });
    await clock.advance(0);
    const max = (p: Parked): number => Number(p.request['max']);
    const rounds: number[][] = [];
    for (let i = 0; i < 3; i++) {
      rounds.push(transport.held('Lease').map(max));
      transport.release('Lease');
      await clock.advance(10);
    }
    // 4 tasks each, then twice that, then one request for every slot.
    expect(rounds).toEqual([[4, 4, 4, 4], [8, 8], [16]]);
    transport.parkedMethods.delete('Lease');
    transport.release('Lease');
    await clock.advance(50);
    expect((await q.stats()).counts.completed).toBe(40);
    await w.close();
  });

  it('close resolves when lease requests answer empty after it began (no lane waits for a slot)', async () => {
    const { clock, transport, client } = setup();
    transport.parkedMethods.add('Lease');
    const q = client.queue<string>('q');
    const w = client.worker('q', () => 'ok', { ...OPTS, concurrency: 8 });
    await clock.advance(0);
    // One task through: its slot frees while the next request is out, so a second request goes out.
    await q.enqueueMany([{ payload: 't1' }]);
    transport.release('Lease');
    await clock.advance(10);
    expect(transport.held('Lease').length).toBeGreaterThanOrEqual(1);
    let closed = false;
    const closing = w.close({ timeoutMs: 1_000 }).then(() => (closed = true));
    // The parked requests still reach the node after close began, and come back without a task.
    transport.parkedMethods.delete('Lease');
    transport.release('Lease');
    await clock.advance(2_000);
    expect(closed).toBe(true);
    await closing;
  });

  it('concurrency 1 keeps a single lease request out', async () => {
    const { clock, transport, client } = setup();
    transport.parkedMethods.add('Lease');
    const w = client.worker('q', () => 'ok', OPTS);
    await clock.advance(100);
    expect(transport.held('Lease').map((p) => p.request['max'])).toEqual([1]);
    transport.parkedMethods.delete('Lease');
    transport.release('Lease');
    await w.close();
  });
});
