// Issue 18 acceptance: a client that can reach only one follower (the other nodes' advertised client
// addresses map to a closed port) keeps enqueuing, leasing and acking through follower forwarding;
// and a forwarded command whose leader stops mid-flight has the usual unknown outcome, after which a
// retry with the same session sequence number is applied exactly once.
import { describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import { GrpcTransport } from '../../src/client/grpc-transport.js';
import { TransportError } from '../../src/client/transport.js';
import { ERROR_TABLE } from '../../src/protocol/errors.js';
import { COMMAND_WIRE } from '../../src/protocol/wire.js';
import { statusOf, waitFor, waitForLeader } from './helpers.js';
import { parsePromText, sampleValue } from '../support/prom-text.js';
import { clusterPerTest, type TestCluster } from '../support/cluster.js';

const fx = clusterPerTest();
/** Nothing listens on port 1 of the loopback: a connection there is refused at once. */
const CLOSED = '127.0.0.1:1';

/** A client that reaches only `follower`: every other node's advertised address leads nowhere. */
function followerOnly(tc: TestCluster, follower: string, timeoutMs: number): Client {
  const c = tc.cluster;
  const addressMap: Record<string, string> = {};
  for (const s of c.specs) if (s.id !== follower) addressMap[`127.0.0.1:${s.clientPort}`] = CLOSED;
  return fx.track(new Client({ servers: [`127.0.0.1:${c.spec(follower).clientPort}`], addressMap, timeoutMs }));
}

async function metric(tc: TestCluster, id: string, name: string, labels: Record<string, string>): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${tc.cluster.spec(id).httpPort}/metrics`);
  return sampleValue(parsePromText(await r.text()), name, labels) ?? NaN;
}

describe('a client that reaches only a follower', () => {
  it('enqueues, leases and acks through forwarding; linearizable reads too', async () => {
    const tc = await fx.start(3);
    const leader = await waitForLeader(tc.cluster);
    const follower = tc.cluster.specs.find((s) => s.id !== leader)?.id as string;
    const client = followerOnly(tc, follower, 10_000);
    const q = client.queue<{ n: number }>('fwd');

    const ids: string[] = [];
    for (let n = 0; n < 20; n++) ids.push((await q.enqueue({ n })).id);
    // A WaitFor held by the follower: its task reads are forwarded, its watch is the follower's.
    const waited = q.waitFor(ids[0] as string, { timeoutMs: 20_000 });
    const leased = [];
    while (leased.length < 20) leased.push(...(await q.lease({ max: 20 - leased.length, leaseMs: 30_000 })));
    expect(leased.map((l) => l.payload.n).sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
    for (const l of leased.slice(0, 10)) await q.ack(l.id, l.token, `done-${l.payload.n}`);
    const outcomes = await q.ackMany(leased.slice(10).map((l) => ({ id: l.id, token: l.token })));
    expect(outcomes.every((o) => o.ok)).toBe(true);
    const first = leased.find((l) => l.id === ids[0]);
    expect(await waited).toBe(first !== undefined && leased.indexOf(first) < 10 ? 'done-0' : undefined);

    const stats = await q.stats(); // linearizable: forwarded to the leader as well
    expect(stats.counts.completed).toBe(20);
    expect((await q.get(ids[0] as string)).state).toBe('completed');
    // The follower counted what it forwarded, the leader what it ran for it.
    const forwarded = await metric(tc, follower, 'raftq_forward_calls_total', { outcome: 'answered' });
    expect(forwarded).toBeGreaterThan(0);
    expect(await metric(tc, leader, 'raftq_forward_served_total', { outcome: 'answered' })).toBe(forwarded);
    // The client never had another node to talk to, and the follower still is one. A Status asked
    // after the last call may name the leader (whose address leads nowhere) before the book ever
    // tried it: the next command fails there once, and from then on the book stays with the follower.
    const followerAddr = `127.0.0.1:${tc.cluster.spec(follower).clientPort}`;
    const settled = await waitFor(
      async () => {
        await q.enqueue({ n: -1 });
        return client.leaderAddress === followerAddr ? followerAddr : undefined;
      },
      10_000,
      'the client to settle on the follower',
    );
    expect(settled).toBe(followerAddr);
    expect((await statusOf(tc.cluster, follower))?.role).toBe('follower');
  });

  it('a forwarded command whose leader stops mid-flight has an unknown outcome; its retry applies once', async () => {
    const tc = await fx.start(3);
    const c = tc.cluster;
    const leader = await waitForLeader(c);
    const follower = c.specs.find((s) => s.id !== leader)?.id as string;
    const followerAddr = `127.0.0.1:${c.spec(follower).clientPort}`;
    const raw = fx.track(new GrpcTransport()); // no retries: the one answer the follower gives
    const opened = COMMAND_WIRE.openSession.reply.decode(
      await raw.call(
        followerAddr,
        'OpenSession',
        { ...COMMAND_WIRE.openSession.request.encode({ type: 'openSession' }), callTimeoutMs: 0 },
        5_000,
      ),
    );
    const enqueue = {
      ...COMMAND_WIRE.enqueue.request.encode({
        type: 'enqueue',
        queue: 'fwd-once',
        tasks: [{ payload: new Uint8Array([1]) }],
      }),
      header: { session: opened.session, seq: 1, floor: 1, timeoutMs: 1_500 },
    };

    await c.signal(leader, 'SIGSTOP');
    // The follower still follows the stopped leader: it forwards, and no answer comes back.
    const failed = await raw.call(followerAddr, 'Enqueue', enqueue, 3_000).then(
      () => null,
      (e: unknown) => e,
    );
    expect(failed).toBeInstanceOf(TransportError);
    const code = (failed as TransportError).detail.code;
    expect(['UNAVAILABLE', 'DEADLINE_EXCEEDED']).toContain(code);
    expect(ERROR_TABLE[code].outcome).toBe('unknown');

    // The old leader dies with the request unanswered; the same seq again, through the follower.
    await c.kill(leader);
    const next = await waitForLeader(c, 20_000, leader);
    expect(next).not.toBe(leader);
    const retried = await waitFor(
      () => raw.call(followerAddr, 'Enqueue', enqueue, 3_000).catch(() => undefined),
      15_000,
      'the retry to succeed',
    );
    const first = COMMAND_WIRE.enqueue.reply.decode(retried);
    const again = COMMAND_WIRE.enqueue.reply.decode(await raw.call(followerAddr, 'Enqueue', enqueue, 3_000));
    expect(again.items).toEqual(first.items); // the session's cached answer: the same task, not a second one

    const client = fx.track(new Client({ servers: [followerAddr], timeoutMs: 10_000 }));
    const stats = await client.queue('fwd-once').stats();
    expect(stats.counts.waiting).toBe(1);
  });

  it('keeps working through a paused leader: the first success comes within 2 s of the election', async () => {
    const tc = await fx.start(3); // election timeout 500..1000 ms
    const c = tc.cluster;
    const leader = await waitForLeader(c);
    const follower = c.specs.find((s) => s.id !== leader)?.id as string;
    const q = followerOnly(tc, follower, 5_000).queue<number>('fwd-pause');
    const calls: { start: number; end: number; ok: boolean; error?: string }[] = [];
    let stop = false;
    const producer = (async () => {
      for (let i = 0; !stop && i < 100_000; i++) {
        const start = performance.now();
        const error = await q.enqueue(i).then(
          () => undefined,
          (e: unknown) => String(e),
        );
        calls.push({ start, end: performance.now(), ok: error === undefined, ...(error ? { error } : {}) });
      }
    })();
    try {
      await waitFor(() => (calls.filter((x) => x.ok).length >= 20 ? true : undefined), 10_000, 'a warmed-up producer');
      await c.signal(leader, 'SIGSTOP');
      const pausedAt = performance.now();
      const electedAt = await waitFor(
        async () => {
          const all = await Promise.all(c.specs.filter((s) => s.id !== leader).map((s) => statusOf(c, s.id)));
          return all.some((s) => s?.role === 'leader') ? performance.now() : undefined;
        },
        10_000,
        'a new leader',
        20,
      );
      const first = await waitFor(() => calls.find((x) => x.ok && x.start > pausedAt), 8_000, 'a success');
      await waitFor(
        () => (calls.filter((x) => x.ok && x.start > first.end).length >= 10 ? true : undefined),
        8_000,
        'ten more successes',
      );
      stop = true;
      await producer;
      expect(first.end - electedAt).toBeLessThan(2_000);
      expect(calls.filter((x) => x.end > pausedAt && !x.ok).map((x) => x.error)).toEqual([]);
    } finally {
      stop = true;
      await producer;
    }
  });
});
