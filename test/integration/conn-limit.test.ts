// The connections-per-address limit on a real node (issue #14): `--limit-connections-per-address 2`;
// a third connection from 127.0.0.1 gets RESOURCE_EXHAUSTED naming the limit on its calls, the node
// logs the refusal (address, no payload) and raftq_client_limited_total{limit="connections_per_address"}
// moves; the first two keep working.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_METADATA_KEY } from '../../src/protocol/proto.js';
import { startCluster, waitFor, waitForLeader, type TestCluster } from './helpers.js';

let tc: TestCluster;
const clients: grpc.Client[] = [];

beforeAll(async () => {
  tc = await startCluster(1, { perNode: () => ({ args: ['--limit-connections-per-address', '2'] }) });
  await waitForLeader(tc.cluster);
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await tc?.cleanup();
});

function connect(): grpc.Client {
  const c = new grpc.Client(tc.cluster.servers[0] as string, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
  });
  clients.push(c);
  return c;
}

function listQueues(raw: grpc.Client): Promise<{ code: number; detail: Record<string, unknown> | null }> {
  return new Promise((resolve) => {
    raw.makeUnaryRequest(
      '/raftq.client.v1.RaftQ/ListQueues',
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.alloc(0),
      new grpc.Metadata(),
      { deadline: Date.now() + 5_000 },
      (err) => {
        const t = err?.metadata?.get(ERROR_METADATA_KEY)[0];
        resolve({
          code: err ? err.code : 0,
          detail: typeof t === 'string' ? (JSON.parse(t) as Record<string, unknown>) : null,
        });
      },
    );
  });
}

const limited = async (): Promise<number> => {
  const metrics = await fetch(`http://127.0.0.1:${tc.cluster.spec('n1').httpPort}/metrics`).then((r) => r.text());
  return Number(/raftq_client_limited_total\{limit="connections_per_address"\} (\d+)/.exec(metrics)?.[1] ?? 0);
};

describe('connections per client address on a real node', () => {
  it('refuses the third connection from one address with its limit, logs and counts it', async () => {
    expect(await limited()).toBe(0);
    const [a, b] = [connect(), connect()];
    expect((await listQueues(a)).code).toBe(0);
    expect((await listQueues(b)).code).toBe(0);
    const refused = await listQueues(connect());
    expect(refused.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(refused.detail).toMatchObject({ code: 'RESOURCE_EXHAUSTED', limit: 'connections_per_address' });
    expect(await limited()).toBe(1);
    expect((await listQueues(a)).code).toBe(0);
    const line = await waitFor(
      () => tc.lines.get('n1')?.find((l) => l.includes('client connection refused')),
      10_000,
      'the refusal logged',
    );
    expect(line).toContain('"address":"127.0.0.1"');
    expect(line).toContain('"limit":"connections_per_address"');
  }, 30_000);
});
