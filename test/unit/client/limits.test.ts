// Limits from the SDK (issue 13): a limit refusal is definite and immediate, key / cost and the
// limit settings travel through the client service to the state machine, queue.keys() reads usage,
// and a handler's RateLimitedError releases the task without an attempt and holds its key back.
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/client.js';
import { RateLimitedError, ResourceExhaustedError } from '../../../src/client/errors.js';
import type { WorkerTask } from '../../../src/client/worker.js';
import type { LeasedTask } from '../../../src/protocol/commands.js';
import { FakeClock, FakeCluster, LoopbackTransport, settle } from './fakes.js';

let clients: Client[] = [];

function setup() {
  const clock = new FakeClock();
  const cluster = new FakeCluster(clock, 1);
  const transport = new LoopbackTransport(cluster);
  const client = new Client({ servers: cluster.addresses, transport, clock, timeoutMs: 5_000 });
  clients.push(client);
  return { clock, transport, client };
}

afterEach(async () => {
  for (const c of clients) await c.close({ timeoutMs: 0 }).catch(() => undefined);
  clients = [];
});

describe('SDK: limit refusals are definite', () => {
  it('surfaces a full queue at once as ResourceExhaustedError with limit and retryAfterMs', async () => {
    const { transport, client } = setup();
    const q = client.queue('q');
    await q.create({ maxLength: 1 });
    await q.enqueue('a');
    const before = transport.count('Enqueue');
    const e = await q.enqueue('b').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ResourceExhaustedError);
    expect((e as ResourceExhaustedError).limit).toBe('maxLength');
    expect((e as ResourceExhaustedError).retryAfterMs).toBe(1000);
    expect((e as ResourceExhaustedError).outcome).toBe('not_applied');
    expect(transport.count('Enqueue') - before).toBe(1);
  });

  it('retries a limit refusal as a new command only when asked', async () => {
    const { clock, transport, client } = setup();
    const q = client.queue('q');
    await q.create({ maxLength: 1 });
    const first = await q.enqueue('a');
    const p = q.enqueue('b', {}, { retryExhausted: true });
    await clock.advance(500);
    expect(transport.count('Enqueue')).toBe(2);
    await client.command({ type: 'cancel', id: first.id });
    await clock.advance(600);
    const r = await p;
    expect(r.deduplicated).toBe(false);
    expect(transport.count('Enqueue')).toBe(3);
  });
});

describe('SDK: limit keys', () => {
  it('enqueues with key and cost, leases within per-key limits, and reads usage by key', async () => {
    const { client } = setup();
    const q = client.queue('q');
    await q.create({ keyLimits: { concurrency: 2 }, keys: { b: { weight: 2, concurrency: 5 } } });
    await q.enqueueMany([
      { payload: 1, key: 'a', cost: 2 },
      { payload: 2, key: 'a' },
      { payload: 3, key: 'b' },
    ]);
    const { reply } = await client.command({ type: 'lease', queue: 'q', workerId: 'w', max: 10 });
    const leased = reply['tasks'] as LeasedTask[];
    expect(leased.map((t) => [t.key, t.cost ?? 1]).sort()).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
    const page = await q.keys();
    expect(page.items.filter((k) => k.key !== '')).toEqual([
      { key: 'a', leased: 1, inUse: 2, waiting: 1, weight: 1, concurrency: 2, tokens: null, heldUntilMono: null },
      { key: 'b', leased: 1, inUse: 1, waiting: 0, weight: 2, concurrency: 5, tokens: null, heldUntilMono: null },
    ]);
    expect((await q.get(leased[0]?.id as string)).key).toBeDefined();
  });

  it('refuses unknown limit setting names before sending', async () => {
    const { client } = setup();
    await expect(client.queue('q').create({ keyLimits: { concurency: 1 } } as never)).rejects.toMatchObject({
      field: 'settings.keyLimits.concurency',
    });
    await expect(client.queue('q').enqueue('x', { cost: 0 })).rejects.toMatchObject({ field: 'tasks[0].cost' });
  });

  it('a RateLimitedError releases the task without an attempt and holds its key back', async () => {
    const { clock, client } = setup();
    const q = client.queue('q');
    await q.enqueueMany([
      { payload: 'a1', key: 'a' },
      { payload: 'b1', key: 'b' },
    ]);
    const seen: Array<{ payload: unknown; at: number; attempts: number }> = [];
    let limited = true;
    const w = client.worker(
      'q',
      async (t: WorkerTask<unknown>) => {
        seen.push({ payload: t.payload, at: clock.now(), attempts: t.attempts });
        if (t.key === 'a' && limited) {
          limited = false;
          throw new RateLimitedError(3000);
        }
        return 'ok';
      },
      { leaseMs: 10_000, holdMsMax: 0, electionTimeoutMsMax: 1_000, ackDelayMs: 2 },
    );
    const t0 = clock.now();
    await clock.advance(1000);
    await settle();
    expect(seen.map((s) => s.payload).sort()).toEqual(['a1', 'b1']);
    await clock.advance(3000);
    await settle();
    const again = seen.filter((s) => s.payload === 'a1');
    expect(again).toHaveLength(2);
    expect((again[1] as { at: number }).at - t0).toBeGreaterThanOrEqual(3000);
    expect((again[1] as { attempts: number }).attempts).toBe(0);
    await w.close();
  });
});

describe('SDK: dedup modes', () => {
  it('answers deduplicated / throttled / replaced with the id kept', async () => {
    const { client } = setup();
    const q = client.queue<string>('q');
    const a = await q.enqueue('a', { dedup: { key: 'inv-42', mode: 'active' } });
    expect(await q.enqueue('a2', { dedup: { key: 'inv-42', mode: 'active' } })).toEqual({
      id: a.id,
      deduplicated: true,
    });
    const t = await q.enqueue('t', { dedup: { key: 'digest', mode: 'throttle', windowMs: 60_000 } });
    expect(await q.enqueue('t2', { dedup: { key: 'digest', mode: 'throttle', windowMs: 60_000 } })).toEqual({
      id: t.id,
      deduplicated: true,
      throttled: true,
    });
    const d = await q.enqueue('v1', { delayMs: 5000, dedup: { key: 'reindex', mode: 'debounce' } });
    expect(await q.enqueue('v2', { delayMs: 5000, dedup: { key: 'reindex', mode: 'debounce' } })).toEqual({
      id: d.id,
      deduplicated: true,
      replaced: true,
    });
    expect((await q.get(d.id)).payload).toBe('v2');
  });
});

describe('SDK: limit settings through the wire', () => {
  it('round-trips rate, key limits, overrides (with an exempting null), maxWaiting and overflow', async () => {
    const { client } = setup();
    const q = client.queue('q');
    await q.create({
      rate: { limit: 50, intervalMs: 1000 },
      keyLimits: { concurrency: 2, rate: { limit: 5, intervalMs: 1000, burst: 10 }, maxWaiting: 100 },
      keys: { vip: { concurrency: null, weight: 5 }, old: { weight: 2 } },
      maxWaiting: 1000,
      overflow: 'dropOldest',
    });
    await q.configure({ keys: { old: null } });
    const s = (await q.stats()).settings;
    expect(s.rate).toEqual({ limit: 50, intervalMs: 1000 });
    expect(s.keyLimits).toEqual({ concurrency: 2, rate: { limit: 5, intervalMs: 1000, burst: 10 }, maxWaiting: 100 });
    expect(s.keys).toEqual({ vip: { concurrency: null, weight: 5 } });
    expect(s.maxWaiting).toBe(1000);
    expect(s.overflow).toBe('dropOldest');
    // vip is exempt from the default concurrency of 2: all three of its tasks lease at once.
    await q.enqueueMany([1, 2, 3].map((n) => ({ payload: n, key: 'vip' })));
    await q.enqueueMany([1, 2, 3].map((n) => ({ payload: n, key: 'acme' })));
    const leased = await q.lease({ max: 10 });
    expect(leased.filter((l) => l.key === 'vip')).toHaveLength(3);
    expect(leased.filter((l) => l.key === 'acme')).toHaveLength(2);
    await q.configure({ rate: null, maxWaiting: null });
    const after = (await q.stats()).settings;
    expect(after.rate).toBeUndefined();
    expect(after.maxWaiting).toBeUndefined();
  });

  it('refuses a key over its maxWaiting at once, naming keyMaxWaiting; other keys still enqueue', async () => {
    const { transport, client } = setup();
    const q = client.queue('q');
    await q.create({ keyLimits: { maxWaiting: 1 } });
    await q.enqueue('a1', { key: 'a' });
    const before = transport.count('Enqueue');
    const e = await q.enqueue('a2', { key: 'a' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ResourceExhaustedError);
    expect((e as ResourceExhaustedError).limit).toBe('keyMaxWaiting');
    expect(transport.count('Enqueue') - before).toBe(1);
    expect((await q.enqueue('b1', { key: 'b' })).deduplicated).toBe(false);
  });

  it('a refusal after an attempt of unknown outcome is still definite (the seq was answered)', async () => {
    const { transport, client } = setup();
    const q = client.queue('q');
    await q.create({ maxLength: 1 });
    await q.enqueue('a');
    let drops = 1;
    transport.intercept = (_a, method) => (method === 'Enqueue' && drops-- > 0 ? 'drop-reply' : null);
    const e = await q.enqueue('b').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ResourceExhaustedError);
    expect((e as ResourceExhaustedError).outcome).toBe('not_applied');
  });

  it('pages through keys with a cursor', async () => {
    const { client } = setup();
    const q = client.queue('q');
    await q.enqueueMany(['k1', 'k2', 'k3'].map((key) => ({ payload: key, key })));
    // '' (the tasks without a key) sorts first.
    const first = await q.keys({ limit: 2 });
    expect(first.items.map((k) => k.key)).toEqual(['', 'k1']);
    expect(first.nextCursor).toBe('k1');
    const rest = await q.keys({ cursor: first.nextCursor as string });
    expect(rest.items.map((k) => k.key)).toEqual(['k2', 'k3']);
    expect(rest.nextCursor).toBeNull();
  });

  it('names a typo in a dedup option or a key limit before sending', async () => {
    const { transport, client } = setup();
    const q = client.queue('q');
    await expect(q.enqueue('x', { dedup: { key: 'k', mode: 'active', windw: 5 } } as never)).rejects.toMatchObject({
      field: 'options.dedup.windw',
    });
    await expect(
      q.create({ keys: { a: { rate: { limit: 1, intervalMs: 1, brust: 2 } } } } as never),
    ).rejects.toMatchObject({ field: 'settings.keys.a.rate.brust' });
    expect(transport.count('Enqueue') + transport.count('CreateQueue')).toBe(0);
  });
});

describe('SDK: custom task ids', () => {
  it('a second enqueue with the same id returns the first task, in one batch or later', async () => {
    const { client } = setup();
    const q = client.queue<string>('q');
    const first = await q.enqueue('a', { id: 'invoice-42' });
    expect(await q.enqueue('b', { id: 'invoice-42' })).toEqual({ id: first.id, deduplicated: true });
    const [x, y] = await q.enqueueMany([
      { payload: 'c', id: 'invoice-43' },
      { payload: 'd', id: 'invoice-43' },
    ]);
    expect(y).toEqual({ id: x?.id, deduplicated: true });
    expect((await q.get(first.id)).payload).toBe('a');
    expect((await q.get(first.id)).customId).toBe('invoice-42');
    await expect(q.enqueue('e', { id: 'invoice-44', idempotencyKey: 'k' })).rejects.toMatchObject({
      field: 'tasks[0].id',
    });
  });
});

describe('SDK: per-task backoff', () => {
  it("a task's own backoff decides its retry delay; a typo in it is refused before sending", async () => {
    const { client } = setup();
    const q = client.queue<string>('q');
    const [slow, plain] = await q.enqueueMany([
      { payload: 'slow', backoff: { type: 'fixed', delayMs: 50_000 } },
      { payload: 'plain' },
    ]);
    const leased = await q.lease({ max: 2 });
    for (const l of leased) expect((await q.nack(l.id, l.token, { error: 'x' })).state).toBe('delayed');
    const at = async (id: string): Promise<number> => (await q.get(id)).runAt?.at ?? 0;
    // The queue's default backoff is 1 s (±20 %): the task's own 50 s is far beyond it.
    expect((await at(slow?.id as string)) - (await at(plain?.id as string))).toBeGreaterThan(45_000);
    await expect(q.enqueue('x', { backoff: { delayMS: 5 } } as never)).rejects.toMatchObject({
      field: 'options.backoff.delayMS',
    });
  });
});
