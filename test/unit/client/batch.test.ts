// Batch handlers (issue 13): up to `size` tasks per handler call, each acked or nacked on its own
// from the handler's results; a throw fails the whole batch; the batch option is checked.
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/client.js';
import { NonRetryableError } from '../../../src/client/errors.js';
import type { WorkerTask } from '../../../src/client/worker.js';
import { FakeClock, FakeCluster, LoopbackTransport, settle } from './fakes.js';

let clients: Client[] = [];

function setup() {
  const clock = new FakeClock();
  const cluster = new FakeCluster(clock, 1);
  const transport = new LoopbackTransport(cluster);
  const client = new Client({ servers: cluster.addresses, transport, clock, timeoutMs: 5_000 });
  clients.push(client);
  return { clock, client };
}

afterEach(async () => {
  for (const c of clients) await c.close({ timeoutMs: 0 }).catch(() => undefined);
  clients = [];
});

const OPTS = { leaseMs: 10_000, holdMsMax: 0, electionTimeoutMsMax: 1_000, ackDelayMs: 2 };

describe('SDK: batch handlers', () => {
  it('hands up to size tasks per call and settles each task from its own result', async () => {
    const { clock, client } = setup();
    const q = client.queue<number>('q');
    const ids = (await q.enqueueMany([1, 2, 3, 4, 5, 6, 7].map((payload) => ({ payload })))).map((r) => r.id);
    const sizes: number[] = [];
    const w = client.worker<number, number>(
      'q',
      async (tasks: WorkerTask<number>[], ctx) => {
        expect(ctx.contexts).toHaveLength(tasks.length);
        sizes.push(tasks.length);
        // 5 fails for good; the others return their square.
        return tasks.map((t) => (t.payload === 5 ? new NonRetryableError('five') : t.payload * t.payload));
      },
      { ...OPTS, batch: { size: 3, waitMs: 20 } },
    );
    for (let i = 0; i < 20; i++) {
      await clock.advance(50);
      await settle();
    }
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(7);
    expect(Math.max(...sizes)).toBe(3);
    const tasks = await Promise.all(ids.map((id) => q.get(id)));
    expect(tasks.map((t) => t.state)).toEqual([
      'completed',
      'completed',
      'completed',
      'completed',
      'dead',
      'completed',
      'completed',
    ]);
    expect(tasks.filter((t) => t.state === 'completed').map((t) => t.result)).toEqual([1, 4, 9, 16, 36, 49]);
    await w.close();
  });

  it('waits up to waitMs to fill a batch, then runs what it has', async () => {
    const { clock, client } = setup();
    const q = client.queue<number>('q');
    const sizes: Array<{ n: number; at: number }> = [];
    const w = client.worker<number, number>(
      'q',
      (tasks: WorkerTask<number>[]) => {
        sizes.push({ n: tasks.length, at: clock.now() });
        return undefined;
      },
      { ...OPTS, batch: { size: 10, waitMs: 500 } },
    );
    await q.enqueueMany([{ payload: 1 }, { payload: 2 }]);
    for (let i = 0; i < 4; i++) {
      await clock.advance(100);
      await settle();
    }
    expect(sizes).toEqual([]); // not full, waitMs not over
    for (let i = 0; i < 4; i++) {
      await clock.advance(100);
      await settle();
    }
    expect(sizes.map((s) => s.n)).toEqual([2]);
    expect((await q.stats()).counts.completed).toBe(2);
    await w.close();
  });

  it('a throw fails every task of the batch (retried later); bad batch options are refused', async () => {
    const { clock, client } = setup();
    const q = client.queue<number>('q');
    const [a, b] = await q.enqueueMany([{ payload: 1 }, { payload: 2 }], {});
    let calls = 0;
    const w = client.worker<number, number>(
      'q',
      (tasks: WorkerTask<number>[]) => {
        calls += 1;
        if (calls === 1) throw new Error('downstream down');
        return tasks.map((t) => t.payload);
      },
      { ...OPTS, batch: { size: 2 }, retryDelayMs: () => 100 },
    );
    for (let i = 0; i < 10; i++) {
      await clock.advance(50);
      await settle();
    }
    const [ta, tb] = await Promise.all([q.get(a?.id as string), q.get(b?.id as string)]);
    expect([ta.state, tb.state]).toEqual(['completed', 'completed']);
    expect([ta.attempts, tb.attempts]).toEqual([1, 1]);
    expect(ta.history[0]?.error).toBe('downstream down');
    await w.close();
    expect(() => client.worker('q', () => undefined, { batch: { size: 0 } })).toThrow(/batch.size/);
    expect(() => client.worker('q', () => undefined, { batch: { size: 2, wait: 1 } as never })).toThrow(/batch.wait/);
  });
});
