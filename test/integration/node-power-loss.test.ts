// Power loss of every node at once, right after acknowledgements (issue #4, docs/design.md §1.1). The
// storage fault layer (RAFTQ_TEST_DISK_FAULT_MODE) turns SIGUSR2 into "drop every write whose fsync had
// not completed, then SIGKILL". After a restart nothing acknowledged may be missing; with the group
// commit's `sync: true` dropped (=drop-sync) the same check must report the loss.
import { describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import { TEST_HOOKS_EXEC_ARGV } from '../support/hooks.js';
import { waitFor, waitForLeader } from './helpers.js';
import { lostOrDuplicated, tasksByKey, waitExit } from './node-helpers.js';
import { clusterPerTest } from '../support/cluster.js';

const fx = clusterPerTest();

const ACKS_BEFORE_CUT = 100;

/** Producers run until `ACKS_BEFORE_CUT` acknowledgements, then every node loses power in the same tick. */
async function ackThenPowerCut(mode: '1' | 'drop-sync'): Promise<{ acked: number; bad: string[] }> {
  const tc = await fx.start(3, { execArgv: TEST_HOOKS_EXEC_ARGV, env: { RAFTQ_TEST_DISK_FAULT_MODE: mode } });
  const t = tc;
  await waitForLeader(t.cluster);
  const client = fx.track(new Client({ servers: t.cluster.servers, timeoutMs: 20_000 }));
  const q = client.queue<{ k: string }>('power');
  const acked = new Map<string, string>();
  let cut = false;
  const cutPower = (): void => {
    cut = true;
    // Synchronously, one after the other: no node gets an event-loop turn in between.
    for (const s of t.cluster.specs) process.kill(t.cluster.pid(s.id) as number, 'SIGUSR2');
  };
  const producers = Array.from({ length: 4 }, async (_, p) => {
    for (let i = 0; i < 1000 && !cut; i++) {
      const k = `p${p}-${i}`;
      // A call in flight at the cut may still succeed after the restart (then it counts) or fail.
      const r = await q.enqueue({ k }).catch(() => null);
      if (r === null) continue;
      acked.set(k, r.id);
      if (!cut && acked.size >= ACKS_BEFORE_CUT) cutPower();
    }
  });
  await waitFor(() => (cut ? true : undefined), 30_000, `${ACKS_BEFORE_CUT} acknowledgements`, 5);
  const exits = await Promise.all(t.cluster.specs.map((s) => waitExit(t, s.id)));
  // Killed by the fault layer once its rollback is done; not by its own stop on the refused writes
  // (exit 4), which would cut the rollback short and keep writes a real power cut drops.
  expect(exits.map((e) => e.signal)).toEqual(['SIGKILL', 'SIGKILL', 'SIGKILL']);

  t.cluster.startAll();
  await Promise.all(producers);
  await waitForLeader(t.cluster, 30_000);
  const found = await tasksByKey(client, 'power');
  return { acked: acked.size, bad: lostOrDuplicated(acked, found) };
}

describe('power loss of all nodes at once', () => {
  it('loses nothing acknowledged', async () => {
    const r = await ackThenPowerCut('1');
    expect(r.acked).toBeGreaterThanOrEqual(ACKS_BEFORE_CUT);
    expect(r.bad).toEqual([]);
  });

  it('detects the loss when the group commit omits sync: true', async () => {
    const r = await ackThenPowerCut('drop-sync');
    expect(r.acked).toBeGreaterThanOrEqual(ACKS_BEFORE_CUT);
    expect(r.bad.length).toBeGreaterThan(0);
  });
});
