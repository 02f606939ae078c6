// Connections per client address on the client port (issue #14): with a limit of 2, a third
// connection from 127.0.0.1 is served only to refuse its calls with RESOURCE_EXHAUSTED naming
// `connections_per_address` (then closed); the refusal is counted; once a connection closes, a new
// one is admitted. The counting listener serves TLS too (a grpc-js connection injector).
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { CLIENT_SERVICE } from '../../../src/rpc/client-service.js';
import { ClientServer } from '../../../src/rpc/client-server.js';
import { ConnectionLimiter } from '../../../src/rpc/conn-limits.js';
import { loadProtoFile } from '../../../src/rpc/proto.js';
import { ERROR_METADATA_KEY } from '../../../src/protocol/proto.js';
import { MachineExecutor } from '../client/machine-executor.js';
import { waitFor } from './helpers.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDevCerts } from '../../../src/node/dev-certs.js';
import { serverCredentials, TlsMaterial } from '../../../src/rpc/tls.js';

type Raw = grpc.Client & Record<string, (...a: unknown[]) => unknown>;
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const Ctor = grpc.makeGenericClientConstructor(
  loadProtoFile('client.proto')[CLIENT_SERVICE] as grpc.ServiceDefinition,
  'RaftQ',
);

/** A client on a connection of its own (no subchannel sharing between clients). */
function connect(address: string, creds = grpc.credentials.createInsecure()): Raw {
  const raw = new Ctor(address, creds, { 'grpc.use_local_subchannel_pool': 1 }) as Raw;
  cleanup.push(() => raw.close());
  return raw;
}

function call(raw: Raw): Promise<{ code: number; detail: Record<string, unknown> | null }> {
  return new Promise((resolve) => {
    raw['ListQueues']?.(
      {},
      new grpc.Metadata(),
      { deadline: new Date(Date.now() + 5_000) },
      (err: grpc.ServiceError | null) => {
        const t = err?.metadata?.get(ERROR_METADATA_KEY)[0];
        resolve({
          code: err ? err.code : grpc.status.OK,
          detail: typeof t === 'string' ? (JSON.parse(t) as Record<string, unknown>) : null,
        });
      },
    );
  });
}

describe('rpc - connections per client address', () => {
  it('refuses the calls of a connection over the limit, counts it, and admits again once one closes', async () => {
    const refusedLog: [string, number][] = [];
    const limiter = new ConnectionLimiter({ perAddress: 2, onRefuse: (a, n) => refusedLog.push([a, n]) });
    const server = await ClientServer.start({
      address: '127.0.0.1:0',
      executor: new MachineExecutor(),
      connections: limiter,
    });
    cleanup.push(() => server.close());
    const a = connect(server.address);
    const b = connect(server.address);
    expect((await call(a)).code).toBe(grpc.status.OK);
    expect((await call(b)).code).toBe(grpc.status.OK);
    expect(limiter.openFrom('127.0.0.1')).toBe(2);
    const c = connect(server.address);
    const refused = await call(c);
    expect(refused.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(refused.detail).toMatchObject({ code: 'RESOURCE_EXHAUSTED', limit: 'connections_per_address' });
    expect(String(refused.detail?.['message'])).toMatch(
      /^connections_per_address: 2 connections already open from 127\.0\.0\.1/,
    );
    expect(limiter.refusals()).toEqual({ connections_per_address: 1 });
    expect(refusedLog).toEqual([['127.0.0.1', 2]]);
    // The others still work; the refused connection is closed by the server after its grace.
    expect((await call(a)).code).toBe(grpc.status.OK);
    await waitFor(() => limiter.openFrom('127.0.0.1') === 2, 'the refused connection closed');
    // One of the admitted closes: a new connection is admitted.
    b.close();
    await waitFor(() => limiter.openFrom('127.0.0.1') === 1, 'b closed');
    c.close();
    const d = connect(server.address);
    expect((await call(d)).code).toBe(grpc.status.OK);
    expect(limiter.refusals()).toEqual({ connections_per_address: 1 });
  }, 30_000);

  it('without a limit every connection is admitted and nothing is refused', async () => {
    const limiter = new ConnectionLimiter({ perAddress: 0 });
    const server = await ClientServer.start({
      address: '127.0.0.1:0',
      executor: new MachineExecutor(),
      connections: limiter,
    });
    cleanup.push(() => server.close());
    const codes = await Promise.all([1, 2, 3, 4].map(() => call(connect(server.address))));
    expect(codes.map((x) => x.code)).toEqual([0, 0, 0, 0]);
    expect(limiter.openFrom('127.0.0.1')).toBe(4);
    expect(limiter.refusals()).toEqual({ connections_per_address: 0 });
  });

  it('serves TLS through the counting listener, and refuses over the limit there too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftq-conn-tls-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const files = await makeDevCerts(dir, { nodes: ['n1'], clients: [], days: 1 });
    const material = new TlsMaterial({
      certFile: files.nodes['n1']!.cert,
      keyFile: files.nodes['n1']!.key,
      caFile: files.ca,
    });
    const limiter = new ConnectionLimiter({ perAddress: 1 });
    const server = await ClientServer.start({
      address: '127.0.0.1:0',
      executor: new MachineExecutor(),
      credentials: serverCredentials(material, false),
      connections: limiter,
    });
    cleanup.push(() => server.close());
    const tls = (): grpc.ChannelCredentials => grpc.credentials.createSsl(readFileSync(files.ca));
    expect((await call(connect(server.address, tls()))).code).toBe(grpc.status.OK);
    // Plaintext to a TLS port fails; over the limit with TLS: the refusal names the limit.
    expect((await call(connect(server.address))).code).toBe(grpc.status.UNAVAILABLE);
    await waitFor(() => limiter.openFrom('127.0.0.1') === 1, 'the plaintext attempt closed');
    const refused = await call(connect(server.address, tls()));
    expect(refused.detail).toMatchObject({ code: 'RESOURCE_EXHAUSTED', limit: 'connections_per_address' });
  }, 30_000);
});
