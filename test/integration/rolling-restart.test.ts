// A rolling restart under load (issue 16, docs/operations.md "Upgrades: a rolling restart"): each
// member of a 3-node cluster in turn, followers first and the leader last, gets SIGTERM and is started
// again once the previous one is back and caught up, while producers enqueue and a worker completes
// tasks. No command fails (the SDK's retries are fine), no acknowledged task is lost or handled
// twice, and each restart costs at most one leadership change.
import { describe, expect, it } from 'vitest';
import { statusOf, waitFor, waitForLeader } from './helpers.js';
import { Load } from './members-helpers.js';
import { waitApplied } from './node-helpers.js';
import { clusterPerTest } from '../support/cluster.js';

const fx = clusterPerTest();

describe('rolling restart', () => {
  it('restarts every member in turn under producer and worker load: nothing failed, lost or done twice', async () => {
    const tc = await fx.start(3);
    const c = tc.cluster;
    const first = await waitForLeader(c);
    const termBefore = (await statusOf(c, first))?.term ?? 0;
    const kept = new Load(fx.client(), 'roll', 2, 20_000);
    const worked = new Load(fx.client(), 'roll-w', 1, 20_000);
    const handled = new Map<string, number>();
    const worker = fx.client().worker<{ k: string }>(
      'roll-w',
      (task) => {
        handled.set(task.payload.k, (handled.get(task.payload.k) ?? 0) + 1);
      },
      { concurrency: 8, leaseMs: 10_000, holdMsMax: 1_000 },
    );
    fx.track(worker);
    await kept.progress(50);

    const order = [...c.specs.map((s) => s.id).filter((id) => id !== first), first];
    for (const id of order) {
      await c.signal(id, 'SIGTERM');
      await kept.progress(20); // the others serve meanwhile
      c.start(id);
      const leader = await waitForLeader(c);
      await waitApplied(c, [id], (await statusOf(c, leader))?.commitIndex ?? 0);
      await kept.progress(20);
    }
    await kept.stop();
    await worked.stop();
    const leader = await waitForLeader(c);
    const termAfter = (await statusOf(c, leader))?.term ?? 0;
    expect(termAfter - termBefore).toBeLessThanOrEqual(order.length);

    expect({ keptFailed: kept.failed, workedFailed: worked.failed }).toEqual({ keptFailed: 0, workedFailed: 0 });
    expect(await kept.lost(fx.client())).toEqual([]);
    await waitFor(
      () => ([...worked.acked.keys()].every((k) => handled.has(k)) ? true : undefined),
      60_000,
      'the worker to handle every acknowledged task',
    );
    expect([...handled].filter(([, n]) => n > 1)).toEqual([]);
    expect(kept.acked.size).toBeGreaterThan(150);
  });
});
