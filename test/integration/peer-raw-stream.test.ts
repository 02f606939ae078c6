// The raw peer stream (src/rpc/peer-frames.ts): fallback to gRPC for a port without it, and a port
// that meets broken or hostile raw input counts it, closes that connection and keeps serving.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MessageType } from '../../src/raft/types.js';
import type { Message, NodeId } from '../../src/raft/types.js';
import { encodeMessage, headerOf } from '../../src/rpc/peer-codec.js';
import { peerMac } from '../../src/rpc/peer-auth.js';
import { FRAME_ACK, FRAME_MESSAGE, PEER_MAGIC, encodeFrame } from '../../src/rpc/peer-frames.js';
import type { PeerServer, PeerServerOptions } from '../../src/rpc/peer-server.js';
import { PeerTransport } from '../../src/rpc/peer-transport.js';
import { message, waitFor } from '../unit/rpc/helpers.js';
import { startNode as startPeerNode } from './peer-nodes.js';
import { asLogIndex, asTerm } from '../../src/protocol/ids.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

const startNode = (id: NodeId, extra: Partial<PeerServerOptions> = {}) => startPeerNode(cleanup, id, extra);

function heartbeat(i: number): Message {
  return message({ type: MessageType.Heartbeat, from: 'n1', to: 'n2', term: 4, commit: i });
}

/** A raw connection of our own; resolves with what the port answered once it closes or `until` holds. */
async function rawExchange(address: string, bytes: Buffer[], until: (got: Buffer) => boolean = () => false) {
  const [host, port] = [
    address.slice(0, address.lastIndexOf(':')),
    Number(address.slice(address.lastIndexOf(':') + 1)),
  ];
  const socket = net.connect({ host, port });
  cleanup.push(() => void socket.destroy());
  let got = Buffer.alloc(0);
  let closed = false;
  socket.on('data', (c: Buffer) => (got = Buffer.concat([got, c])));
  socket.on('error', () => {});
  socket.on('close', () => (closed = true));
  for (const b of bytes) socket.write(b);
  await waitFor(() => closed || until(got), 'the port answered or closed');
  return { got, closed };
}

describe('rpc - the raw peer stream', () => {
  it('falls back to gRPC for a port without the raw stream, and delivers', async () => {
    const old = await startNode('n2', { rawStreams: false });
    const t = new PeerTransport({ selfId: 'n1', peers: new Map([['n2', old.server.address]]) });
    cleanup.push(() => t.close());
    // The first message goes on the raw attempt and is lost with it (Raft retransmits); keep sending.
    let i = 0;
    await waitFor(() => {
      t.send([heartbeat((i += 1))]);
      return old.inbox.length > 0;
    }, 'a message delivered over gRPC');
    expect(t.metrics().peers['n2']?.stream).toBe('grpc');
    expect(old.inbox[0]?.type).toBe(MessageType.Heartbeat);
  });

  it('answers the opening with PEER_MAGIC and acknowledges messages cumulatively', async () => {
    const node = await startNode('n2');
    const frames = [1, 2, 3].map((i) => encodeFrame(FRAME_MESSAGE, encodeMessage(heartbeat(i))));
    const ack = encodeFrame(FRAME_ACK, Buffer.from([0, 0, 0, 0, 0, 0, 0, 3]));
    const want = Buffer.concat([PEER_MAGIC, ack]);
    const { got } = await rawExchange(
      node.server.address,
      [PEER_MAGIC, Buffer.concat(frames)],
      (g) => g.length >= want.length,
    );
    expect(got.subarray(0, PEER_MAGIC.length)).toEqual(PEER_MAGIC);
    // The first request is acknowledged at the end of its turn; the three arrived in one read here or not.
    expect(node.inbox.map((m) => m.commit)).toEqual([1, 2, 3]);
    expect(node.server.metrics().receivedCount).toBe(3);
  });

  it.each<[string, () => Buffer[], keyof ReturnType<PeerServer['metrics']>]>([
    ['bad opening bytes', () => [Buffer.from('RAFTQX1\n')], 'invalidArgumentCount'],
    [
      'a frame without the opening (lost on the way)',
      () => [encodeFrame(FRAME_MESSAGE, Buffer.from('x'))],
      'invalidArgumentCount',
    ],
    ['a frame over the limit', () => [PEER_MAGIC, Buffer.from([0x7f, 0xff, 0xff, 0xff, 1, 0])], 'invalidArgumentCount'],
    ['a frame shorter than its header', () => [PEER_MAGIC, Buffer.from([0, 0, 0, 1, 1])], 'invalidArgumentCount'],
    ['a MAC longer than its frame', () => [PEER_MAGIC, Buffer.from([0, 0, 0, 3, 1, 200, 0])], 'invalidArgumentCount'],
    ['an unknown frame kind', () => [PEER_MAGIC, encodeFrame(9, Buffer.from('x'))], 'invalidArgumentCount'],
  ])('closes a raw connection that sends %s, counts it, and keeps serving', async (_what, bytes, counter) => {
    const node = await startNode('n2', { receiveMessageBytesMax: 1024 * 1024 });
    const { closed } = await rawExchange(node.server.address, bytes());
    expect(closed).toBe(true);
    expect(node.server.metrics()[counter]).toBe(1);
    await expectStillServing(node);
  });

  it('closes a connection that says nothing for a keepalive period', async () => {
    const node = await startNode('n2', { keepaliveTimeMs: 200 });
    const start = Date.now();
    const { closed, got } = await rawExchange(node.server.address, []);
    expect(closed).toBe(true);
    expect(got.byteLength).toBe(0);
    expect(Date.now() - start).toBeGreaterThanOrEqual(190);
    await expectStillServing(node);
  });

  it.each<[string, () => Buffer, keyof ReturnType<PeerServer['metrics']>]>([
    ['undecodable msgpack', () => encodeFrame(FRAME_MESSAGE, Buffer.from([0xc1, 0xc1])), 'invalidArgumentCount'],
    ['an empty message', () => encodeFrame(FRAME_MESSAGE, Buffer.alloc(0)), 'invalidArgumentCount'],
    ['a Snapshot message', () => encodeFrame(FRAME_MESSAGE, encodeMessage(snapshotMessage())), 'invalidArgumentCount'],
    [
      'a message for another node',
      () => encodeFrame(FRAME_MESSAGE, encodeMessage({ ...heartbeat(1), to: 'n3' })),
      'misaddressedCount',
    ],
  ])('drops and counts %s on a raw stream, which goes on', async (_what, frame, counter) => {
    const node = await startNode('n2');
    const good = encodeFrame(FRAME_MESSAGE, encodeMessage(heartbeat(7)));
    await rawExchange(node.server.address, [PEER_MAGIC, frame(), good], () => node.inbox.length === 1);
    expect(node.server.metrics()[counter]).toBeGreaterThanOrEqual(1);
    expect(node.inbox.map((m) => m.commit)).toEqual([7]);
  });

  it('under a cluster secret, delivers only messages with the right MAC', async () => {
    const auth = { clusterId: 'c1', secret: new Uint8Array(32).fill(5) };
    const node = await startNode('n2', { auth });
    const msg = heartbeat(9);
    const body = encodeMessage(msg);
    const wrong = peerMac({ ...auth, secret: new Uint8Array(32).fill(6) }, headerOf(msg), body);
    const right = peerMac(auth, headerOf(msg), body);
    const frames = [
      encodeFrame(FRAME_MESSAGE, body),
      encodeFrame(FRAME_MESSAGE, body, wrong),
      encodeFrame(FRAME_MESSAGE, body, right),
    ];
    await rawExchange(node.server.address, [PEER_MAGIC, ...frames], () => node.inbox.length === 1);
    expect(node.server.metrics().unauthenticatedCount).toBe(2);
    expect(node.inbox.map((m) => m.commit)).toEqual([9]);
  });
});

async function expectStillServing(node: { server: PeerServer; inbox: Message[] }): Promise<void> {
  const t = new PeerTransport({ selfId: 'n1', peers: new Map([['n2', node.server.address]]) });
  cleanup.push(() => t.close());
  let i = 0;
  await waitFor(() => {
    if (node.inbox.length === 0) t.send([heartbeat((i += 1))]);
    return node.inbox.length > 0;
  }, 'a message delivered after the broken connection');
  expect(t.metrics().peers['n2']?.stream).toBe('raw');
}

function snapshotMessage(): Message {
  return message({
    type: MessageType.Snapshot,
    from: 'n1',
    to: 'n2',
    term: 4,
    snapshot: {
      meta: { group: 0, index: asLogIndex(5), term: asTerm(4), membership: { members: [] } },
      offset: 0,
      chunk: new Uint8Array(3),
      done: true,
      total: 3,
    },
  });
}
