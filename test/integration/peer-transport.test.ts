import net from 'node:net';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { EntryType, MessageType } from '../../src/raft/types.js';
import type { Message, NodeId } from '../../src/raft/types.js';
import { encodeMessage, headerOf } from '../../src/rpc/peer-codec.js';
import { PEER_SERVER_DEFAULT_OPTIONS, PEER_SERVICE } from '../../src/rpc/peer-server.js';
import type { PeerServerOptions } from '../../src/rpc/peer-server.js';
import { PeerTransport } from '../../src/rpc/peer-transport.js';
import type { PeerTransportOptions, StreamKind } from '../../src/rpc/peer-transport.js';
import { loadProtoFile } from '../../src/rpc/proto.js';
import { startNode as startPeerNode, type TestNode } from './peer-nodes.js';
import { message, waitFor } from '../unit/rpc/helpers.js';
import { asLogIndex, asTerm } from '../../src/protocol/ids.js';

/** Everything a test opens, closed afterwards whatever happened. */
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

const startNode = (id: NodeId, extra: Partial<PeerServerOptions> = {}): Promise<TestNode> =>
  startPeerNode(cleanup, id, extra);

function transport(selfId: NodeId, peers: [NodeId, string][], extra: Partial<PeerTransportOptions> = {}) {
  const t = new PeerTransport({ selfId, peers: new Map(peers), ...extra });
  cleanup.push(() => t.close());
  return t;
}

/** A TCP listener that accepts and never answers: a hung process or a black-holed link. */
async function blackHole(): Promise<string> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as net.AddressInfo;
  return `127.0.0.1:${port}`;
}

function append(from: NodeId, to: NodeId, index: number, dataBytes = 8): Message {
  return message({
    type: MessageType.Append,
    from,
    to,
    term: 3,
    index,
    logTerm: 3,
    commit: index,
    entries: [
      {
        index: asLogIndex(index + 1),
        term: asTerm(3),
        type: EntryType.Normal,
        data: new Uint8Array(randomBytes(dataBytes)),
      },
    ],
  });
}

describe('rpc - peer transport over gRPC and the raw stream on loopback', () => {
  it.each<[StreamKind]>([['raw'], ['grpc']])(
    'three nodes exchange messages in send order, every field intact (%s)',
    async (kind) => {
      const nodes = await Promise.all(['n1', 'n2', 'n3'].map((id) => startNode(id)));
      const addresses = nodes.map((n): [NodeId, string] => [n.id, n.server.address]);
      const transports = nodes.map((n) =>
        transport(n.id, addresses, { inflightCountMax: 512, deadlineMs: 20_000, rawStreams: kind === 'raw' }),
      );
      const sent = new Map<string, Message[]>();
      const perLink = 150;
      for (let i = 0; i < perLink; i += 1) {
        nodes.forEach((from, fi) => {
          for (const to of nodes) {
            if (to === from) continue;
            const msg =
              i % 10 === 9 ? { ...append(from.id, to.id, i), type: MessageType.AppendResp } : append(from.id, to.id, i);
            const key = `${from.id}->${to.id}`;
            sent.set(key, [...(sent.get(key) ?? []), msg]);
            transports[fi]!.send([msg]);
          }
        });
      }
      // Generous: this test is about order and integrity, and the CI machine may be busy.
      await waitFor(() => nodes.every((n) => n.inbox.length === 2 * perLink), 'every message delivered', 30_000);
      await waitFor(() => transports.every((t) => t.metrics().sentCount === 2 * perLink), 'every call acknowledged');
      for (const to of nodes) {
        for (const from of nodes) {
          if (from === to) continue;
          expect(to.inbox.filter((m) => m.from === from.id)).toEqual(sent.get(`${from.id}->${to.id}`));
        }
      }
      for (const t of transports) {
        const m = t.metrics();
        expect([m.sentCount, m.failedCount, m.droppedCount]).toEqual([2 * perLink, 0, 0]);
        expect(Object.values(m.peers).map((p) => [p.reachable, p.inflightCount, p.stream])).toEqual([
          [true, 0, kind],
          [true, 0, kind],
        ]);
      }
    },
  );

  it('a hung peer and a refused peer do not hold up a live one', async () => {
    const live = await startNode('n2');
    const hung = await blackHole();
    const refused = await startNode('n4');
    const refusedAddress = refused.server.address;
    await refused.server.close(0);
    const status: [NodeId, boolean][] = [];
    const t = transport(
      'n1',
      [
        ['n2', live.server.address],
        ['n3', hung],
        ['n4', refusedAddress],
      ],
      { deadlineMs: 5_000, onPeerStatus: (peer, ok) => status.push([peer, ok]) },
    );
    for (let i = 0; i < 40; i += 1) t.send([append('n1', 'n3', i), append('n1', 'n4', i), append('n1', 'n2', i)]);
    await waitFor(() => live.inbox.length === 40, 'the live peer received everything');
    // Still within the hung peer's deadline: its calls are pending while the live peer is done.
    expect(t.metrics().peers['n3']?.inflightCount).toBe(40);
    await waitFor(() => t.metrics().peers['n3']?.failedCount === 40, 'hung calls end at their deadline');
    await waitFor(() => t.metrics().peers['n4']?.failedCount === 40, 'refused calls fail');
    const m = t.metrics();
    expect(m.peers['n2']).toMatchObject({ sentCount: 40, failedCount: 0, reachable: true });
    expect(m.peers['n3']).toMatchObject({ sentCount: 0, inflightCount: 0, inflightBytes: 0, reachable: false });
    expect(m.peers['n4']).toMatchObject({ sentCount: 0, reachable: false });
    expect(status.filter(([peer]) => peer !== 'n2')).toEqual(
      expect.arrayContaining([
        ['n3', false],
        ['n4', false],
      ]),
    );
    expect(status).toContainEqual(['n2', true]);
  });

  it('reconnects after the peer restarts on the same address', async () => {
    const n2 = await startNode('n2');
    const port = n2.server.port;
    const status: boolean[] = [];
    const t = transport('n1', [['n2', n2.server.address]], {
      deadlineMs: 500,
      reconnectBackoffInitialMs: 50,
      reconnectBackoffMaxMs: 200,
      onPeerStatus: (_peer, ok) => status.push(ok),
    });
    t.send([append('n1', 'n2', 1)]);
    await waitFor(() => n2.inbox.length === 1, 'first delivery');
    await n2.server.close(0);
    // Raft keeps sending heartbeats; so does this loop until the transport notices the loss.
    const heartbeat = (i: number) => message({ type: MessageType.Heartbeat, from: 'n1', to: 'n2', commit: i });
    let i = 0;
    await waitFor(() => {
      t.send([heartbeat((i += 1))]);
      return status.at(-1) === false;
    }, 'the transport to notice the peer is gone');
    const again = await startNode('n2', { address: `127.0.0.1:${port}` });
    await waitFor(() => {
      t.send([heartbeat((i += 1))]);
      return again.inbox.length > 0;
    }, 'delivery to the restarted peer');
    expect(again.inbox[0]?.type).toBe(MessageType.Heartbeat);
    await waitFor(() => status.at(-1) === true, 'reachable again');
    expect(status.slice(0, 2)).toEqual([true, false]);
  });

  it('bounds calls in flight per peer by count and by bytes, and frees slots at the deadline', async () => {
    const hung = await blackHole();
    const byCount = transport('n1', [['n3', hung]], { inflightCountMax: 4, deadlineMs: 400 });
    for (let i = 0; i < 10; i += 1) byCount.send([append('n1', 'n3', i)]);
    expect(byCount.metrics()).toMatchObject({ droppedCount: 6, droppedByReason: { inflight: 6 } });
    expect(byCount.metrics().peers['n3']?.inflightCount).toBe(4);
    await waitFor(() => byCount.metrics().peers['n3']?.inflightCount === 0, 'slots freed by the deadline');
    byCount.send([append('n1', 'n3', 11)]);
    expect(byCount.metrics().peers['n3']?.inflightCount).toBe(1);

    const byBytes = transport('n1', [['n3', hung]], { inflightBytesMax: 10_000, deadlineMs: 5_000 });
    byBytes.send([append('n1', 'n3', 1, 4_000), append('n1', 'n3', 2, 4_000), append('n1', 'n3', 3, 4_000)]);
    const peer = byBytes.metrics().peers['n3'];
    expect(peer?.inflightCount).toBe(2);
    expect(peer?.inflightBytes).toBeLessThanOrEqual(10_000);
    expect(byBytes.metrics().droppedByReason.inflight).toBe(1);
    // A message larger than the whole budget still goes when nothing else is in flight.
    const alone = transport('n1', [['n3', hung]], { inflightBytesMax: 1_000, deadlineMs: 5_000 });
    alone.send([append('n1', 'n3', 1, 4_000), append('n1', 'n3', 2, 10)]);
    expect(alone.metrics().peers['n3']).toMatchObject({ inflightCount: 1, droppedCount: 1 });
  });

  it('acknowledges large messages at once, however lazy the acknowledgements of small ones', async () => {
    // Acknowledgements of small messages wait up to ackDelayMs (a minute here); a sender whose byte
    // budget is taken by a few large Appends must not wait for them, or it drops what follows.
    const n2 = await startNode('n2', { ackDelayMs: 60_000 });
    const t = transport('n1', [['n2', n2.server.address]], { inflightBytesMax: 2 * 1024 * 1024 });
    t.send([message({ type: MessageType.Heartbeat, from: 'n1', to: 'n2', commit: 0 })]);
    await waitFor(() => t.metrics().peers['n2']?.sentCount === 1, 'the first message, acknowledged at once');
    for (let i = 1; i <= 6; i++) {
      t.send([append('n1', 'n2', i, 600 * 1024)]);
      await waitFor(() => t.metrics().peers['n2']?.sentCount === i + 1, `append ${i} acknowledged`);
    }
    expect(n2.inbox).toHaveLength(7);
    // Acknowledged, not ended by the 2 s deadline (which would also empty the in-flight slots).
    expect(t.metrics().failedCount).toBe(0);
    expect(t.metrics().droppedCount).toBe(0);
  });

  it('acknowledges heartbeat-paced requests together, not one by one', async () => {
    // Fifteen small requests 100 ms apart on one stream, as a leader's heartbeats at idle, to a server
    // with the default options: the first is acknowledged at once, the others together ackDelayMs (1 s)
    // after the first not yet acknowledged, and the rest when the stream ends. Before, each one came
    // after a quiet 100 ms and was acknowledged at once: an acknowledgement per heartbeat.
    expect(PEER_SERVER_DEFAULT_OPTIONS.ackDelayMs).toBe(1_000);
    const n2 = await startNode('n2');
    const m = (
      loadProtoFile('peer.proto')[PEER_SERVICE] as unknown as Record<
        string,
        { path: string; requestSerialize: (v: object) => Buffer; responseDeserialize: (b: Buffer) => object }
      >
    )['Stream']!;
    const client = new grpc.Client(n2.server.address, grpc.credentials.createInsecure());
    cleanup.push(() => client.close());
    const call = client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize);
    const acks: { received: number; at: number }[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      call.on('data', (ack: { received?: number }) => acks.push({ received: Number(ack.received), at: Date.now() }));
      call.on('end', () => resolve());
      call.on('error', reject);
    });
    const sentAt: number[] = [];
    for (let i = 0; i < 15; i++) {
      const hb = message({ type: MessageType.Heartbeat, from: 'n1', to: 'n2', commit: i });
      sentAt.push(Date.now());
      call.write({ header: headerOf(hb), message: encodeMessage(hb) });
      if (i === 0) await waitFor(() => acks.length === 1, 'the first request acknowledged at once');
      await new Promise((r) => setTimeout(r, 100));
    }
    call.end();
    await ended;
    expect(n2.inbox.map((x) => x.commit)).toEqual([...Array(15).keys()]);
    expect(acks[0]?.received).toBe(1);
    expect(acks.at(-1)?.received).toBe(15);
    // Cumulative, increasing, and few: ~1.5 s of requests after the first.
    expect(acks.map((a) => a.received)).toEqual([...acks.map((a) => a.received)].sort((a, b) => a - b));
    expect(acks.length).toBeLessThanOrEqual(4);
    // The second acknowledgement waited for ackDelayMs after the second request (not at once after quiet).
    expect((acks[1]?.at ?? 0) - (sentAt[1] ?? 0)).toBeGreaterThanOrEqual(900);
  });

  it('streams large Snapshot messages as frames and delivers each whole, in order', async () => {
    const n2 = await startNode('n2');
    const results: boolean[] = [];
    const t = transport('n1', [['n2', n2.server.address]], {
      snapshotFrameBytes: 64 * 1024,
      onSnapshotSent: (_m, ok) => results.push(ok),
    });
    const total = 3 * 1024 * 1024 + 17;
    const data = randomBytes(total);
    const chunks = [data.subarray(0, 2 * 1024 * 1024), data.subarray(2 * 1024 * 1024)];
    const snaps = chunks.map((chunk, k) =>
      message({
        type: MessageType.Snapshot,
        from: 'n1',
        to: 'n2',
        term: 4,
        snapshot: {
          meta: { group: 0, index: asLogIndex(900), term: asTerm(4), membership: { members: [] } },
          offset: k === 0 ? 0 : chunks[0]!.byteLength,
          chunk: new Uint8Array(chunk),
          done: k === 1,
          total,
        },
      }),
    );
    t.send(snaps);
    t.send([append('n1', 'n2', 901)]);
    await waitFor(() => results.length === 2, 'both snapshot messages acknowledged');
    expect(results).toEqual([true, true]);
    const received = n2.inbox.filter((m) => m.type === MessageType.Snapshot);
    // Deep equality over megabytes is slow in vitest: compare the chunks as Buffers, the rest structurally.
    const withoutChunk = (m: Message) => ({ ...m, snapshot: { ...m.snapshot!, chunk: m.snapshot!.chunk.byteLength } });
    expect(received.map(withoutChunk)).toEqual(snaps.map(withoutChunk));
    expect(received.map((m) => m.snapshot!.chunk.constructor)).toEqual([Uint8Array, Uint8Array]);
    expect(Buffer.concat(received.map((m) => m.snapshot!.chunk)).equals(data)).toBe(true);
    // The snapshot lane is separate from the unary lane: the Append is delivered, in no fixed order.
    expect(n2.inbox.filter((m) => m.type === MessageType.Append)).toHaveLength(1);
    expect(t.metrics()).toMatchObject({ sentCount: 3, failedCount: 0, droppedCount: 0 });
  });

  it('reports a refused snapshot and drops the rest of that transfer', async () => {
    const n2 = await startNode('n2', { snapshotChunkBytesMax: 1024 });
    const results: boolean[] = [];
    const t = transport('n1', [['n2', n2.server.address]], { onSnapshotSent: (_m, ok) => results.push(ok) });
    const snap = (offset: number): Message =>
      message({
        type: MessageType.Snapshot,
        from: 'n1',
        to: 'n2',
        snapshot: {
          meta: { group: 0, index: asLogIndex(9), term: asTerm(1), membership: { members: [] } },
          offset,
          chunk: new Uint8Array(4096),
          done: false,
          total: 8192,
        },
      });
    t.send([snap(0), snap(4096)]);
    await waitFor(() => results.length === 2, 'both outcomes reported');
    expect(results).toEqual([false, false]);
    expect(n2.inbox).toEqual([]);
    expect(n2.server.metrics().resourceExhaustedCount).toBe(1);
    expect(t.metrics()).toMatchObject({ failedCount: 1, droppedByReason: { 'snapshot-queue': 1 } });
  });

  it('refuses nonsensical limits at construction', () => {
    expect(() => new PeerTransport({ selfId: 'n1', peers: new Map(), inflightCountMax: 0 })).toThrow(
      /inflightCountMax/,
    );
    expect(() => new PeerTransport({ selfId: 'n1', peers: new Map(), deadlineMs: 1.5 })).toThrow(/deadlineMs/);
  });

  it('follows membership changes and refuses to send after close', async () => {
    const n2 = await startNode('n2');
    const n3 = await startNode('n3');
    const t = transport('n1', [['n2', n2.server.address]]);
    t.send([append('n1', 'n3', 1)]);
    expect(t.metrics().droppedByReason['unknown-peer']).toBe(1);
    t.setPeers(
      new Map([
        ['n1', 'ignored:1'],
        ['n3', n3.server.address],
      ]),
    );
    expect(Object.keys(t.metrics().peers)).toEqual(['n3']);
    t.send([append('n1', 'n3', 2), append('n1', 'n2', 2)]);
    await waitFor(() => n3.inbox.length === 1, 'delivery to the added peer');
    expect(t.metrics().droppedByReason['unknown-peer']).toBe(2);
    t.close();
    t.send([append('n1', 'n3', 3)]);
    expect(t.metrics().droppedByReason.closed).toBe(1);
    expect(n2.inbox).toEqual([]);
  });
});
