// A follower kept down while 10,000 more tasks commit and snapshots compact the leader's log past it
// (issue #4): on restart it can only catch up through InstallSnapshot, and its state agrees with the
// others' — digests at common indexes, including the current applied point, and the task counts.
import { describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import type { NodeStatus } from '../../src/rpc/executor.js';
import { assertDigestsAgree, digestsOf, httpJson, waitForLeader } from './helpers.js';
import { waitApplied, waitLine } from './node-helpers.js';
import { clusterPerTest } from '../support/cluster.js';
import { parsePromText, sampleValue } from '../support/prom-text.js';

type AdminStatus = NodeStatus & { log: { firstIndex: number; lastIndex: number; snapshotIndex: number } };

const fx = clusterPerTest();

const TASKS = 10_000;
const BATCH = 40;

describe('a node kept down while the log is compacted past it', () => {
  it('catches up through InstallSnapshot and agrees', async () => {
    const tc = await fx.start(3, { snapshotEveryEntries: 100 });
    const t = tc;
    const c = t.cluster;
    const leader = await waitForLeader(c);
    const admin = (id: string): Promise<AdminStatus> => httpJson<AdminStatus>(c.spec(id).httpPort, '/status');
    const client = new Client({ servers: c.servers, timeoutMs: 30_000 });
    fx.track(client);
    const q = client.queue<{ k: string }>('snap');
    await q.enqueueMany(Array.from({ length: BATCH }, (_, i) => ({ payload: { k: `early-${i}` } })));
    const all = c.specs.map((s) => s.id);
    await waitApplied(c, all, (await admin(leader)).commitIndex);

    const down = c.specs.find((s) => s.id !== leader)!.id;
    const downLast = (await admin(down)).log.lastIndex;
    await c.kill(down);
    // One call at a time, so that each is its own entry: many entries, a snapshot every 100.
    for (let b = 0; b < TASKS / BATCH; b++) {
      await q.enqueueMany(Array.from({ length: BATCH }, (_, i) => ({ payload: { k: `t${b}-${i}` } })));
    }
    // Make sure the log was compacted past what the stopped node holds (bounded top-up elsewhere).
    const filler = client.queue<{ k: string }>('filler');
    for (let i = 0; i < 2_000 && (await admin(leader)).log.firstIndex <= downLast + 1; i++) {
      await filler.enqueue({ k: `f${i}` });
    }
    const before = await admin(leader);
    expect(before.log.snapshotIndex).toBeGreaterThan(downLast);
    expect(before.log.firstIndex).toBeGreaterThan(downLast + 1);

    c.start(down);
    await waitLine(t, down, /installed snapshot from leader/, 30_000);
    const commit = (await admin(leader)).commitIndex;
    await waitApplied(c, all, commit, 30_000);
    const st = await admin(down);
    expect(st.log.snapshotIndex).toBeGreaterThan(0);

    // Every node at the same applied point: the current digest is compared too.
    const [dl, dd] = await Promise.all([digestsOf(c, leader), digestsOf(c, down)]);
    expect(dd.get(commit)).toBeDefined();
    expect(dd.get(commit)).toBe(dl.get(commit));
    expect(await assertDigestsAgree(c, all)).toBeGreaterThan(2);

    const local = new Client({ servers: [`127.0.0.1:${c.spec(down).clientPort}`], timeoutMs: 10_000 });
    fx.track(local);
    const stats = await local.queue('snap').stats({ consistency: 'stale' });
    expect(stats.counts.waiting).toBe(TASKS + BATCH);
  });

  it("catches up from the leader's disk when the entries it needs left the leader's memory", async () => {
    // --log-memory-mib 0: every applied entry's data leaves memory (log-memory.ts); no snapshot comes
    // between, so the follower can only be served entries read back from the leader's LevelDB log.
    const tc = await fx.start(3, { snapshotEveryEntries: 1_000_000, logMemoryMib: 0 });
    const c = tc.cluster;
    const leader = await waitForLeader(c);
    const client = new Client({ servers: c.servers, timeoutMs: 30_000 });
    fx.track(client);
    const q = client.queue<{ k: string }>('evicted');
    const all = c.specs.map((s) => s.id);
    const down = c.specs.find((s) => s.id !== leader)!.id;
    await c.kill(down);
    for (let b = 0; b < 50; b++) {
      await q.enqueueMany(Array.from({ length: BATCH }, (_, i) => ({ payload: { k: `t${b}-${i}` } })));
    }
    c.start(down);
    const commit = (await admin(c, leader)).commitIndex;
    await waitApplied(c, all, commit, 30_000);
    expect((await admin(c, down)).log.snapshotIndex).toBe(0);
    const [dl, dd] = await Promise.all([digestsOf(c, leader), digestsOf(c, down)]);
    expect(dd.get(commit)).toBe(dl.get(commit));
    const text = await (await fetch(`http://127.0.0.1:${c.spec(leader).httpPort}/metrics`)).text();
    const read = sampleValue(parsePromText(text), 'raftq_log_read_back_entries_total');
    expect(read).toBeGreaterThan(0);
  });
});

function admin(c: ReturnType<typeof clusterPerTest>['tc']['cluster'], id: string): Promise<AdminStatus> {
  return httpJson<AdminStatus>(c.spec(id).httpPort, '/status');
}
