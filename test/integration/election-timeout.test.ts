// A node started with longer election ticks reports its election timeout in status, and the SDK's
// workers bound their leases by it (docs/design.md §2.4) instead of assuming 1 s.
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import { httpJson, startCluster, waitFor, waitForLeader, type TestCluster } from './helpers.js';

let tc: TestCluster | null = null;
afterEach(async () => {
  await tc?.cleanup();
  tc = null;
});

describe('election timeout in status', () => {
  it('40 election ticks of 50 ms: status says 2-4 s, and a worker takes 4 s as its bound', async () => {
    tc = await startCluster(1, { electionTicks: 40 });
    const c = tc.cluster;
    const leader = await waitForLeader(c);
    const st = await httpJson<{ electionTimeoutMs?: object }>(c.spec(leader).httpPort, '/status');
    expect(st.electionTimeoutMs).toEqual({ min: 2_000, max: 4_000 });
    const client = new Client({ servers: [`127.0.0.1:${c.spec(leader).clientPort}`] });
    try {
      const q = client.queue<string>('et');
      const { id } = await q.enqueue('x');
      await waitFor(() => (client.electionTimeoutMsMax === 4_000 ? true : undefined), 5_000, 'the reported timeout');
      // A 10 s lease was enough for the 1 s the SDK used to assume; for 4 s it is refused.
      expect(() => client.worker('et', () => 'ok', { leaseMs: 10_000, holdMsMax: 1_000 })).toThrow(
        /leaseMs: must be at least \d+ ms \(margin \+ 3 × election timeout\)/,
      );
      const w = client.worker<string>('et', () => 'ok', { leaseMs: 15_000, holdMsMax: 1_000 });
      expect([w.electionTimeoutMsMax, w.leaseMs]).toEqual([4_000, 15_000]);
      expect(await q.waitFor(id, { timeoutMs: 10_000 })).toBe('ok');
      await w.close();
    } finally {
      await client.close();
    }
  }, 60_000);
});
