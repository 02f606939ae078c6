// Workflows through the SDK, with a fake clock over the real client service and state machine
// in-process (docs/workflows.md): cancelling a running task reaches its handler's signal, flows,
// fan-in through task.dependencies(), topics.
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/client.js';
import { CancelledError, InvalidArgumentError } from '../../../src/client/errors.js';
import type { DependencyResult } from '../../../src/client/flows.js';
import type { TaskContext, WorkerOptions, WorkerTask } from '../../../src/client/worker.js';
import { FakeClock, FakeCluster, LoopbackTransport } from './fakes.js';

const LEASE = 10_000;
// Extends every (10 000 − 520) / 3 = 3160 ms (see worker.test.ts).
const EXTEND_EVERY = 3_160;
const OPTS: WorkerOptions = { leaseMs: LEASE, holdMsMax: 0, electionTimeoutMsMax: 1_000, ackDelayMs: 2 };

let clients: Client[] = [];

function setup() {
  const clock = new FakeClock();
  const cluster = new FakeCluster(clock, 1);
  const transport = new LoopbackTransport(cluster);
  const client = new Client({ servers: cluster.addresses, transport, clock, timeoutMs: 5_000 });
  clients.push(client);
  return { clock, cluster, transport, client };
}

afterEach(async () => {
  for (const c of clients) await c.close({ timeoutMs: 0 }).catch(() => undefined);
  clients = [];
});

describe('SDK: cancelling a running task', () => {
  it("fires the handler's signal with CancelledError at its next extend; the task ends cancelled; cancel({ wait }) resolves then", async () => {
    const { clock, transport, client } = setup();
    const q = client.queue<string>('q');
    const { id } = await q.enqueue('long job');
    let reason: unknown = null;
    let abortedAt: number | null = null;
    let explicitExtend: Promise<unknown> | null = null;
    const w = client.worker<string, string>(
      'q',
      async (_task: WorkerTask<string>, ctx: TaskContext) => {
        await new Promise<void>((resolve) =>
          ctx.signal.addEventListener('abort', () => {
            reason = ctx.signal.reason;
            abortedAt = clock.now();
            explicitExtend = ctx.extend({ progress: 50 }).then(
              () => 'extended',
              (e: unknown) => e,
            );
            resolve();
          }),
        );
        throw new Error('stopped');
      },
      OPTS,
    );
    await clock.advance(0);
    expect((await q.get(id)).state).toBe('leased');
    let settled: string | null = null;
    const cancelledAt = clock.now();
    const waiting = q.cancel(id, { wait: true, timeoutMs: 60_000 }).then((s) => (settled = s));
    await clock.advance(10);
    expect((await q.get(id)).cancelRequested).toBe(true);
    expect(settled).toBeNull();
    await clock.advance(EXTEND_EVERY);
    expect(reason).toBeInstanceOf(CancelledError);
    expect((reason as CancelledError).reason).toBe('cancelled');
    // An explicit extend after the cancel rejects with the same CancelledError.
    expect(await explicitExtend).toBe(reason);
    expect(abortedAt).not.toBeNull();
    expect((abortedAt as unknown as number) - cancelledAt).toBeLessThanOrEqual(EXTEND_EVERY + 10);
    await clock.advance(10);
    await waiting;
    expect(settled).toBe('cancelled');
    const t = await q.get(id);
    expect([t.state, t.reason, t.history.at(-1)?.end]).toEqual(['cancelled', 'cancelled', 'nacked']);
    // No extend after the CANCELLED answer.
    const extends1 = transport.count('Extend');
    await clock.advance(3 * EXTEND_EVERY);
    expect(transport.count('Extend')).toBe(extends1);
    await w.close();
  });

  it('cancel of a pending task resolves at once, with or without wait', async () => {
    const { client } = setup();
    const q = client.queue('q');
    const { id } = await q.enqueue('x', { delayMs: 60_000 });
    expect(await q.cancel(id, { wait: true })).toBe('cancelled');
  });
});

describe('SDK: dependencies and flows', () => {
  it('a fan-in task runs after its dependencies and reads their results', async () => {
    const { clock, client } = setup();
    const parts = client.queue<number>('parts');
    const a = await parts.enqueue(2);
    const b = await parts.enqueue(3);
    const sum = client.queue('sum');
    const { id } = await sum.enqueue(null, { dependsOn: [a.id, { id: b.id, policy: 'ignore' }] });
    expect((await sum.get(id)).state).toBe('waiting-children');
    const seen: DependencyResult[][] = [];
    const w1 = client.worker<number, number>('parts', (t) => t.payload * 10, OPTS);
    const w2 = client.worker(
      'sum',
      async (t) => {
        const deps = await t.dependencies();
        seen.push(deps);
        return deps.reduce((s, d) => s + (d.result as number), 0);
      },
      OPTS,
    );
    await clock.advance(50);
    expect(await sum.waitFor(id, { timeoutMs: 1_000 })).toBe(50);
    expect(seen[0]?.map((d) => [d.id, d.state, d.result, d.policy])).toEqual([
      [a.id, 'completed', 20, 'fail'],
      [b.id, 'completed', 30, 'ignore'],
    ]);
    await w1.close();
    await w2.close();
  });

  it('client.flow enqueues a tree in one command and answers its ids shaped like it; cancelFlow cancels it', async () => {
    const { client, transport } = setup();
    const before = transport.count('Flow');
    const tree = await client.flow({
      queue: 'report',
      payload: { day: 1 },
      children: [
        { queue: 'fetch', payload: 'a' },
        { queue: 'fetch', payload: 'b', policy: 'ignore' },
      ],
    });
    expect(transport.count('Flow')).toBe(before + 1);
    expect(tree.queue).toBe('report');
    expect(tree.children.map((c) => c.queue)).toEqual(['fetch', 'fetch']);
    const root = await client.queue('report').get(tree.id);
    expect(root.state).toBe('waiting-children');
    expect(root.dependsOn?.map((d) => [d.id, d.policy])).toEqual([
      [tree.children[0]?.id, 'fail'],
      [tree.children[1]?.id, 'ignore'],
    ]);
    expect(await client.cancelFlow(tree.id)).toEqual({ cancelled: 3, cancelRequested: 0 });
    expect((await client.queue('fetch').get(tree.children[0]?.id ?? '')).state).toBe('cancelled');
  });

  it('caps and bad dependencies are typed errors naming the field', async () => {
    const { client } = setup();
    const wide = { queue: 'q', payload: 1, children: Array.from({ length: 101 }, () => ({ queue: 'q', payload: 1 })) };
    await expect(client.flow(wide)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'root.children' });
    await expect(client.queue('q').enqueue(1, { dependsOn: ['77'] })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      field: 'tasks[0].dependsOn[0].id',
    });
    await expect(client.queue('q').enqueue(1, { dependsOn: [{ id: 'x' }] })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
  });
});

describe('SDK: topics', () => {
  it('publish reaches every bound queue whose filter matches, in one command', async () => {
    const { client } = setup();
    const orders = client.topic<{ total: number }>('orders');
    await orders.bind('billing');
    await orders.bind('eu-shipping', { filter: { region: { prefix: 'eu-' } } });
    await orders.bind('vip', { filter: { tier: 'gold' } });
    const sent = await orders.publish({ total: 5 }, { headers: { region: 'eu-west', tier: 'basic' } });
    expect(sent.map((s) => s.queue)).toEqual(['billing', 'eu-shipping']);
    const t = await client.queue('eu-shipping').get(sent[1]?.id ?? '');
    expect(t.payload).toEqual({ total: 5 });
    await orders.unbind('billing');
    expect((await orders.publish({ total: 1 }, { headers: { tier: 'gold' } })).map((s) => s.queue)).toEqual(['vip']);
  });
});
