// The SDK over real gRPC on loopback against the client service and a real state machine: the
// producer / worker / waitFor / events path end to end, and waitFor surviving a step-down.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/client.js';
import { TaskFailedError, NonRetryableError } from '../../../src/client/errors.js';
import type { TaskEvent } from '../../../src/protocol/commands.js';
import { ClientServer } from '../../../src/rpc/client-server.js';
import { waitFor } from '../rpc/helpers.js';
import { MachineExecutor } from './machine-executor.js';

let executor: MachineExecutor;
let server: ClientServer;
let client: Client;

beforeAll(async () => {
  executor = new MachineExecutor();
  server = await ClientServer.start({ address: '127.0.0.1:0', executor });
  client = new Client({ servers: [server.address], timeoutMs: 5_000 });
});

afterAll(async () => {
  await client.close({ timeoutMs: 1_000 });
  await server.close();
});

describe('SDK over gRPC', () => {
  it('enqueues, works, and waitFor returns the result; events() sees each state change', async () => {
    const q = client.queue<{ to: string }>('emails');
    const events: TaskEvent[] = [];
    const ac = new AbortController();
    const iter = q.events({ signal: ac.signal });
    const reading = (async () => {
      for await (const e of iter) events.push(e);
    })();
    await waitFor(() => executor.subscriberCount > 0, 'events stream subscribed');
    const { id } = await q.enqueue({ to: 'a@example.org' }, { priority: 5, idempotencyKey: 'welcome-42' });
    const again = await q.enqueue({ to: 'other' }, { idempotencyKey: 'welcome-42' });
    expect(again).toEqual({ id, deduplicated: true });
    const w = client.worker<{ to: string }>(
      'emails',
      async (task, { token, signal }) => {
        expect(signal.aborted).toBe(false);
        return { sentTo: task.payload.to, token };
      },
      { concurrency: 4, holdMsMax: 2_000 },
    );
    const result = (await q.waitFor(id, { timeoutMs: 5_000 })) as { sentTo: string; token: string };
    expect(result.sentTo).toBe('a@example.org');
    expect(result.token).toMatch(/^[1-9][0-9]*$/);
    await waitFor(() => events.some((e) => e.type === 'completed'), 'completed event');
    expect(events.filter((e) => e.id === id).map((e) => e.type)).toEqual(['enqueued', 'leased', 'completed']);
    ac.abort();
    await reading;
    await w.close({ timeoutMs: 1_000 });
  });

  it('waitFor rejects with TaskFailedError for a dead task, and survives a step-down', async () => {
    const q = client.queue<string>('jobs');
    const [bad, good] = await q.enqueueMany([{ payload: 'bad' }, { payload: 'good' }]);
    const waitingGood = q.waitFor(good?.id ?? '', { timeoutMs: 10_000 });
    await waitFor(() => server.metrics().waiters >= 1, 'waiter registered');
    executor.stepDown();
    await waitFor(() => server.metrics().waiters === 0, 'waiter dropped at step-down');
    executor.leader = true;
    const w = client.worker(
      'jobs',
      (t) => {
        if (t.payload === 'bad') throw new NonRetryableError('refused');
        return 'fine';
      },
      { holdMsMax: 1_000 },
    );
    expect(await waitingGood).toBe('fine');
    await expect(q.waitFor(bad?.id ?? '', { timeoutMs: 5_000 })).rejects.toBeInstanceOf(TaskFailedError);
    await w.close({ timeoutMs: 1_000 });
    const dead = await q.deadLetters();
    expect(dead.items.map((t) => t.id)).toEqual([bad?.id]);
  });

  it('stats, list, cancel, promote, update, pause and resume', async () => {
    const q = client.queue<number>('admin');
    const [a, b] = await q.enqueueMany([{ payload: 1 }, { payload: 2, delayMs: 60_000 }]);
    expect(await q.cancel(a?.id ?? '')).toBe('cancelled');
    expect(await q.update(b?.id ?? '', { priority: 9, payload: 3 })).toBe('delayed');
    expect(await q.promote(b?.id ?? '')).toBe('waiting');
    const page = await q.list({ state: 'waiting' });
    expect(page.items.map((t) => [t.payload, t.priority])).toEqual([[3, 9]]);
    await q.pause();
    expect((await q.stats()).settings.paused).toBe(true);
    await q.resume();
    const stats = await q.stats();
    expect([stats.settings.paused, stats.counts.cancelled, stats.counts.waiting]).toEqual([false, 1, 1]);
    await q.delete({ force: true });
    await expect(q.stats()).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
