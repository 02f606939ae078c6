// `raftq status --json` against a running cluster (issue #4): the leader and every member's view, and
// a killed member reported as "unreachable".
import { afterEach, describe, expect, it } from 'vitest';
import { startCluster, statusOf, waitFor, waitForLeader, type TestCluster } from './helpers.js';
import { runRaftq } from './node-helpers.js';

let tc: TestCluster | null = null;
afterEach(async () => {
  await tc?.cleanup();
  tc = null;
});

interface StatusJson {
  leader: string | null;
  members: {
    id: string;
    address: string;
    role: string;
    term: number;
    commitIndex: number;
    appliedIndex: number;
    fsync: { writes: number; p50Ms: number; p99Ms: number } | null;
  }[];
}

async function statusJson(servers: string[]): Promise<{ code: number | null; st: StatusJson }> {
  const run = await runRaftq(['status', '--json', '--servers', servers.join(',')]);
  expect(run.stdout.trim().split('\n'), run.stderr).toHaveLength(1);
  return { code: run.code, st: JSON.parse(run.stdout) as StatusJson };
}

describe('raftq status --json', () => {
  it('prints the leader and the members, and an unreachable member after it is killed', async () => {
    tc = await startCluster(3);
    const c = tc.cluster;
    const leader = await waitForLeader(c);
    const { code, st } = await statusJson(c.servers);
    expect(code).toBe(0);
    expect(st.leader).toBe(leader);
    expect(st.members.map((m) => [m.id, m.address])).toEqual(c.specs.map((s) => [s.id, `127.0.0.1:${s.clientPort}`]));
    for (const m of st.members) {
      expect(m.role).toBe(m.id === leader ? 'leader' : 'follower');
      expect(m.term).toBeGreaterThan(0);
      expect(m.commitIndex).toBeGreaterThan(0);
      expect(m.appliedIndex).toBeGreaterThan(0);
      // Each node's own fsync latency over the last minute: it wrote the bootstrap entries durably.
      expect(m.fsync?.writes, m.id).toBeGreaterThan(0);
      expect(m.fsync?.p50Ms).toBeLessThanOrEqual(m.fsync?.p99Ms ?? -1);
    }

    // The unreachable member's id comes from the replicated membership: wait until the first leader
    // has committed every member's advertised address (docs/design.md §5 bootstrap).
    await waitFor(
      async () => ((await statusOf(c, leader))?.members.every((m) => m.address !== '') ? true : undefined),
      10_000,
      'the membership to carry every address',
    );
    const victim = c.specs.find((s) => s.id !== leader)!.id;
    await c.kill(victim);
    const after = await statusJson(c.servers);
    expect(after.code).toBe(0);
    expect(after.st.leader).toBe(leader);
    const gone = after.st.members.find((m) => m.address === `127.0.0.1:${c.spec(victim).clientPort}`);
    expect(gone).toMatchObject({ id: victim, role: 'unreachable' });
    expect(after.st.members.filter((m) => m.role === 'unreachable')).toHaveLength(1);
  });
});
