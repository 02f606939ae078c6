// Concurrent single enqueues travel as one enqueue command (src/client/enqueue-batcher.ts), and each
// caller still gets exactly the answer its own command would have had: run through the real client
// service and state machine over the loopback transport, on a fake clock.
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/client.js';
import { RaftqError } from '../../../src/client/errors.js';
import type { Message } from '../../../src/client/transport.js';
import { DEFAULT_LIMITS } from '../../../src/protocol/limits.js';
import { FakeClock, FakeCluster, LoopbackTransport, settle } from './fakes.js';

/** The enqueue commands the transport carried: the tasks of each, in order. */
function enqueueCommands(loop: LoopbackTransport): Message[][] {
  return loop.calls.filter((c) => c.method === 'Enqueue').map((c) => c.request['tasks'] as Message[]);
}

describe('EnqueueBatcher - single enqueues of one turn share a command', () => {
  let client: Client | null = null;
  afterEach(async () => {
    await client?.close({ timeoutMs: 0 });
    client = null;
  });

  function setUp(
    options: { batchEnqueues?: boolean; enqueueBatchMax?: number; pendingCallsMax?: number; delayMsMax?: number } = {},
  ) {
    const clock = new FakeClock();
    const cluster = new FakeCluster(clock, 3);
    const loop = new LoopbackTransport(cluster);
    const limits = {
      ...DEFAULT_LIMITS,
      enqueueBatchMax: options.enqueueBatchMax ?? DEFAULT_LIMITS.enqueueBatchMax,
      delayMsMax: options.delayMsMax ?? DEFAULT_LIMITS.delayMsMax,
    };
    client = new Client({
      servers: cluster.addresses,
      transport: loop,
      clock,
      limits,
      ...(options.batchEnqueues === undefined ? {} : { batchEnqueues: options.batchEnqueues }),
      ...(options.pendingCallsMax === undefined ? {} : { pendingCallsMax: options.pendingCallsMax }),
    });
    return { clock, cluster, loop, client };
  }

  it('50 concurrent enqueues are one command; each caller gets its own task, in call order', async () => {
    const { loop, client } = setUp();
    const q = client.queue<{ n: number }>('b1');
    await q.create();
    const ids = (await Promise.all(Array.from({ length: 50 }, (_, n) => q.enqueue({ n })))).map((r) => r.id);
    expect(enqueueCommands(loop).map((t) => t.length)).toEqual([50]);
    expect(new Set(ids).size).toBe(50);
    for (let n = 0; n < 50; n++) expect((await q.get(ids[n] as string)).payload).toEqual({ n });
    // Ids are handed out in the command's order, which is the order of the calls.
    expect([...ids].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))).toEqual(ids);
  });

  it('enqueues awaited one after another, and enqueues to other queues, are not merged', async () => {
    const { loop, client } = setUp();
    const a = client.queue('ba');
    const b = client.queue('bb');
    await a.enqueue('1');
    await a.enqueue('2');
    await Promise.all([a.enqueue('3'), b.enqueue('4'), a.enqueue('5')]);
    expect(enqueueCommands(loop).map((t) => t.length)).toEqual([1, 1, 2, 1]);
    expect((await a.stats()).counts.waiting).toBe(4);
    expect((await b.stats()).counts.waiting).toBe(1);
  });

  it('keys, custom ids, dependencies and call options keep a command of their own', async () => {
    const { loop, client } = setUp();
    const q = client.queue('bk');
    const parent = await q.enqueue('p');
    const calls = [
      q.enqueue('k', { idempotencyKey: 'k1' }),
      q.enqueue('i', { id: 'custom-1' }),
      q.enqueue('d', { dedup: { key: 'd1', mode: 'active' } }),
      q.enqueue('c', { dependsOn: [parent.id] }),
      q.enqueue('t', {}, { timeoutMs: 5_000 }),
      q.enqueue('x'),
      q.enqueue('y'),
    ];
    await Promise.all(calls);
    expect(enqueueCommands(loop).map((t) => t.length)).toEqual([1, 1, 1, 1, 1, 1, 2]);
  });

  it('a batch refused for one task is sent again task by task: the others succeed, that one fails alone', async () => {
    // The client allows longer delays than the nodes: only the broker refuses the far one.
    const { loop, client } = setUp({ delayMsMax: 2 * DEFAULT_LIMITS.delayMsMax });
    const q = client.queue('bi');
    await q.create();
    const far = { delayMs: DEFAULT_LIMITS.delayMsMax + 1 };
    const outcomes = await Promise.allSettled([q.enqueue('a'), q.enqueue('b', far), q.enqueue('c')]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const error = (outcomes[1] as PromiseRejectedResult).reason as RaftqError;
    // The merged command was refused for its tasks[1]; the lone retry got its own command's answer.
    const alone = await q.enqueue('b', far).catch((e: unknown) => e as RaftqError);
    expect(error).toBeInstanceOf(RaftqError);
    expect(error.detail).toEqual((alone as RaftqError).detail);
    expect(error.detail.field).toBe('tasks[0].delayMs');
    expect(enqueueCommands(loop).map((t) => t.length)).toEqual([3, 1, 1, 1, 1]);
    expect((await q.stats()).counts.waiting).toBe(2);
  });

  it('a full queue answers the merged tasks as it would have answered each alone', async () => {
    const { client } = setUp();
    const q = client.queue('bf');
    await q.create({ maxLength: 3 });
    const outcomes = await Promise.allSettled(Array.from({ length: 5 }, (_, n) => q.enqueue(String(n))));
    const refused = outcomes.filter((o) => o.status === 'rejected').map((o) => (o.reason as RaftqError).code);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(3);
    expect(refused).toEqual(['RESOURCE_EXHAUSTED', 'RESOURCE_EXHAUSTED']);
    expect((await q.stats()).counts.waiting).toBe(3);
  });

  it('a lost reply is retried as the same command with the same seq: every task applied once', async () => {
    const { clock, loop, client } = setUp();
    const q = client.queue<{ n: number }>('bl');
    await q.create();
    let dropped = 0;
    loop.intercept = (_address, method) => (method === 'Enqueue' && dropped++ === 0 ? 'drop-reply' : null);
    const pending = Promise.all(Array.from({ length: 10 }, (_, n) => q.enqueue({ n })));
    await clock.advance(5_000);
    const ids = (await pending).map((r) => r.id);
    expect(new Set(ids).size).toBe(10);
    // Every attempt carried the ten tasks together, with one session seq: the session applied them once.
    const sent = loop.calls.filter((c) => c.method === 'Enqueue');
    expect(sent.length).toBeGreaterThan(1);
    expect(new Set(sent.map((c) => (c.request['tasks'] as Message[]).length))).toEqual(new Set([10]));
    expect(new Set(sent.map((c) => (c.request['header'] as Message)['seq'])).size).toBe(1);
    expect((await q.stats()).counts.waiting).toBe(10);
  });

  it('an unknown outcome is every caller’s, and nothing is sent again task by task', async () => {
    const { clock, loop, client } = setUp();
    const q = client.queue('bu');
    await q.create();
    loop.intercept = (_address, method) => (method === 'Enqueue' ? 'drop-reply' : null);
    const pending = Promise.allSettled([q.enqueue('a'), q.enqueue('b'), q.enqueue('c')]);
    await clock.advance(60_000);
    const outcomes = await pending;
    const codes = outcomes.map((o) => (o.status === 'rejected' ? (o.reason as RaftqError).code : 'ok'));
    expect(codes).toEqual(['UNAVAILABLE', 'UNAVAILABLE', 'UNAVAILABLE']);
    // Every attempt carried the three tasks together (the same command retried), never one alone.
    expect(new Set(enqueueCommands(loop).map((t) => t.length))).toEqual(new Set([3]));
    loop.intercept = null;
    expect((await q.stats()).counts.waiting).toBe(3); // applied once, by the first attempt
  });

  it('a merged command holds at most enqueueBatchMax tasks', async () => {
    const { loop, client } = setUp({ enqueueBatchMax: 8 });
    const q = client.queue('bm');
    await Promise.all(Array.from({ length: 20 }, (_, n) => q.enqueue(String(n))));
    expect(enqueueCommands(loop).map((t) => t.length)).toEqual([8, 8, 4]);
  });

  it('each waiting task counts against pendingCallsMax', async () => {
    const { client } = setUp({ pendingCallsMax: 5 });
    const q = client.queue('bp');
    await q.create();
    const outcomes = await Promise.allSettled(Array.from({ length: 6 }, (_, n) => q.enqueue(String(n))));
    expect(outcomes.slice(0, 5).every((o) => o.status === 'fulfilled')).toBe(true);
    const last = outcomes[5] as PromiseRejectedResult;
    expect((last.reason as RaftqError).code).toBe('UNAVAILABLE');
    expect(String((last.reason as Error).message)).toContain('pendingCallsMax');
  });

  it('batchEnqueues: false sends each enqueue as its own command', async () => {
    const { loop, client } = setUp({ batchEnqueues: false });
    const q = client.queue('bo');
    await Promise.all(Array.from({ length: 4 }, (_, n) => q.enqueue(String(n))));
    expect(enqueueCommands(loop).map((t) => t.length)).toEqual([1, 1, 1, 1]);
    await settle();
  });
});
