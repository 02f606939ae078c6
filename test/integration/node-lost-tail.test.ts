// A minority node whose disk loses synced writes (docs/faults.md F7/P11, the jepsen-like `disk` finding of
// seed 104): its newest LevelDB log file is cut short, which LevelDB takes for a torn final write.
// The promise file shows the node had promised more, so it restarts one term up and in recovery:
// it does not vote or campaign until it has caught up from a leader, and nothing acknowledged is lost.
import { readdir, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import type { NodeStatus } from '../../src/rpc/executor.js';
import { assertDigestsAgree, httpJson, statusOf, waitFor, waitForLeader } from './helpers.js';
import { lostOrDuplicated, tasksByKey, waitApplied, waitLine } from './node-helpers.js';
import { clusterPerTest } from '../support/cluster.js';

const fx = clusterPerTest();

async function newestLevelDbLog(dataDir: string): Promise<string> {
  const db = join(dataDir, 'db');
  const logs = (await readdir(db)).filter((n) => n.endsWith('.log')).sort();
  const name = logs[logs.length - 1];
  if (name === undefined) throw new Error(`no LevelDB log in ${db}`);
  return join(db, name);
}

describe('a node whose disk lost its last synced writes', () => {
  it('restarts one term up and in recovery, catches up from a new leader, and loses nothing acknowledged', async () => {
    const tc = await fx.start(3);
    const t = tc;
    const ids = t.cluster.specs.map((s) => s.id);
    const leader = await waitForLeader(t.cluster);
    const client = fx.track(new Client({ servers: t.cluster.servers, timeoutMs: 20_000 }));
    const q = client.queue<{ k: string }>('tail');
    const acked = new Map<string, string>();
    for (let i = 0; i < 30; i++) acked.set(`a${i}`, (await q.enqueue({ k: `a${i}` })).id);

    const victim = ids.find((id) => id !== leader) as string;
    const before = await statusOf(t.cluster, victim);
    await t.cluster.kill(victim);
    const log = await newestLevelDbLog(t.cluster.spec(victim).dataDir);
    const size = (await stat(log)).size;
    expect(size).toBeGreaterThan(100);
    // Cut inside a record: LevelDB drops it and everything after as a torn write. (Deep enough to
    // take appended entries: the very last records are often commit-only writes, which promise
    // nothing, so losing only them is rightly not a loss.)
    await truncate(log, Math.floor(size * 0.7) - 3);

    t.cluster.start(victim);
    const line = JSON.parse(await waitLine(t, victim, /storage lost state this node had promised/)) as {
      fromTerm: number;
      toTerm: number;
      floor: { index: number; term: number };
    };
    expect(line.toTerm).toBeGreaterThan(before?.term ?? 0);
    expect(line.floor.term).toBeGreaterThanOrEqual(before?.term ?? 0);
    // Until a leader of a later term has repaired its log, the node reports that it is recovering
    // (and neither votes nor campaigns: the Raft core's rule, covered by test/simulation/tail-loss).
    const early = await waitFor(
      () => httpJson<NodeStatus>(t.cluster.spec(victim).httpPort, '/status').catch(() => undefined),
      10_000,
      'the victim status',
    );
    if (early.recovering !== undefined) expect(early.recovering.term).toBe(line.floor.term);

    // Writes go on (the two others elect a leader; the victim's higher term deposed the old one).
    for (let i = 0; i < 20; i++) acked.set(`b${i}`, (await q.enqueue({ k: `b${i}` })).id);
    await waitLine(t, victim, /caught up after the storage loss: voting again/, 30_000);
    const st = await httpJson<NodeStatus>(t.cluster.spec(victim).httpPort, '/status');
    expect(st.recovering).toBeUndefined();

    const now = await waitForLeader(t.cluster, 20_000);
    const commit = (await statusOf(t.cluster, now))?.commitIndex ?? 0;
    await waitApplied(t.cluster, ids, commit);
    expect(await assertDigestsAgree(t.cluster, ids)).toBeGreaterThan(0);
    expect(lostOrDuplicated(acked, await tasksByKey(client, 'tail'))).toEqual([]);
    expect(t.exits.filter((e) => e.signal !== 'SIGKILL')).toEqual([]);
    await waitFor(
      async () => ((await statusOf(t.cluster, victim))?.role === 'follower' ? true : undefined),
      10_000,
      'victim follows',
    );
  });
});
