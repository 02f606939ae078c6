// Real node processes on loopback (issue #4): election, replication, agreement, and a leader kill
// under a producer.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import { NODE_FLAGS } from '../../src/node/local-cluster.js';
import type { Queue } from '../../src/client/queue.js';
import { assertDigestsAgree, statusOf, waitFor, waitForLeader, type TestCluster } from './helpers.js';
import { clusterPerTest } from '../support/cluster.js';

const fx = clusterPerTest();

/** Every task of a queue in the given states, paging through the list read. */
async function allTasks(
  q: Queue<{ k: string }>,
  states: ('waiting' | 'completed')[],
): Promise<{ id: string; k: string }[]> {
  const out: { id: string; k: string }[] = [];
  for (const state of states) {
    let cursor: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const p = await q.list({ state, limit: 500, ...(cursor ? { cursor } : {}) });
      for (const t of p.items) out.push({ id: t.id, k: t.payload.k });
      if (p.nextCursor === null) break;
      cursor = p.nextCursor;
    }
  }
  return out;
}

async function waitAllApplied(t: TestCluster, ids: string[], index: number): Promise<void> {
  await waitFor(
    async () => {
      const st = await Promise.all(ids.map((id) => statusOf(t.cluster, id)));
      return st.every((s) => s !== null && s.appliedIndex >= index) ? true : undefined;
    },
    20_000,
    `every node applied ${index}`,
  );
}

describe.each([3, 5])('a %i-node cluster', (n) => {
  it('elects one leader, replicates, and the replicas agree at common indexes', async () => {
    const tc = await fx.start(n);
    const leader = await waitForLeader(tc.cluster);
    const client = fx.track(new Client({ servers: tc.cluster.servers, timeoutMs: 20_000 }));
    const q = client.queue<{ k: string }>('it');
    for (let b = 0; b < 25; b++) {
      await q.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ payload: { k: `${b}-${i}` } })));
    }
    const ls = await statusOf(tc.cluster, leader);
    expect(ls?.role).toBe('leader');
    const ids = tc.cluster.specs.map((s) => s.id);
    await waitAllApplied(tc, ids, ls?.commitIndex ?? 0);
    const statuses = await Promise.all(ids.map((id) => statusOf(tc.cluster, id)));
    expect(statuses.filter((s) => s?.role === 'leader').map((s) => s?.id)).toEqual([leader]);
    expect(await assertDigestsAgree(tc.cluster, ids)).toBeGreaterThan(0);
    const tasks = await allTasks(q, ['waiting']);
    expect(tasks).toHaveLength(500);
    // Every member runs with the node flags (NODE_FLAGS: a larger young generation).
    for (const id of ids) {
      const argv = readFileSync(`/proc/${tc.cluster.pid(id)}/cmdline`, 'utf8').split('\0');
      expect(argv.slice(1, 1 + NODE_FLAGS.length)).toEqual([...NODE_FLAGS]);
    }
  });
});

describe('leader failure', () => {
  it('loses no acknowledged enqueue and duplicates none when the leader is killed with SIGKILL', async () => {
    const tc = await fx.start(3);
    const first = await waitForLeader(tc.cluster);
    const client = fx.track(new Client({ servers: tc.cluster.servers, timeoutMs: 30_000 }));
    const q = client.queue<{ k: string }>('failover');
    const acked = new Map<string, string>();
    let killed = false;
    const total = 400;
    const producers = Array.from({ length: 4 }, async (_, p) => {
      for (let i = 0; i < total / 4; i++) {
        const k = `p${p}-${i}`;
        const r = await q.enqueue({ k });
        acked.set(k, r.id);
        if (!killed && acked.size >= 100) {
          killed = true;
          await tc.cluster.kill(first);
        }
      }
    });
    await Promise.all(producers);
    expect(killed).toBe(true);
    const second = await waitForLeader(tc.cluster, 20_000, first);
    expect(second).not.toBe(first);
    const tasks = await allTasks(q, ['waiting']);
    const byKey = new Map<string, string[]>();
    for (const t of tasks) byKey.set(t.k, [...(byKey.get(t.k) ?? []), t.id]);
    for (const [k, id] of acked) expect(byKey.get(k), `acknowledged ${k}`).toEqual([id]);
    expect(tasks).toHaveLength(total);
    // The old leader comes back, catches up and agrees.
    tc.cluster.start(first);
    const ls = await statusOf(tc.cluster, second);
    await waitAllApplied(
      tc,
      tc.cluster.specs.map((s) => s.id),
      ls?.commitIndex ?? 0,
    );
    expect(
      await assertDigestsAgree(
        tc.cluster,
        tc.cluster.specs.map((s) => s.id),
      ),
    ).toBeGreaterThan(0);
  });
});
