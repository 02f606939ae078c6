// The worker's lease-safety bound (docs/design.md §2.4): `leaseMs ≥ marginMs + 3 × election timeout`
// with the election timeout the nodes report in their status, not an assumed 1 s; the
// `electionTimeoutMsMax` option overrides it. Over the in-process fake cluster and loopback transport.
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/client.js';
import { FakeClock, FakeCluster, LoopbackTransport } from './fakes.js';

let clients: Client[] = [];

afterEach(async () => {
  for (const c of clients) await c.close({ timeoutMs: 0 }).catch(() => undefined);
  clients = [];
});

function setup(max: number) {
  const clock = new FakeClock();
  const cluster = new FakeCluster(clock, 1);
  // As a node started with --election-ticks 40 at 50 ms ticks reports it.
  cluster.electionTimeoutMs = { min: max / 2, max };
  const client = new Client({
    servers: cluster.addresses,
    transport: new LoopbackTransport(cluster),
    clock,
    timeoutMs: 5_000,
  });
  clients.push(client);
  return { clock, cluster, client };
}

function leaseMsAsked(cluster: FakeCluster): number[] {
  return cluster.machine.executed.flatMap((sc) => (sc.cmd.type === 'lease' ? [sc.cmd.leaseMs ?? -1] : []));
}

describe('Worker: lease bound from the election timeout in status', () => {
  it('a node with a 4 s election timeout: the worker asks for leases long enough for it', async () => {
    const { clock, cluster, client } = setup(4_000);
    const q = client.queue<string>('q');
    // Made before any node answered: checked against the 1 s default.
    const w = client.worker<string>('q', () => 'ok', { leaseMs: 10_000, holdMsMax: 0 });
    expect([w.electionTimeoutMsMax, w.leaseMs]).toEqual([1_000, 10_000]);
    await q.enqueue('a');
    await clock.advance(0); // the Status probe's answer
    expect(client.electionTimeoutMsMax).toBe(4_000);
    expect(w.electionTimeoutMsMax).toBe(4_000);
    // Lengthened just enough: lease ≥ margin + 3 × 4 s, the margin still covers the longer lease.
    expect(w.leaseMs).toBeGreaterThanOrEqual(w.marginMs + 12_000);
    expect(w.leaseMs).toBeLessThanOrEqual(w.marginMs + 12_001);
    expect(w.marginMs).toBeGreaterThanOrEqual(Math.ceil(500 + 0.002 * w.leaseMs));
    expect(w.extendEveryMs).toBe(Math.floor((w.leaseMs - w.marginMs) / 3));
    await clock.advance(2_000);
    const asked = leaseMsAsked(cluster);
    expect(asked.at(-1)).toBe(w.leaseMs); // the lease requests carry it
    expect(w.stats.completed).toBe(1);
    await w.close();
  });

  it('the electionTimeoutMsMax option overrides what the node reports; a worker made later is checked against it', async () => {
    const { clock, client } = setup(4_000);
    await client.queue('q').enqueue('a');
    await clock.advance(0);
    const pinned = client.worker('q', () => 'ok', { leaseMs: 10_000, holdMsMax: 0, electionTimeoutMsMax: 1_000 });
    expect([pinned.electionTimeoutMsMax, pinned.leaseMs]).toEqual([1_000, 10_000]);
    expect(() => client.worker('q', () => 'ok', { leaseMs: 10_000, holdMsMax: 0 })).toThrow(
      /leaseMs: must be at least 12520 ms \(margin \+ 3 × election timeout\)/,
    );
    await pinned.close();
  });

  it('a node reporting 1 s (or nothing): the options as given', async () => {
    const { clock, client } = setup(1_000);
    await client.queue('q').enqueue('a');
    await clock.advance(0);
    const w = client.worker('q', () => 'ok', { leaseMs: 10_000, holdMsMax: 0 });
    expect([w.electionTimeoutMsMax, w.leaseMs, w.marginMs, w.extendEveryMs]).toEqual([1_000, 10_000, 520, 3_160]);
    await w.close();
  });
});
