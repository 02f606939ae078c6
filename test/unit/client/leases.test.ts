// The low-level consumer API (issue 18): queue.lease / ack / ackMany / nack / extend / release over
// the real client service in-process, with a fake clock.
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/client.js';
import { InvalidArgumentError, LeaseLostError, NotFoundError } from '../../../src/client/errors.js';
import { marginMinMs } from '../../../src/client/worker-belief.js';
import { FakeClock, FakeCluster, LoopbackTransport } from './fakes.js';

let clients: Client[] = [];
afterEach(async () => {
  for (const c of clients) await c.close({ timeoutMs: 0 });
  clients = [];
});

function setup() {
  const clock = new FakeClock();
  const cluster = new FakeCluster(clock, 3);
  const transport = new LoopbackTransport(cluster);
  const client = new Client({ servers: cluster.addresses, transport, clock, timeoutMs: 5_000 });
  clients.push(client);
  return { clock, cluster, transport, client };
}

describe('queue.lease', () => {
  it('hands out decoded payloads, tokens and belief deadlines', async () => {
    const { clock, client } = setup();
    const q = client.queue<{ n: number }>('q');
    await q.enqueueMany([{ payload: { n: 1 }, headers: { who: 'me' } }, { payload: { n: 2 } }]);
    const before = clock.now();
    const leases = await q.lease({ max: 5, leaseMs: 10_000, workerId: 'w1' });
    expect(leases.map((l) => l.payload)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(leases[0]?.headers).toEqual({ who: 'me' });
    expect(leases[0]?.queue).toBe('q');
    expect(leases[0]?.token).toMatch(/^\d+$/);
    // No time passed on the fake clock: the belief ends leaseMs − margin after the first send.
    expect(leases[0]?.beliefDeadline).toBe(before + 10_000 - marginMinMs(10_000, 0));
    expect((await q.get(leases[0]?.id ?? '')).lease?.workerId).toBe('w1');
  });

  it('keeps the payloads when the answer is replayed from the session cache', async () => {
    const { clock, cluster, transport, client } = setup();
    const q = client.queue<string>('q');
    await q.enqueue('precious');
    let drop = true;
    transport.intercept = (_a, method) => {
      if (method !== 'Lease' || !drop) return null;
      drop = false;
      return 'drop-reply'; // the lease applied, its reply is lost: the retry hits the session cache
    };
    const leasing = q.lease({ leaseMs: 10_000 });
    await clock.advance(1_000); // the leader's back-off after the lost reply
    const [l] = await leasing;
    const atLeader = transport.calls.filter((c) => c.method === 'Lease' && c.address === cluster.addresses[0]);
    expect(atLeader).toHaveLength(2); // the lost one and its retry (the followers named the leader)
    expect(transport.count('GetTask')).toBe(1);
    expect(l?.payload).toBe('precious');
  });
});

describe('settling a lease by hand', () => {
  it('rejects each call on a lost lease with LeaseLostError, and a missing task with NotFoundError', async () => {
    const { clock, client } = setup();
    const q = client.queue<string>('q');
    await q.enqueueMany([{ payload: 'a' }, { payload: 'b' }]);
    const [a, b] = await q.lease({ max: 2, leaseMs: 2_000 });
    if (!a || !b) throw new Error('two leases');
    const stale = String(Number(a.token) - 1);
    await expect(q.ack(a.id, stale)).rejects.toBeInstanceOf(LeaseLostError);
    await expect(q.nack(a.id, stale)).rejects.toBeInstanceOf(LeaseLostError);
    await expect(q.extend(a.id, stale, { leaseMs: 2_000 })).rejects.toBeInstanceOf(LeaseLostError);
    await expect(q.release(a.id, stale)).rejects.toBeInstanceOf(LeaseLostError);
    await expect(q.ack('999999', '1')).rejects.toBeInstanceOf(NotFoundError);
    // A lease this client did not grant needs its length to compute a belief.
    await expect(q.extend(b.id, b.token + '0')).rejects.toBeInstanceOf(InvalidArgumentError);
    const extended = await q.extend(a.id, a.token, { progress: 10, checkpoint: { page: 3 } });
    expect(extended.beliefDeadline).toBe(clock.now() + 2_000 - marginMinMs(2_000, 0));
    await clock.advance(2_500); // b's lease ends; a's was extended at 0 and ends too
    const outcomes = await q.ackMany([
      { id: a.id, token: a.token, result: 'late' },
      { id: b.id, token: b.token },
    ]);
    expect(outcomes.map((o) => o.ok)).toEqual([false, false]);
    expect(outcomes[0]?.ok === false && outcomes[0].error).toBeInstanceOf(LeaseLostError);
    const again = await q.lease({ max: 2, leaseMs: 10_000 });
    const fromA = again.find((l) => l.id === a.id);
    expect(fromA?.checkpoint).toEqual({ page: 3 });
    expect(fromA?.leases).toBe(2);
  });

  it('acks with a result, nacks to the dead letters, and releases', async () => {
    const { client } = setup();
    const q = client.queue<string>('q');
    const [x, y, z] = await q.enqueueMany([{ payload: 'x' }, { payload: 'y' }, { payload: 'z' }]);
    const leases = await q.lease({ max: 3 });
    const byId = new Map(leases.map((l) => [l.id, l]));
    const lx = byId.get(x?.id ?? '');
    const ly = byId.get(y?.id ?? '');
    const lz = byId.get(z?.id ?? '');
    if (!lx || !ly || !lz) throw new Error('three leases');
    await q.ack(lx.id, lx.token, { size: 3 });
    expect((await q.get(lx.id)).result).toEqual({ size: 3 });
    const nacked = await q.nack(ly.id, ly.token, { deadLetter: true, error: 'bad input' });
    expect(nacked.state).toBe('dead');
    expect(await q.release(lz.id, lz.token)).toBe('waiting');
    expect((await q.get(lz.id)).attempts).toBe(0);
  });
});

// What the Worker leases and settles through (issue 18): the same calls a hand-written consumer has.
describe('the low-level API the Worker is built on', () => {
  it('leaseRound: a request held on the poll lane, with its sentAt, heldMs and grantedBy', async () => {
    const { clock, transport, client } = setup();
    const q = client.queue<string>('q');
    await q.enqueue('warm-up'); // opens the main session
    const [w] = await q.lease();
    await q.ack(w?.id ?? '', w?.token ?? '');
    const sentAt = clock.now();
    const polling = q.leaseRound({ max: 3, leaseMs: 10_000, waitMs: 5_000, lane: 'poll', workerId: 'w' });
    await clock.advance(300); // nothing ready: the leader holds the request
    await q.enqueue('late');
    const round = await polling;
    expect(round.sentAt).toBe(sentAt);
    expect(round.heldMs).toBe(300);
    const [l] = round.leases;
    expect(l?.payload).toBe('late');
    expect(l?.grantedBy).toBe(sentAt + 300);
    // The margin covers the hold: 500 ms + 0.2 % of leaseMs + waitMs.
    expect(l?.beliefDeadline).toBe(sentAt + 300 + 10_000 - marginMinMs(10_000, 5_000));
    // The held request went on the client's second session, not the one the enqueues use.
    const heldCall = transport.calls.find((c) => c.method === 'Lease' && c.request['maxHoldMs'] === 5_000);
    const held = heldCall?.request['header'] as { session: string } | undefined;
    expect(held?.session).toBeDefined();
    expect(held?.session).not.toBe(client.sessionId);
    // Without waitMs the node answers an empty queue at once.
    const empty = await q.leaseRound({ leaseMs: 10_000 });
    expect([empty.leases.length, empty.heldMs]).toEqual([0, 0]);
  });

  it("leaseRound resent after a lost reply counts no hold: the grant may be the first attempt's", async () => {
    const { clock, transport, client } = setup();
    const q = client.queue<string>('q');
    await q.enqueue('once');
    let drop = true;
    transport.intercept = (_a, method) => {
      if (method !== 'Lease' || !drop) return null;
      drop = false;
      return 'drop-reply'; // granted at once, the reply lost
    };
    const sentAt = clock.now();
    const polling = q.leaseRound({ max: 1, leaseMs: 10_000, waitMs: 3_000, lane: 'poll', workerId: 'w' });
    // The resend finds nothing leasable (its own task is leased) and is held 3 s; its proposal then
    // answers from the session cache with the grant made at the first send, not 3 s later.
    for (let i = 0; i < 50; i++) await clock.advance(100);
    const round = await polling;
    const [l] = round.leases;
    expect(l?.payload).toBe('once');
    expect(transport.calls.filter((c) => c.method === 'Lease').length).toBeGreaterThanOrEqual(2);
    expect(round.heldMs).toBe(0);
    expect(l?.grantedBy).toBe(sentAt);
    expect(l?.beliefDeadline).toBe(sentAt + 10_000 - marginMinMs(10_000, 3_000));
  });

  it('lease margin: a larger margin moves the belief deadline earlier; a smaller one is raised to the minimum', async () => {
    const { clock, client } = setup();
    const q = client.queue<string>('q');
    await q.enqueueMany([{ payload: 'a' }, { payload: 'b' }]);
    const t = clock.now();
    const [a] = await q.lease({ leaseMs: 10_000, margin: 2_000 });
    expect(a?.beliefDeadline).toBe(t + 10_000 - 2_000);
    const [b] = await q.lease({ leaseMs: 10_000, margin: 1 });
    expect(b?.beliefDeadline).toBe(t + 10_000 - marginMinMs(10_000, 0));
  });

  it('a replayed lease whose payload cannot be read by its belief deadline comes back with payloadReadError', async () => {
    const { clock, transport, client } = setup();
    const q = client.queue<string>('q');
    await q.enqueue('unreadable');
    let drop = true;
    transport.intercept = (_a, method) => {
      if (method === 'GetTask') return { code: 'UNAVAILABLE', message: 'partitioned' };
      if (method !== 'Lease' || !drop) return null;
      drop = false;
      return 'drop-reply';
    };
    const leasing = q.lease({ leaseMs: 2_000 });
    let done = false;
    void leasing.finally(() => (done = true));
    await clock.advance(1_000);
    expect(done).toBe(false); // still reading, before the belief deadline (1,496 ms after the send)
    await clock.advance(600); // past the belief deadline, before the lease ends (2,000 ms)
    const [l] = await leasing;
    expect(l?.payload).toBeUndefined();
    expect(l?.payloadReadError).toBeInstanceOf(Error);
    transport.intercept = null;
    // The lease itself is held and can be given back (the task is healthy).
    expect(await q.release(l?.id ?? '', l?.token ?? '')).toBe('waiting');
  });

  it('ackMany takes results already encoded; release holds the limit key back; extend tells its first send', async () => {
    const { clock, transport, client } = setup();
    const q = client.queue<string>('q');
    const [x, y] = await q.enqueueMany([{ payload: 'x' }, { payload: 'y' }]);
    const leases = await q.lease({ max: 2, leaseMs: 10_000 });
    const lx = leases.find((l) => l.id === x?.id);
    const ly = leases.find((l) => l.id === y?.id);
    if (!lx || !ly) throw new Error('two leases');
    await clock.advance(100);
    const ext = await q.extend(lx.id, lx.token);
    expect(ext.sentAt).toBe(clock.now());
    expect(ext.beliefDeadline).toBe(ext.sentAt + 10_000 - marginMinMs(10_000, 0));
    const [ok] = await q.ackMany([{ id: lx.id, token: lx.token, resultBytes: client.codec.encode({ rows: 7 }) }]);
    expect(ok?.ok).toBe(true);
    expect((await q.get(lx.id)).result).toEqual({ rows: 7 });
    expect(await q.release(ly.id, ly.token, { holdKeyMs: 1_234 })).toBe('waiting');
    expect(transport.calls.find((c) => c.method === 'Release')?.request['holdMs']).toBe(1_234);
  });
});
