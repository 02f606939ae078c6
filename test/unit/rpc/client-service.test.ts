// The client gRPC service over a real QueueStateMachine (MachineExecutor): request mapping, error
// statuses with the raftq-error trailer, hostile input, long-poll leases, WaitFor and Events.
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CLIENT_SERVICE } from '../../../src/rpc/client-service.js';
import { ClientServer } from '../../../src/rpc/client-server.js';
import { loadProtoFile } from '../../../src/rpc/proto.js';
import { MachineExecutor } from '../client/machine-executor.js';
import { waitFor } from './helpers.js';

type Obj = Record<string, unknown>;
interface CallError {
  code: number;
  details: string;
  detail: Obj | null;
}

let executor: MachineExecutor;
let server: ClientServer;
let raw: grpc.Client & Record<string, (...a: unknown[]) => unknown>;

function call(method: string, req: Obj, timeoutMs = 5_000): Promise<Obj> {
  return new Promise((resolve, reject) => {
    raw[method]?.(req, { deadline: new Date(Date.now() + timeoutMs) }, (err: grpc.ServiceError | null, reply: Obj) => {
      if (err) {
        const text = err.metadata?.get('raftq-error')[0];
        reject({ code: err.code, details: err.details, detail: typeof text === 'string' ? JSON.parse(text) : null });
      } else resolve(reply);
    });
  });
}

async function callError(method: string, req: Obj): Promise<CallError> {
  try {
    await call(method, req);
  } catch (e) {
    return e as CallError;
  }
  throw new Error(`${method} succeeded`);
}

/** Sends raw bytes as a request of `method` (bypassing the protobuf serializer). */
function rawCall(method: string, bytes: Buffer): Promise<CallError | Obj> {
  return new Promise((resolve) => {
    raw.makeUnaryRequest(
      `/${CLIENT_SERVICE}/${method}`,
      (b: Buffer) => b,
      (b: Buffer) => ({ bytes: b.length }),
      bytes,
      (err, reply) => resolve(err ? { code: err.code, details: err.details, detail: null } : (reply as Obj)),
    );
  });
}

const payload = (s: string): Buffer => Buffer.from(s);

beforeAll(async () => {
  executor = new MachineExecutor();
  server = await ClientServer.start({ address: '127.0.0.1:0', executor, receiveMessageBytesMax: 4 * 1024 * 1024 });
  const Ctor = grpc.makeGenericClientConstructor(
    loadProtoFile('client.proto')[CLIENT_SERVICE] as grpc.ServiceDefinition,
    'RaftQ',
  );
  raw = new Ctor(server.address, grpc.credentials.createInsecure()) as typeof raw;
});

afterAll(async () => {
  raw.close();
  await server.close();
});

beforeEach(() => {
  executor.leader = true;
  executor.intercept = null;
});

describe('client service: commands and reads', () => {
  it('enqueues sessionless, reads the task back with its payload and asOf', async () => {
    const r = await call('Enqueue', {
      queue: 'svc-a',
      tasks: [{ payload: payload('one'), priority: 0 }, { payload: payload('two') }],
    });
    const items = r['items'] as Obj[];
    expect(items).toHaveLength(2);
    expect(items[0]?.['deduplicated']).toBe(false);
    const got = await call('GetTask', { id: items[1]?.['id'] });
    const task = got['task'] as Obj;
    expect(Buffer.from(task['payload'] as Buffer).toString()).toBe('two');
    expect(task['state']).toBe('waiting');
    expect((got['asOf'] as Obj)['index']).toBeGreaterThan(0);
  });

  it('runs a session: open, lease, extend, ack with result, and a repeated ack answers the same', async () => {
    const open = await call('OpenSession', { timeoutMs: 30_000 });
    const session = open['session'] as string;
    expect(session).not.toBe('');
    const h = (seq: number): Obj => ({ session, seq, floor: seq });
    await call('Enqueue', { header: h(1), queue: 'svc-b', tasks: [{ payload: payload('p') }] });
    const lease = await call('Lease', { header: h(2), queue: 'svc-b', workerId: 'w1', max: 5, leaseMs: 10_000 });
    const [t] = lease['tasks'] as Obj[];
    expect(t?.['token']).toMatch(/^[1-9][0-9]*$/);
    expect(Buffer.from(t?.['payload'] as Buffer).toString()).toBe('p');
    const ext = await call('Extend', {
      header: h(3),
      id: t?.['id'],
      token: t?.['token'],
      secret: t?.['secret'],
      progress: 50,
    });
    expect(ext['deadlineMono']).toBeGreaterThan(0);
    // The grant's holder secret goes back with its endings (docs/security.md).
    const ack = {
      header: h(4),
      items: [{ id: t?.['id'], token: t?.['token'], secret: t?.['secret'], result: payload('done') }],
    };
    const a1 = await call('Ack', ack);
    expect(a1['results']).toEqual([{ id: t?.['id'], ok: true, error: null }]);
    const a2 = await call('Ack', { ...ack, header: h(5) });
    expect((a2['results'] as Obj[])[0]?.['ok']).toBe(true);
    const stale = await call('Ack', { header: h(6), items: [{ id: t?.['id'], token: '1' }] });
    expect(((stale['results'] as Obj[])[0]?.['error'] as Obj)['code']).toBe('LEASE_LOST');
    const done = (await call('GetTask', { id: t?.['id'] }))['task'] as Obj;
    expect(done['state']).toBe('completed');
    expect(Buffer.from(done['result'] as Buffer).toString()).toBe('done');
  });

  it('maps queue settings with unset and reads them back in stats and ListQueues', async () => {
    await call('CreateQueue', {
      queue: 'svc-c',
      settings: { maxAttempts: 7, maxLength: 10, backoff: { type: 'fixed', delayMs: 5 } },
    });
    let stats = (await call('QueueStats', { queue: 'svc-c' }))['stats'] as Obj;
    expect((stats['settings'] as Obj)['maxLength']).toBe(10);
    await call('ConfigureQueue', { queue: 'svc-c', settings: { unset: ['maxLength'] } });
    stats = (await call('QueueStats', { queue: 'svc-c' }))['stats'] as Obj;
    expect((stats['settings'] as Obj)['maxLength']).toBeUndefined();
    expect((stats['settings'] as Obj)['maxAttempts']).toBe(7);
    expect(((stats['settings'] as Obj)['backoff'] as Obj)['type']).toBe('fixed');
    const queues = (await call('ListQueues', {}))['queues'] as Obj[];
    expect(queues.map((q) => q['queue'])).toContain('svc-c');
  });

  it('refuses a queue as its own dead-letter queue before proposing it, naming the field', async () => {
    await call('CreateQueue', { queue: 'svc-dlq-self', settings: {} });
    const e = await callError('ConfigureQueue', {
      queue: 'svc-dlq-self',
      settings: { deadLetterQueue: 'svc-dlq-self' },
    });
    expect(e.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(e.detail?.['field']).toBe('settings.deadLetterQueue');
    const stats = (await call('QueueStats', { queue: 'svc-dlq-self' }))['stats'] as Obj;
    expect((stats['settings'] as Obj)['deadLetterQueue']).toBeUndefined();
    await call('ConfigureQueue', { queue: 'svc-dlq-self', settings: { deadLetterQueue: 'svc-dlq-other' } });
  });

  it('lists by state with a cursor and pages through', async () => {
    await call('Enqueue', { queue: 'svc-d', tasks: [1, 2, 3].map((i) => ({ payload: payload(String(i)) })) });
    const p1 = await call('ListTasks', { queue: 'svc-d', state: 'waiting', limit: 2 });
    expect(p1['items']).toHaveLength(2);
    const p2 = await call('ListTasks', { queue: 'svc-d', state: 'waiting', limit: 2, cursor: p1['nextCursor'] });
    expect(p2['items']).toHaveLength(1);
    expect(p2['nextCursor']).toBeUndefined();
  });

  it('holds an empty lease until a task arrives and reports heldMs', async () => {
    const held = call('Lease', { queue: 'svc-e', workerId: 'w', max: 1, maxHoldMs: 5_000 });
    await new Promise((r) => setImmediate(r));
    await waitFor(
      () => executor.executed.some((c) => c.cmd.type === 'lease' && c.cmd.queue === 'svc-e'),
      'lease received',
    );
    await call('Enqueue', { queue: 'svc-e', tasks: [{ payload: payload('late') }] });
    const reply = await held;
    expect(reply['tasks']).toHaveLength(1);
    expect(reply['heldMs']).toBeGreaterThanOrEqual(0);
  });
});

describe('client service: errors', () => {
  it('names the invalid field in status and trailer', async () => {
    const e = await callError('Enqueue', { queue: 'bad name!', tasks: [{ payload: payload('x') }] });
    expect(e.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(e.details).toMatch(/^INVALID_ARGUMENT: /);
    expect(e.detail).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'queue' });
    const e2 = await callError('Enqueue', {
      queue: 'q',
      tasks: [{ payload: payload('x') }, { payload: payload('y'), priority: 2_000_000 }],
    });
    expect(e2.detail?.['field']).toBe('tasks[1].priority');
    const e3 = await callError('Enqueue', {
      header: { session: 's', seq: 0 },
      queue: 'q',
      tasks: [{ payload: payload('x') }],
    });
    expect(e3.detail?.['field']).toBe('header.seq');
    const e4 = await callError('ConfigureQueue', { queue: 'q', settings: { unset: ['leaseMs'] } });
    expect(e4.detail?.['field']).toBe('settings.unset[0]');
    const e5 = await callError('GetTask', { id: '007' });
    expect(e5.detail?.['field']).toBe('id');
  });

  it('answers a payload over the limit with RESOURCE_EXHAUSTED naming field and limit, without retryAfterMs', async () => {
    const big = Buffer.alloc(1024 * 1024 + 1, 7);
    const e = await callError('Enqueue', { queue: 'q', tasks: [{ payload: payload('ok') }, { payload: big }] });
    expect(e.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(e.detail).toMatchObject({ code: 'RESOURCE_EXHAUSTED', field: 'tasks[1].payload', limit: 'payloadBytesMax' });
    expect(e.detail?.['retryAfterMs']).toBeUndefined();
  });

  it('answers garbage bytes with INVALID_ARGUMENT and oversized requests with RESOURCE_EXHAUSTED, and stays up', async () => {
    const garbage = await rawCall('Enqueue', Buffer.from([0xff, 0xff, 0xff, 0x0f, 0x12]));
    expect((garbage as CallError).code).toBe(grpc.status.INVALID_ARGUMENT);
    const huge = await rawCall('Enqueue', Buffer.alloc(5 * 1024 * 1024, 1));
    expect((huge as CallError).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    const status = await call('Status', {});
    expect(status['role']).toBe('leader');
    expect(server.metrics().invalidArgument).toBeGreaterThan(0);
  });

  it('never answers INTERNAL or UNKNOWN to random bytes on any method', async () => {
    const methods = Object.keys(loadProtoFile('client.proto')[CLIENT_SERVICE] as object).filter(
      (m) => m !== 'Events' && m !== 'WaitFor',
    );
    const internalBefore = server.metrics().internal;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...methods), fc.uint8Array({ maxLength: 64 }), async (method, bytes) => {
        const r = (await rawCall(method, Buffer.from(bytes))) as Partial<CallError>;
        if (r.code !== undefined) {
          expect([grpc.status.INTERNAL, grpc.status.UNKNOWN], `${method} ${r.details}`).not.toContain(r.code);
        }
      }),
      { numRuns: 150 },
    );
    expect(server.metrics().internal).toBe(internalBefore);
    expect((await call('Status', {}))['id']).toBe('n1');
  });

  it('maps NOT_LEADER to UNAVAILABLE with the leader hint in the trailer', async () => {
    executor.stepDown('127.0.0.1:9');
    const e = await callError('Enqueue', { queue: 'q', tasks: [{ payload: payload('x') }] });
    expect(e.code).toBe(grpc.status.UNAVAILABLE);
    expect(e.detail).toMatchObject({ code: 'NOT_LEADER', leaderHint: '127.0.0.1:9' });
    const r = await callError('GetTask', { id: '1' });
    expect(r.detail?.['code']).toBe('NOT_LEADER');
    const s = await call('Status', {});
    expect(s['leader']).toBeUndefined();
    expect(s['leaderAddress']).toBe('127.0.0.1:9');
  });

  it('maps other codes per the table: NOT_FOUND, FAILED_PRECONDITION, SESSION_EXPIRED', async () => {
    expect((await callError('GetTask', { id: '999999' })).code).toBe(grpc.status.NOT_FOUND);
    const e = await callError('KeepAlive', { header: { session: '424242', seq: 1 } });
    expect(e.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(e.detail?.['code']).toBe('SESSION_EXPIRED');
  });

  it('answers an executor failure with INTERNAL and keeps serving', async () => {
    const orig = executor.execute.bind(executor);
    executor.execute = () => Promise.reject(new Error('boom'));
    try {
      const e = await callError('Cancel', { id: '1' });
      expect(e.code).toBe(grpc.status.INTERNAL);
    } finally {
      executor.execute = orig;
    }
    expect((await call('Status', {}))['id']).toBe('n1');
  });
});

describe('client service: WaitFor and Events', () => {
  it('WaitFor resolves when the task completes and fails UNAVAILABLE on step-down', async () => {
    const [item] = (await call('Enqueue', { queue: 'svc-w', tasks: [{ payload: payload('w') }] }))['items'] as Obj[];
    const id = item?.['id'] as string;
    const waiting = call('WaitFor', { id, timeoutMs: 5_000 });
    await waitFor(() => server.metrics().waiters === 1, 'waiter registered');
    const [t] = (await call('Lease', { queue: 'svc-w', workerId: 'w', max: 1 }))['tasks'] as Obj[];
    await call('Ack', { items: [{ id, token: t?.['token'], secret: t?.['secret'], result: payload('r') }] });
    const done = (await waiting)['task'] as Obj;
    expect(done['state']).toBe('completed');

    const [other] = (await call('Enqueue', { queue: 'svc-w', tasks: [{ payload: payload('v') }] }))['items'] as Obj[];
    const lost = callError('WaitFor', { id: other?.['id'], timeoutMs: 5_000 });
    await waitFor(() => server.metrics().waiters === 1, 'second waiter registered');
    executor.stepDown();
    const e = await lost;
    expect(e.code).toBe(grpc.status.UNAVAILABLE);
    expect(server.metrics().waiters).toBe(0);
  });

  it('streams task events of one queue and unsubscribes on cancel', async () => {
    const before = executor.subscriberCount;
    const events: Obj[] = [];
    const stream = raw.makeServerStreamRequest(
      `/${CLIENT_SERVICE}/Events`,
      (v: Obj) =>
        Buffer.from(
          (loadProtoFile('client.proto')[CLIENT_SERVICE] as grpc.ServiceDefinition)['Events']!.requestSerialize(v),
        ),
      (b: Buffer) =>
        (loadProtoFile('client.proto')[CLIENT_SERVICE] as grpc.ServiceDefinition)['Events']!.responseDeserialize(
          b,
        ) as Obj,
      { queue: 'svc-ev' },
    );
    stream.on('data', (e: Obj) => events.push(e));
    stream.on('error', () => undefined);
    await waitFor(() => executor.subscriberCount === before + 1, 'subscribed');
    await call('Enqueue', { queue: 'svc-other', tasks: [{ payload: payload('x') }] });
    const [item] = (await call('Enqueue', { queue: 'svc-ev', tasks: [{ payload: payload('x') }] }))['items'] as Obj[];
    await call('Cancel', { id: item?.['id'] });
    await waitFor(() => events.length >= 2, 'two events');
    expect(events.map((e) => e['type'])).toEqual(['enqueued', 'cancelled']);
    expect(events.every((e) => e['queue'] === 'svc-ev')).toBe(true);
    stream.cancel();
    await waitFor(() => executor.subscriberCount === before, 'unsubscribed');
  });
});
