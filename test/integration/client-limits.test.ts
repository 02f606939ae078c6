// The client port's per-client limits on a real node (issue #14): set by flag, refused with
// RESOURCE_EXHAUSTED naming the limit, counted in raftq_client_limited_total{limit}.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_METADATA_KEY } from '../../src/protocol/proto.js';
import { startCluster, waitForLeader, type TestCluster } from './helpers.js';

let tc: TestCluster;
let raw: grpc.Client;

beforeAll(async () => {
  tc = await startCluster(1, { perNode: () => ({ args: ['--limit-requests-per-sec', '1'] }) });
  await waitForLeader(tc.cluster);
  raw = new grpc.Client(tc.cluster.servers[0] as string, grpc.credentials.createInsecure());
}, 60_000);

afterAll(async () => {
  raw?.close();
  await tc?.cleanup();
});

function listQueues(): Promise<{ code: number; detail: Record<string, unknown> | null }> {
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

describe('client port limits on a real node', () => {
  it('--limit-requests-per-sec: bursts of two, then RESOURCE_EXHAUSTED naming the limit, counted', async () => {
    // Six at once: the bucket holds two (twice the rate), a refill of one at most while they arrive.
    const out = await Promise.all(Array.from({ length: 6 }, () => listQueues()));
    const ok = out.filter((o) => o.code === 0).length;
    const refused = out.filter((o) => o.code === grpc.status.RESOURCE_EXHAUSTED);
    expect(ok).toBeGreaterThanOrEqual(2);
    expect(ok + refused.length).toBe(6);
    expect(refused.length).toBeGreaterThanOrEqual(3);
    expect(refused[0]?.detail).toMatchObject({ code: 'RESOURCE_EXHAUSTED', limit: 'requests_per_second' });
    const metrics = await fetch(`http://127.0.0.1:${tc.cluster.spec('n1').httpPort}/metrics`).then((r) => r.text());
    const n = Number(/raftq_client_limited_total\{limit="requests_per_second"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    expect(n).toBeGreaterThanOrEqual(refused.length);
  });
});
