// The console's cluster table with client auth on (issue 15): every member's own fsync latency is
// known on every node's console. A node asks the others over the peer port under the cluster secret
// (it holds no client token: only their hashes), so auth on the client and admin ports does not turn
// the other members into "unknown". A real 3-node cluster with tokens and a cluster secret.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import { hashToken, newToken } from '../../src/rpc/auth.js';
import { startCluster, waitFor, type TestCluster } from './helpers.js';

interface FsyncJson {
  writes: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}
interface ClusterJson {
  leader: string | null;
  members: { id: string; known: boolean; term: number | null; fsync: FsyncJson | null }[];
}

const dir = mkdtempSync(join(tmpdir(), 'raftq-console-auth-'));
let tc: TestCluster | null = null;
let token = '';
const clients: Client[] = [];

function get(port: number, path: string, auth = true): Promise<Response> {
  const headers: Record<string, string> = auth ? { authorization: `Bearer ${token}` } : {};
  return fetch(`http://127.0.0.1:${port}${path}`, { headers, signal: AbortSignal.timeout(5_000) });
}

async function clusterView(port: number): Promise<ClusterJson | undefined> {
  const res = await get(port, '/console/api/cluster').catch(() => null);
  return res?.ok === true ? ((await res.json()) as ClusterJson) : undefined;
}

beforeAll(async () => {
  token = newToken('ops');
  const config = join(dir, 'node.json');
  writeFileSync(
    config,
    JSON.stringify({ tokens: [{ id: 'ops', hash: await hashToken(token), roles: ['admin:*', 'producer:*'] }] }),
  );
  tc = await startCluster(3, { perNode: () => ({ args: ['--config', config] }) });
}, 60_000);

afterAll(async () => {
  for (const c of clients.splice(0)) await c.close({ timeoutMs: 2_000 }).catch(() => undefined);
  await tc?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('console with client auth on', () => {
  it("every node's console knows all three members' fsync latency", async () => {
    const cluster = (tc as TestCluster).cluster;
    expect(cluster.clusterSecretFile).not.toBeNull();
    const first = cluster.specs[0]?.httpPort as number;
    for (const s of cluster.specs) {
      const up = async (): Promise<true | undefined> =>
        (await get(s.httpPort, '/healthz', false).catch(() => null))?.status === 200 ? true : undefined;
      await waitFor(up, 30_000, `${s.id} up`);
    }
    // Auth is on: the console's API wants a token (and the node itself has none to give its peers).
    expect((await get(first, '/console/api/cluster', false)).status).toBe(401);
    const leader = await waitFor(async () => (await clusterView(first))?.leader ?? undefined, 30_000, 'a leader');
    // Durable writes on every member: each one's fsync window fills.
    const client = new Client({ servers: cluster.servers, timeoutMs: 20_000, token });
    clients.push(client);
    await client.queue<{ n: number }>('console-auth').enqueueMany([1, 2, 3].map((n) => ({ payload: { n } })));
    for (const s of cluster.specs) {
      const view = await waitFor(
        async () => {
          const v = await clusterView(s.httpPort);
          const all = v?.members.every((m) => m.known && m.fsync !== null && m.fsync.writes > 0) === true;
          return all && v?.members.length === 3 ? v : undefined;
        },
        20_000,
        `${s.id}'s console knows every member's fsync`,
      );
      expect(view.leader).toBe(leader);
      for (const m of view.members) {
        const f = m.fsync as FsyncJson;
        expect(m.term, `${m.id} term on ${s.id}`).toBeGreaterThan(0);
        expect(f.p50Ms).toBeLessThanOrEqual(f.p99Ms);
        expect(f.p99Ms).toBeLessThanOrEqual(f.maxMs);
      }
    }
  });
});
