// The Submit stream (client.proto SubmitStream, issue 11) over real gRPC on loopback: requests keep
// the meaning of Submit calls (answers, per-request errors, deadlines, cancels of held leases),
// refusals name their field, and the SDK's transport falls back to Submit calls on a node without it.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/client.js';
import { GrpcTransport } from '../../../src/client/grpc-transport.js';
import { CallCancel, TransportError } from '../../../src/client/transport.js';
import { CLIENT_SERVICE, createClientService } from '../../../src/rpc/client-service.js';
import { ClientServer } from '../../../src/rpc/client-server.js';
import { loadProtoFile } from '../../../src/rpc/proto.js';
import { MachineExecutor } from '../client/machine-executor.js';

type Obj = Record<string, unknown>;
let executor: MachineExecutor;
let server: ClientServer;
let raw: grpc.Client & Record<string, (...a: unknown[]) => unknown>;

beforeAll(async () => {
  executor = new MachineExecutor();
  server = await ClientServer.start({ address: '127.0.0.1:0', executor, submitStreamInFlightMax: 4 });
  const Ctor = grpc.makeGenericClientConstructor(
    loadProtoFile('client.proto')[CLIENT_SERVICE] as grpc.ServiceDefinition,
    'RaftQ',
  );
  raw = new Ctor(server.address, grpc.credentials.createInsecure()) as typeof raw;
}, 30_000);

afterAll(async () => {
  raw.close();
  await server.close();
});

function openStream(): grpc.ClientDuplexStream<Obj, Obj> {
  return (raw['SubmitStream'] as (m: grpc.Metadata) => grpc.ClientDuplexStream<Obj, Obj>)(new grpc.Metadata());
}

/** Replies by id until `n` arrived, or the stream's error. */
function collect(call: grpc.ClientDuplexStream<Obj, Obj>, n: number): Promise<Map<number, Obj>> {
  const got = new Map<number, Obj>();
  return new Promise((resolve, reject) => {
    call.on('data', (r: Obj) => {
      got.set(r['id'] as number, r);
      if (got.size === n) resolve(got);
    });
    call.on('error', reject);
  });
}

async function openSession(): Promise<string> {
  const reply = await new Promise<Obj>((resolve, reject) =>
    raw['OpenSession']?.({ callTimeoutMs: 2_000 }, (err: grpc.ServiceError | null, r: Obj) =>
      err ? reject(err) : resolve(r),
    ),
  );
  return reply['session'] as string;
}

/** A request holding a lease on an empty queue for up to 30 s. */
function heldLease(id: number, session: string): Obj {
  const lease = {
    header: { session, seq: id, timeoutMs: 60_000 },
    queue: 'empty',
    workerId: 'w1',
    max: 1,
    leaseMs: 1_000,
    maxHoldMs: 30_000,
  };
  return { id, submit: { items: [{ lease }] }, timeoutMs: 60_000 };
}

const enqueueItem = (queue: string, payload: string): Obj => ({
  enqueue: { header: { timeoutMs: 2_000 }, queue, tasks: [{ payload: Buffer.from(payload) }] },
});

describe('SubmitStream', () => {
  it('answers each request by id, as the Submit call would, and errors item by item', async () => {
    const call = openStream();
    const replies = collect(call, 2);
    call.write({ id: 7, submit: { items: [enqueueItem('s1', 'a'), enqueueItem('s1', 'b')] }, timeoutMs: 2_000 });
    call.write({ id: 9, submit: { items: [enqueueItem('', 'x')] }, timeoutMs: 2_000 });
    const got = await replies;
    const ok = (got.get(7)?.['submit'] as Obj)['results'] as Obj[];
    expect(ok.map((r) => r['result'])).toEqual(['enqueue', 'enqueue']);
    const bad = ((got.get(9)?.['submit'] as Obj)['results'] as Obj[])[0]?.['error'] as Obj;
    expect(bad['code']).toBe('INVALID_ARGUMENT');
    expect(bad['field']).toBe('items[0].enqueue.queue');
    const stats = executor.machine.read({ type: 'stats', queue: 's1' }).answer;
    expect(stats.ok && (stats.value as { counts: { waiting: number } }).counts.waiting).toBe(2);
    call.end();
  });

  it('a cancel ends a held lease at once; requests over the in-flight cap are refused alone', async () => {
    const session = await openSession();
    const call = openStream();
    const replies = collect(call, 5);
    for (const id of [1, 2, 3, 4]) call.write(heldLease(id, session));
    call.write(heldLease(5, session)); // the fifth while four hold: over submitStreamInFlightMax (4)
    await new Promise<void>((resolve) => {
      call.once('data', (r: Obj) => {
        expect(r['id']).toBe(5);
        expect((r['error'] as Obj)['code']).toBe('RESOURCE_EXHAUSTED');
        expect(JSON.parse((r['error'] as Obj)['detailJson'] as string)).toMatchObject({
          limit: 'submitStreamInFlightMax',
        });
        resolve();
      });
    });
    for (const id of [1, 2, 3, 4]) call.write({ id, cancel: true });
    const got = await replies; // within the test's timeout, far below the 30 s holds
    for (const id of [1, 2, 3, 4]) {
      const results = (got.get(id)?.['submit'] as Obj)['results'] as Obj[];
      expect((results[0]?.['lease'] as Obj)['tasks']).toEqual([]);
    }
    call.end();
  }, 20_000);

  it('ends the stream naming the field when a request reuses an id in flight', async () => {
    const session = await openSession();
    const call = openStream();
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      call.on('error', resolve);
      call.on('data', () => undefined);
      call.write(heldLease(3, session));
      call.write({ id: 3, submit: { items: [] } });
    });
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(JSON.parse(err.metadata.get('raftq-error')[0] as string)).toMatchObject({ field: 'id' });
  }, 20_000);

  it('the SDK sends every command on the stream, held leases included', async () => {
    const before = server.metrics().submitStreams?.requests ?? 0;
    const client = new Client({ servers: [server.address], timeoutMs: 5_000 });
    const q = client.queue<string>('via-stream');
    await q.enqueue('one');
    const done: string[] = [];
    const w = client.worker<string>('via-stream', async (t) => void done.push(t.payload), {
      concurrency: 2,
      holdMsMax: 500,
    });
    await q.enqueue('two');
    await expect.poll(() => done.length, { timeout: 5_000 }).toBe(2);
    await w.close({ timeoutMs: 1_000 });
    await client.close({ timeoutMs: 1_000 });
    const m = server.metrics();
    // openSession, two enqueues, leases, acks: all on the stream (the unary methods saw none).
    expect((m.submitStreams?.requests ?? 0) - before).toBeGreaterThanOrEqual(5);
  });

  it('the SDK transport fails a request at its own deadline, and a CallCancel cancels one', async () => {
    const session = await openSession();
    const t = new GrpcTransport();
    const held = (id: number): Obj => heldLease(id, session)['submit'] as Obj;
    try {
      const started = performance.now();
      const late = await t.call(server.address, 'Submit', held(11), 300).catch((x: unknown) => x);
      expect((late as TransportError).detail.code).toBe('DEADLINE_EXCEEDED');
      expect(performance.now() - started).toBeLessThan(10_000); // the hold is 30 s: the deadline ended it
      const cancel = new CallCancel();
      const pending = t.callCancellable(server.address, 'Submit', held(12), 60_000, cancel).catch((x: unknown) => x);
      cancel.cancel();
      const cancelled = await pending;
      expect((cancelled as TransportError).detail).toMatchObject({
        code: 'UNAVAILABLE',
        message: 'Cancelled on client',
      });
      // The stream still serves requests after both.
      const reply = await t.call(server.address, 'Submit', { items: [enqueueItem('after-cancel', 'x')] }, 2_000);
      expect(((reply['results'] as Obj[])[0] as Obj)['result']).toBe('enqueue');
    } finally {
      t.close();
    }
  }, 20_000);

  it('a node without SubmitStream gets Submit calls instead; an unreachable node fails the Submit', async () => {
    const service = createClientService(executor);
    const impl = { ...service.implementation };
    delete impl['SubmitStream'];
    const old = new grpc.Server();
    old.addService(service.definition, impl);
    const port = await new Promise<number>((res, rej) =>
      old.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
    );
    const t = new GrpcTransport();
    const address = `127.0.0.1:${port}`;
    try {
      expect(t.streamsSubmit(address)).toBe(true);
      const reply = await t.call(address, 'Submit', { items: [enqueueItem('old', 'x')] }, 2_000);
      expect(((reply['results'] as Obj[])[0] as Obj)['result']).toBe('enqueue');
      expect(t.streamsSubmit(address)).toBe(false);
      const dead = `127.0.0.1:1`;
      const e = await t.call(dead, 'Submit', { items: [] }, 500).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(TransportError);
      expect((e as TransportError).detail.code).toMatch(/UNAVAILABLE|DEADLINE_EXCEEDED/);
    } finally {
      t.close();
      old.forceShutdown();
    }
  });
});
