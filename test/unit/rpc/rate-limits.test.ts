// Per-client limits on the client port (issue #14): each is refused with RESOURCE_EXHAUSTED naming
// the limit (in the raftq-error trailer, with retryAfterMs), before the handler runs, so nothing is
// applied; buckets refill with time (an injected clock) and are per token / per client address.
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientAuth, hashToken, newToken } from '../../../src/rpc/auth.js';
import { CLIENT_SERVICE } from '../../../src/rpc/client-service.js';
import { ClientServer } from '../../../src/rpc/client-server.js';
import { loadProtoFile } from '../../../src/rpc/proto.js';
import { ClientRateLimiter, hostOf, type ClientLimits } from '../../../src/rpc/rate-limits.js';
import { ERROR_METADATA_KEY } from '../../../src/protocol/proto.js';
import { MachineExecutor } from '../client/machine-executor.js';
import { waitFor } from './helpers.js';

type Obj = Record<string, unknown>;
type Raw = grpc.Client & Record<string, (...a: unknown[]) => unknown>;
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const OFF: ClientLimits = {
  sessionOpensPerSec: 0,
  requestsPerSec: 0,
  callsInFlightPerAddress: 0,
  tokenChecksPerSec: 0,
};

interface Served {
  raw: Raw;
  executor: MachineExecutor;
  limiter: ClientRateLimiter;
}

async function serve(limits: Partial<ClientLimits>, now: () => number, auth?: ClientAuth): Promise<Served> {
  const executor = new MachineExecutor();
  const slowCheck = (a: unknown): boolean => auth?.needsSlowCheck(a) ?? false;
  const limiter = new ClientRateLimiter({ ...OFF, ...limits }, { now, slowCheck });
  const server = await ClientServer.start({
    address: '127.0.0.1:0',
    executor,
    interceptors: [limiter.interceptor()],
    ...(auth ? { auth } : {}),
  });
  const Ctor = grpc.makeGenericClientConstructor(
    loadProtoFile('client.proto')[CLIENT_SERVICE] as grpc.ServiceDefinition,
    'RaftQ',
  );
  const raw = new Ctor(server.address, grpc.credentials.createInsecure()) as Raw;
  cleanup.push(
    () => server.close(),
    () => raw.close(),
  );
  return { raw, executor, limiter };
}

interface Outcome {
  code: number;
  detail: Obj | null;
}

function call(raw: Raw, method: string, req: Obj, token?: string): Promise<Outcome> {
  const md = new grpc.Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  return new Promise((resolve) => {
    raw[method]?.(req, md, { deadline: new Date(Date.now() + 5_000) }, (err: grpc.ServiceError | null) => {
      const t = err?.metadata?.get(ERROR_METADATA_KEY)[0];
      resolve({ code: err ? err.code : grpc.status.OK, detail: typeof t === 'string' ? (JSON.parse(t) as Obj) : null });
    });
  });
}

const open = { callTimeoutMs: 500, sessionTimeoutMs: 10_000, clientId: 'rl' };

describe('rpc - client rate limits', () => {
  it('session opens per address and token: a burst of twice the rate, then refused, refilled with time', async () => {
    let t = 0;
    const { raw, executor } = await serve({ sessionOpensPerSec: 2 }, () => t);
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) codes.push((await call(raw, 'OpenSession', open, 'a.x')).code);
    expect(codes).toEqual([0, 0, 0, 0, grpc.status.RESOURCE_EXHAUSTED]);
    const refused = await call(raw, 'OpenSession', open, 'a.x');
    expect(refused.detail).toMatchObject({
      code: 'RESOURCE_EXHAUSTED',
      limit: 'session_opens_per_second',
      retryAfterMs: 500,
    });
    expect(String(refused.detail?.['message'])).toMatch(/^session_opens_per_second: over 2 session opens/);
    // Another token from the same address has its own bucket; other calls are not limited by this one.
    expect((await call(raw, 'OpenSession', open, 'b.y')).code).toBe(grpc.status.OK);
    expect((await call(raw, 'ListQueues', {}, 'a.x')).code).toBe(grpc.status.OK);
    const applied = executor.executed.length;
    t += 500;
    expect((await call(raw, 'OpenSession', open, 'a.x')).code).toBe(grpc.status.OK);
    expect((await call(raw, 'OpenSession', open, 'a.x')).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    // One more session opened: the refused one reached nothing.
    expect(executor.executed.length).toBe(applied + 1);
  });

  it('requests per second per token; without a token, per client address', async () => {
    let t = 0;
    const { raw } = await serve({ requestsPerSec: 1 }, () => t);
    const codes = async (token?: string): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < 3; i++) out.push((await call(raw, 'ListQueues', {}, token)).code);
      return out;
    };
    expect(await codes('a.x')).toEqual([0, 0, grpc.status.RESOURCE_EXHAUSTED]);
    expect(await codes('b.y')).toEqual([0, 0, grpc.status.RESOURCE_EXHAUSTED]);
    expect(await codes()).toEqual([0, 0, grpc.status.RESOURCE_EXHAUSTED]);
    const r = await call(raw, 'ListQueues', {}, 'a.x');
    expect(r.detail).toMatchObject({ limit: 'requests_per_second', retryAfterMs: 1000 });
    t += 1000;
    expect((await call(raw, 'ListQueues', {}, 'a.x')).code).toBe(grpc.status.OK);
  });

  it('on the Submit stream each request counts against the request rate, refused alone', async () => {
    const { raw, executor } = await serve({ requestsPerSec: 1 }, () => 0);
    const stream = (raw['SubmitStream'] as (m: grpc.Metadata) => grpc.ClientDuplexStream<Obj, Obj>)(
      new grpc.Metadata(),
    );
    const replies: Obj[] = [];
    const enqueue = { enqueue: { header: { timeoutMs: 2_000 }, queue: 'rl', tasks: [{ payload: Buffer.from('x') }] } };
    await new Promise<void>((resolve) => {
      stream.on('data', (r: Obj) => {
        replies.push(r);
        if (replies.length === 3) resolve();
      });
      // The stream's own open took one token of the burst of 2: one request passes, two are refused.
      for (const id of [1, 2, 3]) stream.write({ id, submit: { items: [enqueue] }, timeoutMs: 2_000 });
    });
    const refused = replies.filter((r) => r['error'] !== null);
    expect(refused.map((r) => (r['error'] as Obj)['code'])).toEqual(['RESOURCE_EXHAUSTED', 'RESOURCE_EXHAUSTED']);
    expect(JSON.parse((refused[0]?.['error'] as Obj)['detailJson'] as string)).toMatchObject({
      limit: 'requests_per_second',
    });
    expect(executor.executed.length).toBe(1);
    stream.on('error', () => undefined); // the cancel below ends it with CANCELLED
    stream.cancel();
  });

  it('calls in flight per client address: a held stream counts until it ends; a refused one applies nothing', async () => {
    const { raw, executor, limiter } = await serve({ callsInFlightPerAddress: 1 }, () => 0);
    // An events stream is held open by the server until the client cancels it.
    const stream = (raw['Events'] as (r: Obj, m: grpc.Metadata) => grpc.ClientReadableStream<Obj>)(
      {},
      new grpc.Metadata(),
    );
    stream.on('error', () => undefined);
    await waitFor(() => limiter.inFlightOf('127.0.0.1') === 1, 'the stream in flight');
    const before = executor.executed.length;
    const refused = await call(raw, 'CreateQueue', { queue: 'q', settings: {} });
    expect(refused.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(refused.detail).toMatchObject({ limit: 'calls_in_flight_per_address' });
    expect(String(refused.detail?.['message'])).toBe('calls_in_flight_per_address: 1 calls in flight from 127.0.0.1');
    expect(executor.executed.length).toBe(before);
    stream.cancel();
    await waitFor(() => limiter.inFlightOf('127.0.0.1') === 0, 'the stream released');
    expect((await call(raw, 'CreateQueue', { queue: 'q', settings: {} })).code).toBe(grpc.status.OK);
  });

  it('token checks: wrong secrets for a known id cost a bucket per address; a proven token costs nothing', async () => {
    const good = newToken('app');
    const auth = new ClientAuth([
      { id: 'app', hash: await hashToken(good), grants: [{ role: 'reader', queues: '*' }] },
    ]);
    const { raw } = await serve({ tokenChecksPerSec: 1 }, () => 0, auth);
    // The good token is proven once (one check), then never checked slowly again.
    expect((await call(raw, 'ListQueues', {}, good)).code).toBe(grpc.status.OK);
    const wrong = async (): Promise<Outcome> => call(raw, 'ListQueues', {}, `app.${'x'.repeat(43)}`);
    expect((await wrong()).code).toBe(grpc.status.UNAUTHENTICATED);
    const third = await wrong();
    expect(third.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(third.detail).toMatchObject({ limit: 'token_checks_per_second' });
    // Unknown ids cost no slow hash: refused UNAUTHENTICATED, never limited here.
    expect((await call(raw, 'ListQueues', {}, 'nobody.xyz')).code).toBe(grpc.status.UNAUTHENTICATED);
    for (let i = 0; i < 3; i++) expect((await call(raw, 'ListQueues', {}, good)).code).toBe(grpc.status.OK);
  });

  it('reads the host of grpc-js peer strings', () => {
    expect(hostOf('127.0.0.1:5000')).toBe('127.0.0.1');
    expect(hostOf('ipv4:10.0.0.1:5000')).toBe('10.0.0.1');
    expect(hostOf('[::1]:5000')).toBe('::1');
    expect(hostOf('ipv6:[::1]:5000')).toBe('::1');
  });
});
