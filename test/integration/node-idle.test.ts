// An idle cluster appends nothing (issue #4, docs/design.md §2): with only a paused queue of delayed tasks
// (due while we watch), the commit index stays put on every node. The control half shows the watch
// does see appends: a due delayed task in a running queue makes the leader propose advanceTime.
import { describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import { statusOf, waitFor, waitForLeader, type TestCluster } from './helpers.js';
import { waitApplied } from './node-helpers.js';
import { clusterPerTest } from '../support/cluster.js';

const fx = clusterPerTest();

/** Every node's commit index, joined: one reading. */
async function reading(t: TestCluster): Promise<string> {
  const st = await Promise.all(t.cluster.specs.map((s) => statusOf(t.cluster, s.id)));
  return st.map((s) => (s === null ? 'down' : `${s.commitIndex}`)).join(',');
}

/**
 * Resolves with the commit indexes once `n` consecutive readings (one every 200 ms) were identical
 * and spanned at least `spanMs`; throws at the deadline with the readings seen.
 */
async function waitStable(t: TestCluster, spanMs: number, deadlineMs: number): Promise<string> {
  const seen: string[] = [];
  let since = performance.now();
  let last = '';
  return waitFor(
    async () => {
      const r = await reading(t);
      const now = performance.now();
      if (r !== last) {
        seen.push(r);
        last = r;
        since = now;
        return undefined;
      }
      return now - since >= spanMs ? r : undefined;
    },
    deadlineMs,
    `commit indexes unchanged for ${spanMs} ms (readings: ${seen.join(' | ')})`,
    200,
  );
}

describe('an idle cluster', () => {
  it('with only a paused queue of delayed tasks appends no entries', async () => {
    const tc = await fx.start(3);
    const leader = await waitForLeader(tc.cluster);
    const client = new Client({ servers: tc.cluster.servers, timeoutMs: 15_000 });
    const paused = client.queue<{ k: string }>('paused');
    await paused.create();
    await paused.pause();
    // Due 4 s from now, while we watch: a paused queue parks them, so nothing is due on the leader's clocks.
    const due = performance.now() + 4_000;
    await paused.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ payload: { k: `d${i}` }, delayMs: 4_000 })));
    await paused.enqueueMany(Array.from({ length: 5 }, (_, i) => ({ payload: { k: `h${i}` }, delayMs: 3_600_000 })));
    // The client's session keepalives are entries too: close it before watching.
    await client.close();
    // A late entry of the setup (the session's close, the members' bind) may still land: settle first,
    // before the tasks are due.
    const baseline = await waitStable(tc, 800, 3_000);
    expect(performance.now()).toBeLessThan(due);

    // The window starts before the tasks' due time and ends well after it.
    const stable = await waitStable(tc, Math.max(2_500, due - performance.now() + 1_500), 15_000);
    expect(stable).toBe(baseline);
    expect((await statusOf(tc.cluster, leader))?.role).toBe('leader');

    // Control: a running queue's delayed task becomes due and the leader appends advanceTime.
    const c2 = new Client({ servers: tc.cluster.servers, timeoutMs: 15_000 });
    await c2.queue<{ k: string }>('running').enqueue({ k: 'soon' }, { delayMs: 1_000 });
    await c2.close();
    const before = (await statusOf(tc.cluster, leader))?.commitIndex ?? 0;
    const moved = await waitFor(
      async () => {
        const c = (await statusOf(tc.cluster, leader))?.commitIndex ?? 0;
        return c > before ? c : undefined;
      },
      10_000,
      'the leader to append advanceTime for the due task',
    );
    await waitApplied(
      tc.cluster,
      tc.cluster.specs.map((s) => s.id),
      moved,
    );
  });
});
