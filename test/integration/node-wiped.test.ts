// A member whose data dir was wiped comes back with a new storage id (issue #4, docs/design.md §5): the
// first leader committed every member's storage id, so the wiped node is not counted for votes or
// commits, and the cluster says so in its log. With the third node down, the leader and the wiped
// node together must not commit anything (they would if the wiped node counted).
import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import { statusOf, waitFor, waitForLeader } from './helpers.js';
import { waitApplied, waitLine } from './node-helpers.js';
import { clusterPerTest } from '../support/cluster.js';

const fx = clusterPerTest();

describe('a node whose data dir was wiped', () => {
  it('is refused as a voter, with a clear log line', async () => {
    const tc = await fx.start(3);
    const t = tc;
    const c = t.cluster;
    const leader = await waitForLeader(c);
    const client = new Client({ servers: c.servers, timeoutMs: 15_000 });
    fx.track(client);
    await client.queue<{ k: string }>('w').enqueue({ k: 'before' });
    // The first leader has committed every member's identity (storage id and address together).
    await waitFor(
      async () => ((await statusOf(c, leader))?.members.every((m) => m.address !== '') ? true : undefined),
      10_000,
      'the bootstrap membership to be bound',
    );
    const all = c.specs.map((s) => s.id);
    await waitApplied(c, all, (await statusOf(c, leader))?.commitIndex ?? 0);

    const [wiped, other] = all.filter((id) => id !== leader) as [string, string];
    await c.kill(wiped);
    rmSync(c.spec(wiped).dataDir, { recursive: true, force: true });
    c.start(wiped);
    const line = await waitLine(t, leader, /storage id does not match the membership/, 15_000);
    expect(JSON.parse(line)).toMatchObject({ members: [{ id: wiped }] });
    // The wiped node says so too (it learns from how its peers address it).
    await waitLine(t, wiped, /by another storage id \(its data dir was wiped or replaced\)|formatted anew/, 15_000);

    // Leader + wiped node only: no majority of counted members, so nothing commits.
    await c.kill(other);
    const commitBefore = (await statusOf(c, leader))?.commitIndex ?? 0;
    const lone = new Client({ servers: [c.servers[all.indexOf(leader)] as string], timeoutMs: 2_000 });
    fx.track(lone);
    await expect(lone.queue<{ k: string }>('w').enqueue({ k: 'must not commit' })).rejects.toThrow();
    const after = await Promise.all([statusOf(c, leader), statusOf(c, wiped)]);
    expect(after[0]?.commitIndex).toBe(commitBefore);
    expect(after.map((s) => s?.role)).not.toContain('leader');
    expect(after[1]?.appliedIndex ?? 0).toBeLessThan(commitBefore);
  });
});
