import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../../src/protocol/codec.js';
import { MessageType } from '../../src/raft/types.js';
import type { Message } from '../../src/raft/types.js';
import { encodeMessage, headerOf } from '../../src/rpc/peer-codec.js';
import { PEER_SERVICE, PeerServer } from '../../src/rpc/peer-server.js';
import { loadProtoFile } from '../../src/rpc/proto.js';
import { message } from '../unit/rpc/helpers.js';
import { asLogIndex, asTerm } from '../../src/protocol/ids.js';

const RECEIVE_MAX = 64 * 1024;
const methods = loadProtoFile('peer.proto')[PEER_SERVICE] as unknown as Record<
  string,
  { path: string; requestSerialize: (v: object) => Buffer }
>;
const path = (name: string) => methods[name]!.path;
const serializeRequest = (v: object) => methods['Append']!.requestSerialize(v);
const serializeFrame = (v: object) => methods['InstallSnapshot']!.requestSerialize(v);
const identity = (b: Buffer) => b;

let server: PeerServer;
let client: grpc.Client;
const inbox: Message[] = [];
let throwOnDelivery = false;

beforeAll(async () => {
  server = await PeerServer.start({
    address: '127.0.0.1:0',
    selfId: 'n2',
    receiveMessageBytesMax: RECEIVE_MAX,
    snapshotChunkBytesMax: 100_000,
    onMessage: (m) => {
      if (throwOnDelivery) throw new Error('handler bug');
      inbox.push(m);
    },
  });
  client = new grpc.Client(server.address, grpc.credentials.createInsecure());
});

afterAll(async () => {
  client.close();
  await server.close(100);
});

/** One unary call with raw request bytes; resolves to the status code. */
function callRaw(method: string, bytes: Buffer): Promise<grpc.status> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(path(method), identity, identity, bytes, { deadline: Date.now() + 5_000 }, (err) =>
      resolve(err ? err.code : grpc.status.OK),
    );
  });
}

/** One InstallSnapshot call with raw frames; resolves to the status code. */
function streamRaw(frames: Buffer[]): Promise<grpc.status> {
  return new Promise((resolve) => {
    const call = client.makeClientStreamRequest(
      path('InstallSnapshot'),
      identity,
      identity,
      {
        deadline: Date.now() + 5_000,
      },
      (err) => resolve(err ? err.code : grpc.status.OK),
    );
    for (const f of frames) call.write(f);
    call.end();
  });
}

const vote = message({ type: MessageType.Vote, from: 'n1', to: 'n2', term: 5, index: 10, logTerm: 4 });
const request = (msg: Message, header: object = headerOf(msg)) =>
  serializeRequest({ header, message: encodeMessage(msg) });

describe('rpc - peer server refuses malformed requests and stays up', () => {
  it('delivers a valid request', async () => {
    expect(await callRaw('Vote', request(vote))).toBe(grpc.status.OK);
    expect(inbox.at(-1)).toEqual(vote);
  });

  it('answers garbage bytes with INVALID_ARGUMENT, never INTERNAL', async () => {
    const samples = [Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.from([0x0a, 0x7f]), Buffer.alloc(0)];
    for (let i = 0; i < 20; i += 1) samples.push(randomBytes(1 + ((i * 37) % 500)));
    const codes = await Promise.all(samples.map((b) => callRaw('Append', b)));
    expect(new Set(codes)).toEqual(new Set([grpc.status.INVALID_ARGUMENT]));
  });

  it.each<[string, string, () => Buffer]>([
    ['garbage msgpack', 'Vote', () => serializeRequest({ header: headerOf(vote), message: Buffer.from([0xc1, 0xc1]) })],
    [
      'a wrong field type',
      'Vote',
      () => serializeRequest({ header: headerOf(vote), message: encode({ ...vote, term: 'x' }) }),
    ],
    [
      'an unknown message type',
      'Vote',
      () => serializeRequest({ header: headerOf(vote), message: encode({ ...vote, type: 'Boom' }) }),
    ],
    ['a message on the wrong method', 'Append', () => request(vote)],
    ['a header that disagrees', 'Vote', () => request(vote, { ...headerOf(vote), term: 6 })],
    ['no header', 'Vote', () => serializeRequest({ message: encodeMessage(vote) })],
    ['a message for another node', 'Vote', () => request({ ...vote, to: 'n9' })],
  ])('answers %s with INVALID_ARGUMENT', async (_name, method, bytes) => {
    const before = server.metrics().invalidArgumentCount;
    expect(await callRaw(method, bytes())).toBe(grpc.status.INVALID_ARGUMENT);
    expect(server.metrics().invalidArgumentCount).toBe(before + 1);
  });

  it('answers a message over the receive limit with RESOURCE_EXHAUSTED and counts it', async () => {
    const before = server.metrics().abortedCount;
    const huge = {
      ...vote,
      type: MessageType.Append,
      entries: [{ index: asLogIndex(1), term: asTerm(1), type: 0 as const, data: new Uint8Array(RECEIVE_MAX * 3) }],
    };
    expect(await callRaw('Append', request(huge))).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(server.metrics().abortedCount).toBe(before + 1);
  });

  it('answers a broken snapshot stream with INVALID_ARGUMENT or RESOURCE_EXHAUSTED', async () => {
    const snap = (chunkBytes: number) =>
      message({
        type: MessageType.Snapshot,
        from: 'n1',
        to: 'n2',
        snapshot: {
          meta: { group: 0, index: asLogIndex(3), term: asTerm(1), membership: { members: [] } },
          offset: 0,
          chunk: new Uint8Array(chunkBytes),
          done: true,
          total: chunkBytes,
        },
      });
    const first = (declared: number, data = Buffer.alloc(0), msg = snap(0)) =>
      serializeFrame({ header: headerOf(msg), message: encodeMessage(msg), chunk_bytes: declared, data });
    const more = (data: Buffer) => serializeFrame({ data });
    const ia = grpc.status.INVALID_ARGUMENT;
    expect(await streamRaw([])).toBe(ia);
    expect(await streamRaw([randomBytes(40)])).toBe(ia);
    expect(await streamRaw([first(4), more(Buffer.alloc(5))])).toBe(ia);
    expect(await streamRaw([first(10), more(Buffer.alloc(5))])).toBe(ia);
    expect(await streamRaw([first(4, Buffer.alloc(0), snap(4))])).toBe(ia);
    expect(await streamRaw([first(4), first(4)])).toBe(ia);
    expect(await streamRaw([first(200_000)])).toBe(grpc.status.RESOURCE_EXHAUSTED);
    const sent = inbox.length;
    expect(await streamRaw([first(6, Buffer.from([1, 2])), more(Buffer.from([3, 4, 5, 6]))])).toBe(grpc.status.OK);
    expect(inbox.length).toBe(sent + 1);
    expect(Array.from(inbox.at(-1)?.snapshot?.chunk ?? [])).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('answers INTERNAL when the node handler throws, and keeps serving', async () => {
    throwOnDelivery = true;
    expect(await callRaw('Vote', request(vote))).toBe(grpc.status.INTERNAL);
    throwOnDelivery = false;
    expect(server.metrics().handlerErrorCount).toBe(1);
    const before = inbox.length;
    expect(await callRaw('Vote', request(vote))).toBe(grpc.status.OK);
    expect(inbox.length).toBe(before + 1);
    expect(server.metrics()).toMatchObject({ misaddressedCount: 1, resourceExhaustedCount: 1 });
  });
});
