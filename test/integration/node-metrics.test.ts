// Every metric the node declares moves when what it counts happens (architecture issue §1): tasks
// per queue and state, proposals and failed proposals, expired leases, dead letters, and the state
// machine's own counters; the status reports the election timeout.
import { beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import { clusterPerFile, type TestCluster } from '../support/cluster.js';
import { httpJson, waitFor } from './helpers.js';

const fx = clusterPerFile(3);
let tc: TestCluster;
let leader: string;
let client: Client;

beforeAll(() => {
  tc = fx.tc;
  leader = fx.leader;
  client = fx.client({ timeoutMs: 10_000 });
});

/** One sample of the leader's /metrics (0 when the series is absent). */
async function metric(id: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${tc.cluster.spec(id).httpPort}/metrics`);
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (m?.[1] !== name) continue;
    const have = (m[2] ?? '').split(',');
    if (want.every((w) => have.includes(w))) return Number(m[3]);
  }
  return 0;
}

describe('node metrics', () => {
  it('counts tasks, proposals, expired leases and dead letters', async () => {
    const proposed = await metric(leader, 'raftq_proposals_total');
    await client.command({ type: 'createQueue', queue: 'm', settings: { maxDeliveries: 1 } });
    await client.command({ type: 'enqueue', queue: 'm', tasks: [{ payload: new Uint8Array([1]) }] });
    expect(await metric(leader, 'raftq_tasks', { queue: 'm', state: 'waiting' })).toBe(1);
    expect(await metric(leader, 'raftq_proposals_total')).toBeGreaterThanOrEqual(proposed + 2);
    const leased = await client.command({ type: 'lease', queue: 'm', workerId: 'w', max: 1, leaseMs: 300 });
    expect(JSON.stringify(leased.reply)).toContain('token');
    expect(await metric(leader, 'raftq_tasks', { queue: 'm', state: 'leased' })).toBe(1);
    // Nobody extends: the lease expires and, with maxDeliveries 1, the task is dead-lettered.
    await waitFor(
      async () => ((await metric(leader, 'raftq_tasks', { queue: 'm', state: 'dead' })) === 1 ? true : undefined),
      10_000,
      'the task to be dead-lettered',
    );
    expect(await metric(leader, 'raftq_leases_expired_total')).toBeGreaterThanOrEqual(1);
    expect(await metric(leader, 'raftq_dead_lettered_total')).toBeGreaterThanOrEqual(1);
    expect(await metric(leader, 'raftq_tasks', { queue: 'm', state: 'leased' })).toBe(0);
  });

  it("exports the state machine's counters and the election timeout", async () => {
    const text = await (await fetch(`http://127.0.0.1:${tc.cluster.spec(leader).httpPort}/metrics`)).text();
    for (const c of ['undecodable', 'stale', 'internalErrors', 'transitionsDeferred']) {
      expect(text).toMatch(new RegExp(`^raftq_statemachine_events_total\\{counter="${c}"\\} \\d+$`, 'm'));
    }
    expect(await metric(leader, 'raftq_statemachine_events_total', { counter: 'internalErrors' })).toBe(0);
    const st = await httpJson<{ electionTimeoutMs?: { min: number; max: number } }>(
      tc.cluster.spec(leader).httpPort,
      '/status',
    );
    // startCluster: 50 ms ticks, 10 election ticks.
    expect(st.electionTimeoutMs).toEqual({ min: 500, max: 1000 });
  });

  it('counts a proposal that fails because the leader lost its quorum', async () => {
    const followers = tc.cluster.specs.map((s) => s.id).filter((id) => id !== leader);
    const before = await metric(leader, 'raftq_proposals_failed_total', { reason: 'leadership-lost' });
    for (const f of followers) await tc.cluster.signal(f, 'SIGSTOP');
    try {
      const lonely = new Client({ servers: [`127.0.0.1:${tc.cluster.spec(leader).clientPort}`], timeoutMs: 3_000 });
      // The leader proposes, cannot commit, and steps down at its election timeout (checkQuorum).
      await lonely.command({ type: 'createQueue', queue: 'lost' }).catch(() => undefined);
      await lonely.close();
      await waitFor(
        async () =>
          (await metric(leader, 'raftq_proposals_failed_total', { reason: 'leadership-lost' })) > before
            ? true
            : undefined,
        10_000,
        'a failed proposal to be counted',
      );
    } finally {
      for (const f of followers) await tc.cluster.signal(f, 'SIGCONT');
    }
  });
});
