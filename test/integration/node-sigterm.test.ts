// SIGTERM on the leader (issue #4): it hands leadership over before its process exits, and producers
// running through it see no error (the SDK follows the new leader; nothing is lost or doubled).
import { describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import { statusOf, waitFor, waitForLeader } from './helpers.js';
import { lostOrDuplicated, tasksByKey, waitLine } from './node-helpers.js';
import { clusterPerTest } from '../support/cluster.js';

const fx = clusterPerTest();

describe('SIGTERM on the leader', () => {
  it('moves leadership before the process exits; producers see no error', async () => {
    const tc = await fx.start(3);
    const t = tc;
    const first = await waitForLeader(t.cluster);
    const term = (await statusOf(t.cluster, first))?.term ?? 0;
    const client = fx.track(new Client({ servers: t.cluster.servers, timeoutMs: 20_000 }));
    const q = client.queue<{ k: string }>('term');
    const acked = new Map<string, string>();
    let exited = false;
    let ackedAfterExit = 0;
    // Rejections are not caught: any error fails Promise.all below.
    const producers = Array.from({ length: 3 }, async (_, p) => {
      for (let i = 0; i < 2000 && ackedAfterExit < 60; i++) {
        const k = `p${p}-${i}`;
        const r = await q.enqueue({ k });
        acked.set(k, r.id);
        if (exited) ackedAfterExit++;
      }
    });
    const sigterm = (async () => {
      await waitFor(() => (acked.size >= 60 ? true : undefined), 30_000, 'acknowledgements before SIGTERM', 5);
      await t.cluster.signal(first, 'SIGTERM');
      exited = true;
    })();
    await Promise.all([...producers, sigterm]);

    expect(t.exits).toEqual([{ id: first, code: 0, signal: null }]);
    // The old leader logged a completed transfer before it closed its ports and exited.
    const line = await waitLine(t, first, /leadership transfer before shutdown/, 1_000);
    expect(JSON.parse(line)).toMatchObject({ moved: true });
    const second = await waitForLeader(t.cluster, 10_000);
    expect(second).not.toBe(first);
    expect((await statusOf(t.cluster, second))?.term).toBeGreaterThan(term);

    expect(ackedAfterExit).toBeGreaterThanOrEqual(60);
    expect(lostOrDuplicated(acked, await tasksByKey(client, 'term'))).toEqual([]);
  });
});
