// The Submit RPC over a real QueueStateMachine (MachineExecutor): many commands in one call, each
// validated and answered as its unary call would be, failing alone, sharing one executor call.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CLIENT_SERVICE } from '../../../src/rpc/client-service.js';
import { ClientServer } from '../../../src/rpc/client-server.js';
import { loadProtoFile } from '../../../src/rpc/proto.js';
import { MachineExecutor } from '../client/machine-executor.js';

type Obj = Record<string, unknown>;

let executor: MachineExecutor;
let server: ClientServer;
let raw: grpc.Client & Record<string, (...a: unknown[]) => unknown>;

function call(method: string, req: Obj): Promise<Obj> {
  return new Promise((resolve, reject) => {
    raw[method]?.(req, { deadline: new Date(Date.now() + 5_000) }, (err: grpc.ServiceError | null, reply: Obj) => {
      if (err) {
        const text = err.metadata?.get('raftq-error')[0];
        reject({ code: err.code, detail: typeof text === 'string' ? JSON.parse(text) : null });
      } else resolve(reply);
    });
  });
}

async function callError(method: string, req: Obj): Promise<{ code: number; detail: Obj | null }> {
  try {
    await call(method, req);
  } catch (e) {
    return e as { code: number; detail: Obj | null };
  }
  throw new Error(`${method} succeeded`);
}

async function submit(items: Obj[]): Promise<Obj[]> {
  return (await call('Submit', { items }))['results'] as Obj[];
}

/** The item's ErrorReply with its detail parsed. */
function errorOf(result: Obj | undefined): Obj & { detail: Obj } {
  const e = result?.['error'] as Obj | undefined;
  if (e === undefined || e === null) throw new Error(`no error in ${JSON.stringify(result)}`);
  return { ...e, detail: JSON.parse(e['detailJson'] as string) as Obj };
}

const payload = (s: string): Buffer => Buffer.from(s);
const enqueue = (queue: string, ...tasks: Obj[]): Obj => ({ enqueue: { queue, tasks } });

beforeAll(async () => {
  executor = new MachineExecutor();
  server = await ClientServer.start({ address: '127.0.0.1:0', executor });
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

describe('client service - Submit', () => {
  it('answers every item in order, in the field of its command, from one executor call', async () => {
    const before = executor.executed.length;
    const results = await submit([
      enqueue('sub-a', { payload: payload('one') }),
      enqueue('sub-a', { payload: payload('two') }, { payload: payload('three') }),
      { createQueue: { queue: 'sub-a2', settings: { maxAttempts: 3 } } },
    ]);
    expect(results.map((r) => r['result'])).toEqual(['enqueue', 'enqueue', 'createQueue']);
    const first = results[0]?.['enqueue'] as Obj;
    const second = results[1]?.['enqueue'] as Obj;
    expect(first['items']).toHaveLength(1);
    expect(second['items']).toHaveLength(2);
    // One executor call, so one entry (MachineExecutor applies each call as one entry).
    expect(executor.executed.length - before).toBe(3);
    expect(first['index']).toBe(second['index']);
    const stats = (await call('QueueStats', { queue: 'sub-a' }))['stats'] as Obj;
    expect((stats['counts'] as Obj)['waiting']).toBe(3);
  });

  it('fails an invalid item alone, with the unary error detail and the field inside the Submit', async () => {
    const bad = { queue: 'sub-b', tasks: [{ payload: payload('x') }, { payload: payload('y'), priority: 2_000_000 }] };
    const unary = await callError('Enqueue', bad);
    const results = await submit([
      enqueue('sub-b', { payload: payload('ok-1') }),
      { enqueue: bad },
      { cancel: { id: '99999999' } },
      {},
      enqueue('sub-b', { payload: payload('ok-2') }),
    ]);
    expect(results.map((r) => r['result'])).toEqual(['enqueue', 'error', 'error', 'error', 'enqueue']);
    const invalid = errorOf(results[1]);
    expect(invalid.detail).toEqual(unary.detail);
    expect(invalid).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'items[1].enqueue.tasks[1].priority' });
    expect(invalid['message']).toMatch(/^items\[1\]\.enqueue: /);
    expect(errorOf(results[2]).detail['code']).toBe('NOT_FOUND');
    expect(errorOf(results[3])).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'items[3].command' });
    const stats = (await call('QueueStats', { queue: 'sub-b' }))['stats'] as Obj;
    expect((stats['counts'] as Obj)['waiting']).toBe(2);
  });

  it('refuses an oversized payload item with RESOURCE_EXHAUSTED naming field and limit', async () => {
    const results = await submit([
      enqueue('sub-c', { payload: payload('fine') }),
      enqueue('sub-c', { payload: Buffer.alloc(1024 * 1024 + 1, 1) }),
    ]);
    expect(results[0]?.['result']).toBe('enqueue');
    const e = errorOf(results[1]);
    expect(e.detail).toMatchObject({ code: 'RESOURCE_EXHAUSTED', field: 'tasks[0].payload', limit: 'payloadBytesMax' });
    expect(e['field']).toBe('items[1].enqueue.tasks[0].payload');
  });

  it('keeps session semantics per item: a retried seq answers the original, a bad header fails alone', async () => {
    const session = (await call('OpenSession', { timeoutMs: 30_000 }))['session'] as string;
    const h = (seq: number, floor = 1): Obj => ({ session, seq, floor });
    const r1 = await submit([
      { enqueue: { header: h(1), queue: 'sub-d', tasks: [{ payload: payload('a') }] } },
      { enqueue: { header: h(2), queue: 'sub-d', tasks: [{ payload: payload('b') }] } },
      { enqueue: { header: { session, seq: 0 }, queue: 'sub-d', tasks: [{ payload: payload('c') }] } },
    ]);
    expect(errorOf(r1[2]).detail).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'header.seq' });
    // The same seqs again (a retry after a lost reply): the same ids, nothing applied twice.
    const r2 = await submit([
      { enqueue: { header: h(2), queue: 'sub-d', tasks: [{ payload: payload('b') }] } },
      { enqueue: { header: h(1), queue: 'sub-d', tasks: [{ payload: payload('a') }] } },
    ]);
    const id = (r: Obj | undefined): unknown => ((r?.['enqueue'] as Obj)['items'] as Obj[])[0]?.['id'];
    expect(id(r2[0])).toBe(id(r1[1]));
    expect(id(r2[1])).toBe(id(r1[0]));
    const stats = (await call('QueueStats', { queue: 'sub-d' }))['stats'] as Obj;
    expect((stats['counts'] as Obj)['waiting']).toBe(2);
  });

  it('acks a leased task and enqueues in the same call', async () => {
    await call('Enqueue', { queue: 'sub-e', tasks: [{ payload: payload('work') }] });
    const [t] = (await call('Lease', { queue: 'sub-e', workerId: 'w', max: 1 }))['tasks'] as Obj[];
    const results = await submit([
      { ack: { items: [{ id: t?.['id'], token: t?.['token'], secret: t?.['secret'], result: payload('r') }] } },
      enqueue('sub-e', { payload: payload('next') }),
      { ack: { items: [{ id: t?.['id'], token: '1' }] } },
    ]);
    expect((results[0]?.['ack'] as Obj)['results']).toEqual([{ id: t?.['id'], ok: true, error: null }]);
    expect(results[1]?.['result']).toBe('enqueue');
    // A stale token is a per-ack-item answer, as in the unary Ack.
    const stale = ((results[2]?.['ack'] as Obj)['results'] as Obj[])[0];
    expect(stale?.['ok']).toBe(false);
    const done = (await call('GetTask', { id: t?.['id'] }))['task'] as Obj;
    expect(done['state']).toBe('completed');
  });

  it('holds a long-poll lease item on its own while the other items run', async () => {
    const results = await submit([
      { lease: { queue: 'sub-f', workerId: 'w', max: 1, maxHoldMs: 5_000 } },
      enqueue('sub-f', { payload: payload('arrives') }),
    ]);
    const leased = (results[0]?.['lease'] as Obj)['tasks'] as Obj[];
    expect(leased).toHaveLength(1);
    expect(Buffer.from(leased[0]?.['payload'] as Buffer).toString()).toBe('arrives');
    expect(results[1]?.['result']).toBe('enqueue');
  });

  it('carries every kind of session command and answers each in its own reply field', async () => {
    const session = (await call('OpenSession', { timeoutMs: 30_000 }))['session'] as string;
    let seq = 0;
    const h = (): Obj => ({ session, seq: ++seq, floor: 1 });
    const delayed = await call('Enqueue', { queue: 'sub-k', tasks: [{ payload: payload('d'), delayMs: 60_000 }] });
    const id = (delayed['items'] as Obj[])[0]?.['id'];
    const results = await submit([
      { createQueue: { header: h(), queue: 'sub-k2', settings: { maxAttempts: 2 } } },
      { configureQueue: { header: h(), queue: 'sub-k2', settings: { maxAttempts: 4 } } },
      { pauseQueue: { header: h(), queue: 'sub-k2' } },
      { resumeQueue: { header: h(), queue: 'sub-k2' } },
      { update: { header: h(), id, priority: 5 } },
      { promote: { header: h(), id } },
      { keepAlive: { header: h() } },
      { purgeQueue: { header: h(), queue: 'sub-k2' } },
      { deleteQueue: { header: h(), queue: 'sub-k2' } },
      { redrive: { header: h(), queue: 'sub-k' } },
      { closeSession: { header: h() } },
    ]);
    const names = [
      'createQueue',
      'configureQueue',
      'pauseQueue',
      'resumeQueue',
      'update',
      'promote',
      'keepAlive',
      'purgeQueue',
      'deleteQueue',
      'redrive',
      'closeSession',
    ];
    expect(results.map((r) => (r['result'] === 'error' ? JSON.stringify(r['error']) : r['result']))).toEqual(names);
    expect((results[5]?.['promote'] as Obj)['state']).toBe('waiting');
    const task = (await call('GetTask', { id }))['task'] as Obj;
    expect(task['priority']).toBe(5);
    expect(task['state']).toBe('waiting');
  });

  it('refuses more than submitItemsMax items as a whole, running none', async () => {
    const before = executor.executed.length;
    const items = Array.from({ length: 1025 }, () => enqueue('sub-g', { payload: payload('x') }));
    const e = await callError('Submit', { items });
    expect(e.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(e.detail).toMatchObject({ code: 'RESOURCE_EXHAUSTED', field: 'items', limit: 'submitItemsMax' });
    expect(executor.executed.length).toBe(before);
    expect(await submit([])).toEqual([]);
  });

  it('answers NOT_LEADER per item with the hint, and an executor failure as INTERNAL items', async () => {
    executor.stepDown('127.0.0.1:9');
    const results = await submit([enqueue('sub-h', { payload: payload('x') }), { cancel: { id: '1' } }]);
    for (const r of results) expect(errorOf(r).detail).toMatchObject({ code: 'NOT_LEADER', leaderHint: '127.0.0.1:9' });
    executor.leader = true;
    const orig = executor.execute.bind(executor);
    executor.execute = () => Promise.reject(new Error('boom'));
    try {
      const failed = await submit([enqueue('sub-h', { payload: payload('x') }), {}]);
      expect(errorOf(failed[0]).detail['code']).toBe('INTERNAL');
      expect(errorOf(failed[1]).detail['code']).toBe('INVALID_ARGUMENT');
    } finally {
      executor.execute = orig;
    }
    expect((await submit([enqueue('sub-h', { payload: payload('y') })]))[0]?.['result']).toBe('enqueue');
  });

  it('counts Submit calls and items', async () => {
    const m0 = server.metrics();
    await submit([enqueue('sub-i', { payload: payload('1') }), enqueue('sub-i', { payload: payload('2') })]);
    const m1 = server.metrics();
    expect(m1.submitCalls - m0.submitCalls).toBe(1);
    expect(m1.submitItems - m0.submitItems).toBe(2);
    expect(m1.calls - m0.calls).toBe(1);
  });
});
