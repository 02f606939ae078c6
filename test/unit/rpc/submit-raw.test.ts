// The raw Submit lane (src/protocol/submit-lane.ts) on loopback: the SDK's Submits travel on it with
// the gRPC stream's answers, a port without it gets gRPC, the limits and tokens hold on it as on
// gRPC, malformed bytes get a typed end naming the field, and a black-holed lane fails fast.
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../../../src/client/client.js';
import { GrpcTransport } from '../../../src/client/grpc-transport.js';
import { TransportError } from '../../../src/client/transport.js';
import { encodeFrame } from '../../../src/protocol/frames.js';
import { LANE_HELLO, LANE_MESSAGE, SUBMIT_MAGIC, encodeHello } from '../../../src/protocol/submit-lane.js';
import { ClientAuth, hashToken, newToken } from '../../../src/rpc/auth.js';
import { ClientServer, type ClientServerOptions } from '../../../src/rpc/client-server.js';
import { ConnectionLimiter } from '../../../src/rpc/conn-limits.js';
import { ClientRateLimiter } from '../../../src/rpc/rate-limits.js';
import { sniffClientConnection } from '../../../src/rpc/submit-raw.js';
import { laneAnswer } from '../../fuzz/raw-lane.js';
import { FaultProxy } from '../../jepsen-like/lib/fault-proxy.js';
import { MachineExecutor } from '../client/machine-executor.js';

type Obj = Record<string, unknown>;
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

async function serve(extra: Partial<ClientServerOptions> = {}): Promise<ClientServer> {
  const server = await ClientServer.start({ address: '127.0.0.1:0', executor: new MachineExecutor(), ...extra });
  cleanup.push(() => server.close());
  return server;
}

function transport(opts: ConstructorParameters<typeof GrpcTransport>[0] = {}): GrpcTransport {
  const t = new GrpcTransport(opts);
  cleanup.push(() => t.close());
  return t;
}

const enqueue = (queue: string): Obj => ({
  items: [{ enqueue: { header: { timeoutMs: 2_000 }, queue, tasks: [{ payload: Buffer.from('x') }] } }],
});

/** The first item's result name of a SubmitReply (its error, if it failed), or the TransportError's detail. */
async function submit(t: GrpcTransport, address: string, request: Obj, timeoutMs = 2_000): Promise<unknown> {
  try {
    const reply = await t.call(address, 'Submit', request, timeoutMs);
    const item = (reply['results'] as Obj[])[0] as Obj;
    return item['result'] === 'error' ? item['error'] : item['result'];
  } catch (e) {
    if (e instanceof TransportError) return e.detail;
    throw e;
  }
}

/** The END's detail the node answers `bytes` on a fresh raw connection with (fuzz/raw-lane.ts). */
async function rawEnd(address: string, bytes: Buffer): Promise<unknown> {
  return (await laneAnswer(address, bytes, 5_000)).end ?? 'no end';
}

describe('the raw Submit lane', () => {
  it("carries the SDK's Submits with the gRPC stream's answers, end to end", async () => {
    const server = await serve();
    const t = transport();
    expect(await submit(t, server.address, enqueue('raw.q'))).toBe('enqueue');
    expect(server.metrics().rawSubmitStreams).toBe(1);
    const client = new Client({ servers: [server.address], timeoutMs: 5_000 });
    cleanup.push(() => client.close({ timeoutMs: 1_000 }));
    const seen = new Set<string>();
    const worker = client.worker<string>('raw.w', (task) => void seen.add(task.payload), { concurrency: 8 });
    cleanup.push(() => worker.close({ timeoutMs: 2_000 }));
    const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => client.queue<string>('raw.w').enqueue(`t${i}`)));
    expect(new Set(ids).size).toBe(50);
    await expect.poll(() => seen.size, { timeout: 5_000 }).toBe(50);
    const m = server.metrics();
    // Both open streams are raw, and every Submit came on one.
    expect(m.rawSubmitStreams).toBe(2);
    expect(m.submitStreams?.open).toBe(2);
    expect(m.submitStreams?.requests).toBe(m.submitCalls);
  });

  it('a port without the lane gets the gRPC stream, and nothing ran twice', async () => {
    const executor = new MachineExecutor();
    const server = await serve({ executor, rawSubmit: false });
    const t = transport();
    expect(await submit(t, server.address, enqueue('old.q'))).toBe('enqueue');
    expect(await submit(t, server.address, enqueue('old.q'))).toBe('enqueue');
    const m = server.metrics();
    expect(m.rawSubmitStreams).toBe(0);
    expect(m.submitStreams?.requests).toBe(2);
    expect(executor.executed.filter((c) => c.cmd.type === 'enqueue')).toHaveLength(2);
  });

  it('checks tokens per request, as on gRPC', async () => {
    const token = newToken('p');
    const auth = new ClientAuth([
      { id: 'p', hash: await hashToken(token), grants: [{ role: 'producer', queues: 'ok.*' }] },
    ]);
    const server = await serve({ auth });
    expect(await submit(transport({ token }), server.address, enqueue('ok.q'))).toBe('enqueue');
    expect(await submit(transport({ token: `${token}x` }), server.address, enqueue('ok.q'))).toMatchObject({
      code: 'UNAUTHENTICATED',
    });
    expect(await submit(transport({ token }), server.address, enqueue('other.q'))).toMatchObject({
      code: 'PERMISSION_DENIED',
    });
    expect(server.metrics().rawSubmitStreams).toBe(3);
  });

  it('applies the request rate per request and the connection limit per stream', async () => {
    const rateLimiter = new ClientRateLimiter(
      { sessionOpensPerSec: 0, requestsPerSec: 1, callsInFlightPerAddress: 0, tokenChecksPerSec: 0 },
      { now: () => 0 },
    );
    const limited = await serve({ rateLimiter, interceptors: [rateLimiter.interceptor()] });
    const t = transport();
    // A bucket of two (a burst of two seconds' worth): the stream's opening counts as a call, as on
    // gRPC, and its first request takes the other; then refusals naming the limit.
    expect(await submit(t, limited.address, enqueue('r.q'))).toBe('enqueue');
    expect(await submit(t, limited.address, enqueue('r.q'))).toMatchObject({
      code: 'RESOURCE_EXHAUSTED',
      limit: 'requests_per_second',
    });
    const connections = new ConnectionLimiter({ perAddress: 1 });
    const few = await serve({ connections });
    const first = transport();
    expect(await submit(first, few.address, enqueue('c.q'))).toBe('enqueue');
    expect(await submit(transport(), few.address, enqueue('c.q'))).toMatchObject({
      code: 'RESOURCE_EXHAUSTED',
      limit: 'connections_per_address',
    });
  });

  it('answers malformed bytes with an end naming the field, and keeps serving', async () => {
    const server = await serve();
    const hello = encodeFrame(LANE_HELLO, encodeHello({}));
    const cases: [Buffer, string][] = [
      [Buffer.concat([SUBMIT_MAGIC, encodeFrame(LANE_MESSAGE, Buffer.from('x'))]), 'frame'],
      [Buffer.concat([SUBMIT_MAGIC, encodeFrame(LANE_HELLO, Buffer.from('{"authorization":7}'))]), 'hello'],
      [Buffer.concat([SUBMIT_MAGIC, encodeFrame(LANE_HELLO, Buffer.from('not json'))]), 'hello'],
      [Buffer.concat([SUBMIT_MAGIC, hello, encodeFrame(LANE_MESSAGE, Buffer.from([0xff, 0xff, 0xff]))]), 'request'],
      [Buffer.concat([SUBMIT_MAGIC, hello, encodeFrame(9, Buffer.alloc(0))]), 'frame'],
      [Buffer.concat([SUBMIT_MAGIC, Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 0])]), 'frame'],
    ];
    for (const [bytes, field] of cases) {
      expect(await rawEnd(server.address, bytes)).toMatchObject({ code: 'INVALID_ARGUMENT', field });
    }
    expect(await submit(transport(), server.address, enqueue('after.q'))).toBe('enqueue');
  });

  it('a black-holed lane fails its requests UNAVAILABLE at the keepalive, long before their deadline', async () => {
    const server = await serve();
    const proxy = await FaultProxy.start(server.address);
    cleanup.push(() => proxy.close());
    const t = transport({ keepaliveTimeMs: 100 });
    expect(await submit(t, proxy.address, enqueue('k.q'))).toBe('enqueue');
    proxy.set({ kind: 'drop' });
    const started = Date.now();
    const failed = await submit(t, proxy.address, enqueue('k.q'), 20_000);
    expect(failed).toMatchObject({ code: 'UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(5_000);
    proxy.set({ kind: 'pass' });
    let last: unknown = null;
    for (let i = 0; i < 20 && last !== 'enqueue'; i++) last = await submit(t, proxy.address, enqueue('k.q'), 1_000);
    expect(last).toBe('enqueue');
  });
});

/** What the lane uses of a net.Socket, recording writes and pauses. */
class FakeSocket extends EventEmitter {
  readonly written: Buffer[] = [];
  writableLength = 0;
  paused = false;
  destroyed = false;
  writable = true;
  remoteAddress = '127.0.0.1';
  remotePort = 5;
  setNoDelay(): void {}
  setKeepAlive(): void {}
  setTimeout(): void {}
  write(b: Buffer): boolean {
    this.written.push(b);
    this.writableLength += b.byteLength;
    return true;
  }
  end(): void {
    this.writable = false;
  }
  cork(): void {}
  uncork(): void {}
  destroy(): void {
    this.destroyed = true;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  isPaused(): boolean {
    return this.paused;
  }
}

describe('the raw Submit lane, backpressure', () => {
  it('reads no more requests while its unsent replies are over the bound, and reads again once they drain', () => {
    const socket = new FakeSocket();
    const big = Buffer.alloc(9 * 1024 * 1024);
    let requests = 0;
    sniffClientConnection(socket as unknown as net.Socket, {} as Parameters<typeof sniffClientConnection>[1], {
      handler: (call) => {
        call.sendMetadata(new grpc.Metadata());
        call.on('data', () => {
          requests += 1;
          call.write({});
        });
      },
      deserialize: () => ({ ok: true, value: {} }),
      serialize: () => big,
      frameBytesMax: 1 << 20,
      keepaliveTimeMs: 1_000,
      admit: () => ({ release: () => undefined }),
      refuseRequest: () => null,
      sockets: new Set(),
      stats: { opened: 0 },
    });
    socket.emit('data', Buffer.concat([SUBMIT_MAGIC, encodeFrame(LANE_HELLO, encodeHello({}))]));
    expect(socket.paused).toBe(false);
    socket.emit('data', encodeFrame(LANE_MESSAGE, Buffer.from([1])));
    expect(requests).toBe(1);
    expect(socket.paused).toBe(true);
    socket.writableLength = 0;
    socket.emit('drain');
    expect(socket.paused).toBe(false);
  });
});
