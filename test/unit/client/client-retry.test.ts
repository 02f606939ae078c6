// The Client's leader following, sessions and retry policy, over the real client service in-process
// (LoopbackTransport) with a fake clock: no network, no real time.
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/client.js';
import {
  InvalidArgumentError,
  LeaseLostError,
  NotFoundError,
  ResourceExhaustedError,
  SessionExpiredError,
  UnavailableError,
} from '../../../src/client/errors.js';
import { FakeClock, FakeCluster, LoopbackTransport, settle } from './fakes.js';

let clients: Client[] = [];

function setup(opts: { nodes?: number; timeoutMs?: number; pendingCallsMax?: number } = {}) {
  const clock = new FakeClock();
  const cluster = new FakeCluster(clock, opts.nodes ?? 3);
  const transport = new LoopbackTransport(cluster);
  const client = new Client({
    servers: cluster.addresses,
    transport,
    clock,
    timeoutMs: opts.timeoutMs ?? 5_000,
    ...(opts.pendingCallsMax === undefined ? {} : { pendingCallsMax: opts.pendingCallsMax }),
  });
  clients.push(client);
  return { clock, cluster, transport, client };
}

afterEach(async () => {
  for (const c of clients) await c.close({ timeoutMs: 0 });
  clients = [];
});

function header(request: Record<string, unknown>): { session: string; seq: number; floor: number } {
  return request['header'] as { session: string; seq: number; floor: number };
}

describe('Client: leader discovery and failover', () => {
  it('follows the NOT_LEADER hint and then talks to the leader directly', async () => {
    const { cluster, transport, client } = setup();
    cluster.leader = cluster.fronts[2] ?? null;
    const q = client.queue<{ n: number }>('q');
    await q.enqueue({ n: 1 });
    await q.enqueue({ n: 2 });
    expect(client.leaderAddress).toBe('10.0.0.3:7000');
    // The session opens at n1, which names n3; everything after goes straight to n3 (beside one
    // Status, asked once to learn the node ids and the election timeout).
    await expect.poll(() => transport.count('Status')).toBe(1);
    const commands = transport.calls.filter((c) => c.method !== 'Status');
    expect(commands.map((c) => `${c.method}@${c.address}`)).toEqual([
      'OpenSession@10.0.0.1:7000',
      'OpenSession@10.0.0.3:7000',
      'Enqueue@10.0.0.3:7000',
      'Enqueue@10.0.0.3:7000',
    ]);
  });

  it('asks Status who leads when a NOT_LEADER carries no hint', async () => {
    const { cluster, transport, client } = setup();
    cluster.leader = cluster.fronts[2] ?? null;
    transport.intercept = (address, method) =>
      address === '10.0.0.1:7000' && method !== 'Status' ? { code: 'NOT_LEADER', message: 'no hint here' } : null;
    await client.queue('q').enqueue('x');
    expect(transport.calls.map((c) => `${c.method}@${c.address}`).slice(0, 3)).toEqual([
      'OpenSession@10.0.0.1:7000',
      'Status@10.0.0.1:7000',
      'OpenSession@10.0.0.3:7000',
    ]);
  });

  it("a read's signal ends it while it asks a node without a hint who leads", async () => {
    const { clock, cluster, transport, client } = setup({ timeoutMs: 10_000 });
    cluster.leader = cluster.fronts[2] ?? null;
    transport.intercept = (address, method) =>
      address === '10.0.0.1:7000' && method !== 'Status' ? { code: 'NOT_LEADER', message: 'no hint here' } : null;
    transport.statusDelayMs = 5_000; // the node asked who leads is slow to answer
    const stop = new AbortController();
    let settled = false;
    const read = client
      .queue('q')
      .get('01J0000000000000000000000A', { signal: stop.signal })
      .finally(() => (settled = true));
    read.catch(() => undefined);
    await clock.advance(100);
    expect(transport.calls.map((c) => `${c.method}@${c.address}`)).toEqual([
      'GetTask@10.0.0.1:7000',
      'Status@10.0.0.1:7000',
    ]);
    expect(settled).toBe(false);
    stop.abort();
    await settle();
    // At once, not when the Status answers (5 s) or the call's own deadline (10 s).
    expect(settled).toBe(true);
    await expect(read).rejects.toThrow();
    expect(clock.now()).toBe(1_100);
  });

  it('fails over when the leader goes down, with back-off, and applies the command once', async () => {
    const { clock, cluster, transport, client } = setup({ timeoutMs: 10_000 });
    const q = client.queue('q');
    await q.enqueue('a');
    const [n1, n2] = cluster.fronts;
    // The leader dies after applying, before its reply: the outcome is unknown to the client.
    transport.intercept = (address, method) => (address === n1?.address && method === 'Enqueue' ? 'drop-reply' : null);
    const pending = q.enqueue('b');
    await settle();
    if (n1) n1.up = false;
    cluster.leader = n2 ?? null;
    await clock.advance(2_000);
    const r = await pending;
    const sent = transport.calls.filter((c) => c.method === 'Enqueue').slice(1);
    // Every attempt of the second enqueue used the same session sequence number...
    expect(new Set(sent.map((c) => header(c.request).seq)).size).toBe(1);
    expect(sent.length).toBeGreaterThan(1);
    // ...so the state machine applied it once and answered the retry from the session.
    const page = await q.list({ state: 'waiting' });
    expect(page.items.map((t) => t.payload)).toEqual(['a', 'b']);
    expect(page.items[1]?.id).toBe(r.id);
  });

  it('waits for a leader up to the deadline, then fails with UNAVAILABLE', async () => {
    const { clock, cluster, transport, client } = setup({ timeoutMs: 3_000 });
    for (const f of cluster.fronts) f.up = false;
    let error: unknown = null;
    const p = client
      .queue('q')
      .stats()
      .catch((e: unknown) => (error = e));
    await clock.advance(2_900);
    expect(error).toBeNull();
    const tries = transport.calls.length;
    expect(tries).toBeGreaterThan(3);
    expect(tries).toBeLessThan(60); // backed off, not a busy loop
    await clock.advance(200);
    await p;
    expect(error).toBeInstanceOf(UnavailableError);
  });

  it('bounds the calls buffered while no leader answers', async () => {
    const { clock, cluster, client } = setup({ timeoutMs: 1_000, pendingCallsMax: 2 });
    for (const f of cluster.fronts) f.up = false;
    const q = client.queue('q');
    const waiting = [q.stats().catch((e: unknown) => e), q.stats().catch((e: unknown) => e)];
    await expect(q.stats()).rejects.toThrow(/pendingCallsMax/);
    await clock.advance(1_100);
    for (const e of await Promise.all(waiting)) expect(e).toBeInstanceOf(UnavailableError);
  });
});

describe('Client: sessions and the retry table', () => {
  it('sends the lowest outstanding sequence number as the floor', async () => {
    const { clock, transport, client } = setup();
    const q = client.queue('q');
    await q.enqueue('warm-up');
    // Hold the next enqueue's reply back: it stays outstanding while another command goes out.
    let release: (() => void) | null = null;
    const gate = new Promise<void>((r) => (release = r));
    const orig = transport.call.bind(transport);
    let held = false;
    transport.call = async (...args) => {
      if (!held && args[1] === 'Enqueue') {
        held = true;
        await gate;
      }
      return orig(...args);
    };
    const slow = q.enqueue('slow');
    await settle();
    await q.enqueue('fast');
    const fast = transport.calls.filter((c) => c.method === 'Enqueue').at(-1);
    expect(header(fast?.request ?? {}).seq).toBe(3);
    expect(header(fast?.request ?? {}).floor).toBe(2);
    (release as unknown as () => void)();
    await slow;
    await q.enqueue('after');
    expect(header(transport.calls.at(-1)?.request ?? {}).floor).toBe(4);
    await clock.advance(0);
  });

  it('after SESSION_EXPIRED opens a new session; retries only idempotent commands', async () => {
    const { transport, client } = setup();
    const q = client.queue('q');
    await q.enqueue('first');
    const s1 = client.sessionId;
    let expireOnce = true;
    transport.intercept = (_a, method) => {
      if (method === 'Enqueue' && expireOnce) {
        expireOnce = false;
        return { code: 'SESSION_EXPIRED', message: 'session expired' };
      }
      return null;
    };
    await expect(q.enqueue('no-key')).rejects.toBeInstanceOf(SessionExpiredError);
    expireOnce = true;
    const r = await q.enqueue('with-key', { idempotencyKey: 'k-1' });
    expect(r.deduplicated).toBe(false);
    expect(client.sessionId).not.toBe(s1);
    expect(transport.count('OpenSession')).toBe(3);
  });

  it('retries RESOURCE_EXHAUSTED after retryAfterMs, and never retries what the table forbids', async () => {
    const { clock, transport, client } = setup();
    const q = client.queue('q');
    let busy = 1;
    transport.intercept = (_a, method) =>
      method === 'Enqueue' && busy-- > 0
        ? { code: 'RESOURCE_EXHAUSTED', message: 'busy', retryAfterMs: 700, limit: 'pendingCommands' }
        : null;
    const p = q.enqueue('x');
    await clock.advance(650);
    expect(transport.count('Enqueue')).toBe(1);
    await clock.advance(100);
    await p;
    expect(transport.count('Enqueue')).toBe(2);

    transport.intercept = (_a, method) =>
      method === 'Enqueue' ? { code: 'RESOURCE_EXHAUSTED', message: 'too large', limit: 'payloadBytesMax' } : null;
    await expect(q.enqueue('y')).rejects.toBeInstanceOf(ResourceExhaustedError);
    expect(transport.count('Enqueue')).toBe(3);
    transport.intercept = null;

    const before = transport.calls.length;
    await expect(q.get('424242')).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.command({ type: 'ack', items: [{ id: '1', token: '1' }] })).resolves.toBeDefined();
    expect(transport.calls.length - before).toBe(2);
  });

  it('rejects invalid input with a typed error before sending anything', async () => {
    const { transport, client } = setup();
    const q = client.queue('bad name!');
    await expect(q.enqueue('x')).rejects.toMatchObject({ field: 'queue' });
    await expect(client.queue('q').enqueue('x', { priority: 1.5 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.queue('q').enqueue('x', { headers: { 'raftq-codec': 'x' } })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    expect(() => new Client({ servers: ['nope'], transport })).toThrow(InvalidArgumentError);
    expect(() => client.worker('q', () => 1, { leaseMs: 1_000 })).toThrow(/leaseMs: must be at least/);
    expect(() => client.worker('q', () => 1, { leaseMs: 30_000, marginMs: 100 })).toThrow(/marginMs: must be at least/);
    expect(transport.calls).toHaveLength(0);
  });

  it('surfaces LEASE_LOST per ack item without retrying', async () => {
    const { transport, client } = setup();
    await client.queue('q').enqueue('x');
    const { reply } = await client.command({ type: 'lease', queue: 'q', workerId: 'w', max: 1 });
    const task = (reply['tasks'] as Array<{ id: string; token: string }>)[0];
    const r = await client.command({
      type: 'ack',
      items: [{ id: task?.id ?? '', token: String(Number(task?.token) + 1) }],
    });
    const results = r.reply['results'] as Array<{ ok: boolean; error: { code: string } }>;
    expect(results[0]?.error.code).toBe('LEASE_LOST');
    expect(transport.count('Ack')).toBe(1);
    expect(LeaseLostError.name).toBe('LeaseLostError');
  });

  it('keeps an idle session alive and closes it on close()', async () => {
    const { clock, transport, client } = setup();
    await client.queue('q').enqueue('x');
    await clock.advance(60_000);
    expect(transport.count('KeepAlive')).toBeGreaterThanOrEqual(2);
    const s = client.sessionId;
    await client.close();
    const closeCall = transport.calls.at(-1);
    expect(closeCall?.method).toBe('CloseSession');
    expect(header(closeCall?.request ?? {}).session).toBe(s);
    await expect(client.queue('q').enqueue('y')).rejects.toBeInstanceOf(UnavailableError);
  });
});
