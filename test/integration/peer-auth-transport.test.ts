// Peer MACs end to end between PeerTransport and PeerServer (issue #14): the same secret and cluster
// id deliver every message and snapshot intact; no MAC, another secret, another cluster id, or a
// snapshot whose chunk was changed after the MAC are refused, counted and never delivered.
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { EntryType, MessageType } from '../../src/raft/types.js';
import type { Message, NodeId } from '../../src/raft/types.js';
import { peerMac, type PeerAuth } from '../../src/rpc/peer-auth.js';
import { encodeMessage, headerOf } from '../../src/rpc/peer-codec.js';
import { PEER_SERVICE, PeerServer } from '../../src/rpc/peer-server.js';
import { PeerTransport } from '../../src/rpc/peer-transport.js';
import { loadProtoFile } from '../../src/rpc/proto.js';
import { message, waitFor } from '../unit/rpc/helpers.js';
import { asLogIndex, asTerm } from '../../src/protocol/ids.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

const AUTH: PeerAuth = { secret: Buffer.from('the-cluster-secret-0123456789abcdef'), clusterId: 'c-one' };

async function server(): Promise<{ server: PeerServer; inbox: Message[] }> {
  const inbox: Message[] = [];
  const s = await PeerServer.start({
    address: '127.0.0.1:0',
    selfId: 'n2',
    auth: AUTH,
    onMessage: (m) => inbox.push(m),
  });
  cleanup.push(() => s.close(100));
  return { server: s, inbox };
}

function transport(to: string, auth: PeerAuth | null, onSnapshotSent?: (m: Message, ok: boolean) => void) {
  const t = new PeerTransport({
    selfId: 'n1',
    peers: new Map<NodeId, string>([['n2', to]]),
    auth,
    snapshotFrameBytes: 16 * 1024,
    ...(onSnapshotSent ? { onSnapshotSent } : {}),
  });
  cleanup.push(() => t.close());
  return t;
}

const append = (index: number): Message =>
  message({
    type: MessageType.Append,
    from: 'n1',
    to: 'n2',
    term: 3,
    index,
    logTerm: 3,
    commit: index,
    entries: [
      { index: asLogIndex(index + 1), term: asTerm(3), type: EntryType.Normal, data: new Uint8Array(randomBytes(8)) },
    ],
  });

const snapshot = (chunk: Uint8Array): Message =>
  message({
    type: MessageType.Snapshot,
    from: 'n1',
    to: 'n2',
    term: 3,
    snapshot: {
      meta: { group: 0, index: asLogIndex(50), term: asTerm(3), membership: { members: [] } },
      offset: 0,
      chunk,
      done: true,
      total: chunk.byteLength,
    },
  });

describe('security - peer MACs between transport and server', () => {
  it('delivers messages and a multi-frame snapshot under the same secret and cluster id', async () => {
    const n2 = await server();
    const results: boolean[] = [];
    const t = transport(n2.server.address, AUTH, (_m, ok) => results.push(ok));
    const msgs = [append(1), append(2), append(3)];
    const snap = snapshot(new Uint8Array(randomBytes(100 * 1024 + 3)));
    t.send([...msgs, snap]);
    await waitFor(() => n2.inbox.length === 4 && results.length === 1, 'every message delivered');
    expect(results).toEqual([true]);
    expect(n2.inbox.filter((m) => m.type === MessageType.Append)).toEqual(msgs);
    const got = n2.inbox.find((m) => m.type === MessageType.Snapshot);
    expect(Buffer.from(got!.snapshot!.chunk).equals(Buffer.from(snap.snapshot!.chunk))).toBe(true);
    expect(n2.server.metrics().unauthenticatedCount).toBe(0);
  });

  it.each([
    ['no MAC', null],
    ['another secret', { ...AUTH, secret: Buffer.from('another-secret-0123456789abcdef') }],
    ['another cluster id', { ...AUTH, clusterId: 'c-two' }],
  ] as const)('refuses and counts messages and snapshots with %s', async (_what, auth) => {
    const n2 = await server();
    const results: boolean[] = [];
    const t = transport(n2.server.address, auth, (_m, ok) => results.push(ok));
    t.send([append(1), append(2), snapshot(new Uint8Array(40 * 1024))]);
    await waitFor(() => n2.server.metrics().unauthenticatedCount === 3 && results.length === 1, 'three refusals');
    expect(results).toEqual([false]);
    expect(n2.inbox).toEqual([]);
    expect(n2.server.metrics().receivedCount).toBe(0);
  });

  it('refuses a snapshot whose chunk differs from the one its MAC covers', async () => {
    const n2 = await server();
    const methods = loadProtoFile('peer.proto')[PEER_SERVICE] as unknown as Record<
      string,
      { path: string; requestSerialize: (v: object) => Buffer; responseDeserialize: (b: Buffer) => object }
    >;
    const m = methods['InstallSnapshot']!;
    const client = new grpc.Client(n2.server.address, grpc.credentials.createInsecure());
    cleanup.push(() => client.close());
    const chunk = new Uint8Array(randomBytes(1000));
    const msg = snapshot(chunk);
    const head = encodeMessage({ ...msg, snapshot: { ...msg.snapshot!, chunk: new Uint8Array(0) } });
    const header = headerOf(msg);
    const mac = peerMac(AUTH, header, head, { chunkBytes: chunk.byteLength, pieces: [chunk] });
    const send = (data: Uint8Array): Promise<grpc.status> =>
      new Promise((resolve) => {
        const call = client.makeClientStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, (err) =>
          resolve(err ? err.code : grpc.status.OK),
        );
        call.write({ header, message: head, chunk_bytes: data.byteLength, mac, data });
        call.end();
      });
    const tampered = Uint8Array.from(chunk);
    tampered[500] = (tampered[500]! + 1) % 256;
    expect(await send(tampered)).toBe(grpc.status.UNAUTHENTICATED);
    expect(n2.inbox).toEqual([]);
    expect(await send(chunk)).toBe(grpc.status.OK);
    expect(n2.inbox).toHaveLength(1);
  });
});
