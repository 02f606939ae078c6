// Server tracking and rotation (issue 18): the ServerBook alone over a fake clock, and the Client
// over the in-process cluster — a node that just failed is not tried again before the others, a
// stale hint naming it is not followed, a hint and a list entry of the same node are one node, and
// an attempt at a silent node gives up well before the call's deadline.
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/client.js';
import { ServerBook } from '../../../src/client/servers.js';
import { TransportError, type Transport } from '../../../src/client/transport.js';
import { FakeClock, FakeCluster, LoopbackTransport } from './fakes.js';

const OPTS = { backoffMsMin: 20, backoffMsMax: 1_000 };
const status = (id: string, members: Array<[string, string]>, max?: number) => ({
  id,
  members: members.map(([mid, address]) => ({ id: mid, address })),
  ...(max === undefined ? {} : { electionTimeoutMs: { min: max / 2, max } }),
});

describe('ServerBook', () => {
  it('does not retry a node that just failed before the others', () => {
    const clock = new FakeClock();
    const book = new ServerBook(['a:1', 'b:1', 'c:1'], clock, OPTS);
    expect(book.target()).toBe('a:1');
    book.failed('a:1');
    expect(book.target()).toBe('b:1');
    book.failed('b:1');
    expect(book.target()).toBe('c:1');
    book.failed('c:1');
    // All backing off: the one that failed longest ago, never the one that just did.
    expect(book.target()).toBe('a:1');
    expect(book.waitMs()).toBeGreaterThan(0);
  });

  it('skips the failed leader and does not follow a stale hint back to it', () => {
    const clock = new FakeClock();
    const book = new ServerBook(['a:1', 'b:1', 'c:1'], clock, OPTS);
    book.succeeded('b:1', true);
    expect(book.target()).toBe('b:1');
    book.failed('b:1');
    expect(book.leader).toBeNull();
    expect(book.target()).toBe('c:1');
    expect(book.hint('b:1', 'c:1')).toBe(false);
    expect(book.hint('a:1', 'c:1')).toBe(true);
    expect(book.target()).toBe('a:1');
  });

  it('recognises a hint and a list entry as one node (by node id from Status)', () => {
    const clock = new FakeClock();
    const book = new ServerBook(['localhost:7001', 'localhost:7002', 'localhost:7003'], clock, OPTS);
    const members: Array<[string, string]> = [
      ['n1', '127.0.0.1:7001'],
      ['n2', '127.0.0.1:7002'],
      ['n3', '127.0.0.1:7003'],
    ];
    book.learn('localhost:7001', status('n1', members, 400));
    book.learn('localhost:7002', status('n2', members));
    book.learn('localhost:7003', status('n3', members));
    // Three nodes, each reached at the address the caller listed, known also by its advertised one.
    expect(book.addresses).toEqual([
      'localhost:7001',
      '127.0.0.1:7001',
      'localhost:7002',
      '127.0.0.1:7002',
      'localhost:7003',
      '127.0.0.1:7003',
    ]);
    expect(book.hint('127.0.0.1:7003', 'localhost:7001')).toBe(true);
    expect(book.leader).toBe('localhost:7003');
    expect(book.hint('127.0.0.1:7001', 'localhost:7001')).toBe(false); // the answering node itself
    expect(book.electionTimeoutMsMax).toBe(400);
    expect(book.attemptTimeoutMs()).toBe(600);
  });
});

let clients: Client[] = [];
afterEach(async () => {
  for (const c of clients) await c.close({ timeoutMs: 0 });
  clients = [];
});

function setup(transport?: (t: LoopbackTransport) => Transport, timeoutMs = 5_000) {
  const clock = new FakeClock();
  const cluster = new FakeCluster(clock, 3);
  const loopback = new LoopbackTransport(cluster);
  const client = new Client({
    servers: cluster.addresses,
    transport: transport?.(loopback) ?? loopback,
    clock,
    timeoutMs,
  });
  clients.push(client);
  return { clock, cluster, transport: loopback, client };
}

describe('ServerBook: past a forwarding follower', () => {
  const members: Array<[string, string]> = [
    ['n1', 'a:1'],
    ['n2', 'b:1'],
  ];
  const follower = { ...status('n1', members), role: 'follower', leaderAddress: 'b:1' };

  it('goes to the leader a follower names once a call it forwarded succeeded', () => {
    const book = new ServerBook(['a:1'], new FakeClock(), OPTS);
    expect(book.succeeded('a:1', true)).toBe(true); // a new leader: worth a Status
    expect(book.succeeded('a:1', true)).toBe(false);
    book.learn('a:1', follower);
    expect(book.target()).toBe('b:1');
  });

  it('stays with the follower when the leader it names failed since its last success', () => {
    const clock = new FakeClock();
    const book = new ServerBook(['a:1', 'b:1'], clock, OPTS);
    book.failed('b:1');
    book.succeeded('a:1', true);
    book.learn('a:1', follower);
    expect(book.target()).toBe('a:1');
    clock.t += 10_000; // the back-off is over, the failure is not forgotten: no stall on it again
    book.learn('a:1', follower);
    expect(book.target()).toBe('a:1');
  });
});

describe('Client: rotation', () => {
  it('tries a failed leader once, not again on a stale hint, and finds the new leader', async () => {
    const { cluster, transport, client } = setup();
    const q = client.queue('q');
    await q.enqueue('a');
    const [n1, n2, n3] = cluster.fronts;
    if (!n1 || !n2 || !n3) throw new Error('three nodes');
    n1.up = false;
    cluster.leader = n3;
    // n2 has not heard of the election yet: it still names n1.
    transport.intercept = (address, method) =>
      address === n2.address && method !== 'Status'
        ? { code: 'NOT_LEADER', message: 'stale', leaderHint: n1.address }
        : null;
    const before = transport.calls.length;
    await q.enqueue('b');
    const tried = transport.calls.slice(before).filter((c) => c.method === 'Enqueue');
    expect(tried.map((c) => c.address)).toEqual([n1.address, n2.address, n3.address]);
    expect(client.leaderAddress).toBe(n3.address);
  });

  it('follows a hint by advertised address to the address the node is listed under', async () => {
    const { cluster, transport, client } = setup();
    cluster.fronts.forEach((f) => cluster.advertise.set(f.id, `${f.id}.internal:7000`));
    const q = client.queue('q');
    await q.enqueue('a'); // n1 leads; its Status teaches the ids and advertised addresses
    await expect.poll(() => transport.count('Status')).toBe(3);
    cluster.leader = cluster.fronts[2] ?? null;
    await q.enqueue('b');
    expect(transport.calls.map((c) => c.address)).not.toContain('n3.internal:7000');
    expect(transport.calls.at(-1)?.address).toBe('10.0.0.3:7000');
    expect(client.leaderAddress).toBe('10.0.0.3:7000');
  });

  it('gives up on a silent leader after an attempt deadline derived from the election timeout', async () => {
    let silent: string | null = null;
    const timeouts: number[] = [];
    const { clock, cluster, client } = setup((loop) => ({
      call: (address, method, request, timeoutMs, signal) => {
        if (address !== silent) return loop.call(address, method, request, timeoutMs, signal);
        timeouts.push(timeoutMs);
        return new Promise((_, reject) =>
          clock.setTimer(timeoutMs, () =>
            reject(new TransportError({ code: 'DEADLINE_EXCEEDED', message: 'deadline' })),
          ),
        );
      },
      stream: (...a) => loop.stream(...a),
      close: () => loop.close(),
    }));
    cluster.electionTimeoutMs = { min: 300, max: 600 };
    const q = client.queue('q');
    await q.enqueue('a');
    await clock.advance(0); // the Status probe's answer
    silent = cluster.fronts[0]?.address ?? null;
    cluster.leader = cluster.fronts[1] ?? null;
    const start = clock.now();
    let doneAt = -1;
    const p = q.enqueue('b').then(() => (doneAt = clock.now()));
    await clock.advance(2_000);
    await p;
    expect(timeouts).toEqual([900]); // 1.5 × the reported max, not the call's 5 s
    expect(doneAt - start).toBeLessThanOrEqual(1_000);
    expect((await q.list({ state: 'waiting' })).items.map((t) => t.payload)).toEqual(['a', 'b']);
  });
});

describe('Client: address map', () => {
  it('dials the mapped address for a hint naming an advertised one', async () => {
    const clock = new FakeClock();
    const cluster = new FakeCluster(clock, 3);
    cluster.fronts.forEach((f) => cluster.advertise.set(f.id, `${f.id}.internal:7000`));
    cluster.leader = cluster.fronts[2] ?? null;
    const transport = new LoopbackTransport(cluster);
    const addressMap = Object.fromEntries(cluster.fronts.map((f) => [`${f.id}.internal:7000`, f.address]));
    // Only n1 is listed: n3 is found through n1's hint, translated by the map.
    const client = new Client({ servers: ['10.0.0.1:7000'], addressMap, transport, clock, timeoutMs: 5_000 });
    clients.push(client);
    await client.queue('q').enqueue('x');
    expect(transport.calls.map((c) => c.address).filter((a) => a.includes('internal'))).toEqual([]);
    expect(client.leaderAddress).toBe('10.0.0.3:7000');
    expect(() => new Client({ servers: ['a:1'], addressMap: { 'b:1': '' }, transport })).toThrow(/addressMap/);
  });
});

describe('Client: no server reachable', () => {
  it('fails naming the addresses it tried', async () => {
    const { clock, cluster, client } = setup(undefined, 1_000);
    for (const f of cluster.fronts) f.up = false;
    const p = client
      .queue('q')
      .stats()
      .catch((e: unknown) => e);
    await clock.advance(1_100);
    const e = (await p) as Error;
    expect(e.message).toMatch(/no server answered \(tried 10\.0\.0\.1:7000, 10\.0\.0\.2:7000, 10\.0\.0\.3:7000\)/);
  });
});

describe('Client over gRPC: no server reachable', () => {
  it('names the addresses it tried, with no empty resolution note', async () => {
    const ports = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<number>((resolve) => {
            const srv = net.createServer();
            srv.listen(0, '127.0.0.1', () => {
              const port = (srv.address() as net.AddressInfo).port;
              srv.close(() => resolve(port));
            });
          }),
      ),
    );
    const servers = ports.map((p) => `127.0.0.1:${p}`);
    const client = new Client({ servers, timeoutMs: 1_500 });
    clients.push(client);
    const e = (await client
      .queue('q')
      .stats()
      .catch((x: unknown) => x)) as Error;
    expect(e.message).toContain(`tried ${servers.join(', ')}`);
    expect(e.message).not.toMatch(/Resolution note: ?$/);
  });
});

describe('Client: past a forwarding follower (issue 18)', () => {
  it('moves to the leader before its first command when the session opened through a follower', async () => {
    const { clock, cluster, transport, client } = setup();
    cluster.forwarding = true;
    cluster.leader = cluster.fronts[2] ?? null; // n1, tried first, is a follower that forwards
    transport.statusDelayMs = 5; // Status answers take a round trip, as over a network
    const q = client.queue('q');
    const first = q.enqueue('a');
    await clock.advance(10);
    await first;
    await q.enqueue('b');
    const commands = transport.calls.filter((c) => c.method !== 'Status');
    expect(commands.map((c) => `${c.method}@${c.address}`)).toEqual([
      'OpenSession@10.0.0.1:7000', // forwarded by n1
      'Enqueue@10.0.0.3:7000',
      'Enqueue@10.0.0.3:7000',
    ]);
    // One session throughout: the move keeps its stamps (same id, sequence numbers in order).
    const headers = commands.slice(1).map((c) => c.request['header'] as { session: string; seq: number });
    expect(new Set(headers.map((h) => h.session)).size).toBe(1);
    expect(headers[0]?.session).toBe(client.sessionId);
    expect(headers.map((h) => h.seq)).toEqual([1, 2]);
    expect(client.leaderAddress).toBe('10.0.0.3:7000');
  });

  it('asks the forwarding follower again and moves once it can name the leader', async () => {
    const { clock, cluster, transport, client } = setup();
    cluster.forwarding = true;
    cluster.leader = cluster.fronts[2] ?? null;
    let statusDown = true; // n1 cannot answer Status at first (e.g. mid-election): nothing learned
    transport.intercept = (address, method) =>
      statusDown && method === 'Status' ? { code: 'UNAVAILABLE', message: `${address} busy` } : null;
    const q = client.queue('q');
    await q.enqueue('a');
    expect(client.leaderAddress).toBe('10.0.0.1:7000'); // served through n1's forwarding
    const session = client.sessionId;
    statusDown = false;
    await clock.advance(2_000);
    await q.enqueue('b'); // answered by n1 again; its Status now names n3
    await expect.poll(() => client.leaderAddress).toBe('10.0.0.3:7000');
    await q.enqueue('c');
    expect(transport.calls.at(-1)?.address).toBe('10.0.0.3:7000');
    expect(client.sessionId).toBe(session);
    expect(transport.count('OpenSession')).toBe(1);
  });
});

describe('ServerBook: a client network (issue 18)', () => {
  const net = (address: string) => [{ name: 'public', address }];
  const st = {
    id: 'n1',
    role: 'follower',
    leaderAddress: 'b:1',
    networks: net('pub-a:1'),
    members: [
      { id: 'n1', address: 'a:1', networks: net('pub-a:1') },
      { id: 'n2', address: 'b:1', networks: net('pub-b:1') },
      { id: 'n3', address: 'c:1' }, // no address on the network: its default stays
    ],
  };

  it('dials members and hints at their address on its network', () => {
    const book = new ServerBook(['pub-a:1'], new FakeClock(), { ...OPTS, network: 'public' });
    book.succeeded('pub-a:1', true);
    book.learn('pub-a:1', st);
    expect(book.target()).toBe('pub-b:1'); // the leader the follower names, on `public`
    expect(book.addresses).toEqual(['pub-a:1', 'pub-b:1', 'c:1']);
    book.failed('pub-b:1');
    expect(book.hint('c:1', 'pub-a:1')).toBe(true);
    expect(book.leader).toBe('c:1');
  });

  it('without the option, or on another network, the default addresses', () => {
    for (const network of [undefined, 'docker']) {
      const book = new ServerBook(['pub-a:1'], new FakeClock(), { ...OPTS, ...(network ? { network } : {}) });
      book.succeeded('pub-a:1', true);
      book.learn('pub-a:1', st);
      expect(book.target()).toBe('b:1');
    }
  });

  it('a hint learnt before the networks is dialled on the network once they are known', () => {
    const book = new ServerBook(['pub-a:1'], new FakeClock(), { ...OPTS, network: 'public' });
    expect(book.hint('b:1', 'pub-a:1')).toBe(true);
    expect(book.leader).toBe('b:1');
    book.learn('pub-a:1', { ...st, role: 'leader' });
    expect(book.leader).toBe('pub-b:1');
    expect(() => new Client({ servers: ['a:1'], network: 'bad name' })).toThrow(/network/);
  });
});
