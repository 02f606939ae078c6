// Malformed gRPC requests to a real node's CLIENT port (issue #4): garbage bytes, wire types that do
// not match the .proto, lengths that lie, oversized fields and messages. Each gets INVALID_ARGUMENT or
// RESOURCE_EXHAUSTED; the node stays up and a normal request succeeds afterwards.
import * as grpc from '@grpc/grpc-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import { clusterPerFile, type TestCluster } from '../support/cluster.js';

const SERVICE = '/raftq.client.v1.RaftQ';

// ---- a minimal protobuf writer, so that the bytes are exactly what the test means ----
function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}
const LEN = 2;
function field(no: number, wireType: number, body: Buffer): Buffer {
  const tag = varint(no * 8 + wireType);
  return wireType === LEN ? Buffer.concat([tag, varint(body.length), body]) : Buffer.concat([tag, body]);
}
const str = (s: string): Buffer => Buffer.from(s, 'utf8');

/** EnqueueRequest {queue, tasks: [{payload}]} (sessionless). */
function enqueueRequest(queue: string, payloads: Buffer[]): Buffer {
  return Buffer.concat([field(2, LEN, str(queue)), ...payloads.map((p) => field(3, LEN, field(1, LEN, p)))]);
}

const fx = clusterPerFile(3);
let tc: TestCluster;
let raw: grpc.Client;
let leaderAddress = '';
let leader = '';
beforeAll(() => {
  tc = fx.tc;
  leader = fx.leader;
  leaderAddress = `127.0.0.1:${tc.cluster.spec(leader).clientPort}`;
  raw = fx.track(new grpc.Client(leaderAddress, grpc.credentials.createInsecure()));
});

function call(method: string, body: Buffer): Promise<{ code: grpc.status; details: string; reply?: Buffer }> {
  return new Promise((resolve) => {
    raw.makeUnaryRequest(
      `${SERVICE}/${method}`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      new grpc.Metadata(),
      { deadline: Date.now() + 15_000 },
      (err, reply) => {
        if (err) resolve({ code: err.code, details: err.details });
        else resolve({ code: grpc.status.OK, details: '', ...(reply ? { reply } : {}) });
      },
    );
  });
}

function streamCall(method: string, body: Buffer): Promise<{ code: grpc.status; details: string }> {
  return new Promise((resolve) => {
    const s = raw.makeServerStreamRequest(
      `${SERVICE}/${method}`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      new grpc.Metadata(),
      { deadline: Date.now() + 15_000 },
    );
    s.on('data', () => undefined);
    s.on('error', (err: grpc.ServiceError) => resolve({ code: err.code, details: err.details }));
    s.on('end', () => resolve({ code: grpc.status.OK, details: '' }));
  });
}

const refused = [grpc.status.INVALID_ARGUMENT, grpc.status.RESOURCE_EXHAUSTED];

describe('malformed requests on the client port', () => {
  it('a well-formed raw request is accepted (the encoder is right)', async () => {
    const r = await call('Enqueue', enqueueRequest('raw', [str('hello')]));
    expect(r.code, r.details).toBe(grpc.status.OK);
    expect(r.reply?.length).toBeGreaterThan(0);
  });

  it.each([
    ['garbage bytes', 'Enqueue', Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])],
    ['a truncated message', 'Enqueue', enqueueRequest('raw', [str('hello')]).subarray(0, 6)],
    [
      'a string field sent as a varint',
      'Enqueue',
      Buffer.concat([field(2, 0, varint(5)), field(3, LEN, Buffer.alloc(0))]),
    ],
    ['a message field sent as fixed32', 'Enqueue', field(1, 5, Buffer.from([1, 2, 3, 4]))],
    ['a length that claims 2 GiB', 'Enqueue', Buffer.concat([varint(3 * 8 + LEN), varint(2 ** 31 - 1), str('x')])],
    ['garbage on a read', 'ListTasks', Buffer.from('\x0a\xff\xff\xff\xff\x0f', 'latin1')],
    ['garbage on Status', 'Status', Buffer.from([0x0f, 0x0f, 0x0f])],
    ['an empty queue name', 'Enqueue', enqueueRequest('', [str('x')])],
    ['no tasks', 'Enqueue', field(2, LEN, str('raw'))],
  ])('%s → INVALID_ARGUMENT', async (_what, method, body) => {
    const r = await call(method, body);
    expect(r.code, r.details).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('garbage on the event stream ends it with INVALID_ARGUMENT', async () => {
    const r = await streamCall('Events', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]));
    expect(r.code, r.details).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('a payload above the limit, and too many tasks in one request, are refused', async () => {
    const big = await call('Enqueue', enqueueRequest('raw', [Buffer.alloc(2 << 20, 7)]));
    expect(refused, big.details).toContain(big.code);
    const many = await call(
      'Enqueue',
      enqueueRequest(
        'raw',
        Array.from({ length: 5000 }, () => str('t')),
      ),
    );
    expect(refused, many.details).toContain(many.code);
  });

  it('a message above the receive limit gets RESOURCE_EXHAUSTED', async () => {
    const r = await call('Enqueue', enqueueRequest('raw', [Buffer.alloc(65 << 20, 1)]));
    expect(r.code, r.details).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  it('the node is still up, counted the refusals, and serves a normal SDK request', async () => {
    expect(tc.exits).toEqual([]);
    const res = await fetch(`http://127.0.0.1:${tc.cluster.spec(leader).httpPort}/metrics`);
    const m = /^raftq_malformed_requests_total (\d+)$/m.exec(await res.text());
    // The ten INVALID_ARGUMENT cases above at least.
    expect(Number(m?.[1])).toBeGreaterThanOrEqual(10);
    const client = new Client({ servers: [leaderAddress], timeoutMs: 10_000 });
    try {
      const r = await client.queue<{ k: string }>('after').enqueue({ k: 'still alive' });
      expect(r.id).toMatch(/^\d+$/);
      const again = await call('Enqueue', enqueueRequest('raw', [str('again')]));
      expect(again.code, again.details).toBe(grpc.status.OK);
    } finally {
      await client.close();
    }
  });
});
