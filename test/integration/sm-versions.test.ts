// State machine versions with real processes (issue 16, docs/operations.md "Upgrades"): a 3-node
// cluster with n3 started as an older release (RAFTQ_TEST_SM_MAX=1, the test hook). Activation of
// version 2 is refused naming n3 and its version; `members list` shows each member's SM_MAX; after
// n3 is restarted on the new release (a rolling upgrade), activation succeeds, every node runs
// version 2, the digests agree on all nodes and version 2's behaviour shows (a published task's
// story names its topic, where the same publish before the activation did not). A member downgraded
// after the leader's check stops when it receives the activation, with the message, exit non-zero.
import { describe, expect, it } from 'vitest';
import type { LocalClusterOptions } from '../../src/node/local-cluster.js';
import { clusterPerTest } from '../support/cluster.js';
import { TEST_HOOKS_EXEC_ARGV } from '../support/hooks.js';
import { assertDigestsAgree, statusOf, waitFor, waitForLeader, type TestCluster } from './helpers.js';
import { runRaftq, waitApplied, waitExit } from './node-helpers.js';

const fx = clusterPerTest();
const STOP = 'the cluster runs state machine version 2; this raftq supports up to 1: upgrade this member';

/** Nodes listed here start capped at SM_MAX 1 (an older release); the set changes between restarts. */
const capped = new Set<string>();
const opts: Partial<LocalClusterOptions> = {
  execArgv: TEST_HOOKS_EXEC_ARGV,
  perNode: (spec) => (capped.has(spec.id) ? { env: { RAFTQ_TEST_SM_MAX: '1' } } : {}),
};

function admin(tc: TestCluster): string {
  return tc.cluster.specs.map((s) => `127.0.0.1:${s.httpPort}`).join(',');
}

async function publishStory(tc: TestCluster): Promise<string | undefined> {
  const servers = tc.cluster.servers.join(',');
  const pub = await runRaftq(['topics', 'publish', 'orders', '{"n":1}', '--servers', servers, '--json']);
  expect(pub.code, pub.stderr).toBe(0);
  const id = (JSON.parse(pub.stdout) as { items: { id: string }[] }).items[0]?.id ?? '';
  const got = await runRaftq(['tasks', 'get', id, '--servers', servers, '--json']);
  expect(got.code, got.stderr).toBe(0);
  const story = (JSON.parse(got.stdout) as { story: { kind: string; detail?: string }[] }).story;
  const step = story.find((s) => s.kind === 'enqueued');
  expect(step).toBeDefined();
  return step?.detail;
}

/** Restarts `id` (SIGTERM, start) and waits until it applied what the leader committed. */
async function restart(tc: TestCluster, id: string): Promise<void> {
  const c = tc.cluster;
  await c.signal(id, 'SIGTERM');
  c.start(id);
  const leader = await waitForLeader(c);
  await waitApplied(c, [id], (await statusOf(c, leader))?.commitIndex ?? 0);
}

describe('state machine versions (real processes)', () => {
  it('activation waits for every member to run version 2; a downgraded member stops on it', async () => {
    capped.clear();
    capped.add('n3');
    const tc = await fx.start(3, opts);
    const c = tc.cluster;
    const ids = c.specs.map((s) => s.id);
    await waitForLeader(c);
    const servers = c.servers.join(',');
    const bind = await runRaftq(['topics', 'bind', 'orders', 'billing', '--servers', servers]);
    expect(bind.code, bind.stderr).toBe(0);

    // 1. n3 runs an older release: refused, naming it and its version; members list shows it.
    const refused = await runRaftq(['cluster', 'activate-version', '2', '--admin', admin(tc)]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('MEMBERS_BEHIND');
    expect(refused.stderr).toContain('n3 (supports up to 1)');
    expect(refused.stderr).not.toContain('n1 (');
    const list = await runRaftq(['members', 'list', '--servers', servers, '--json']);
    const rows = (JSON.parse(list.stdout) as { members: { id: string; smMax: number; activeVersion: number }[] })
      .members;
    expect(rows.map((m) => [m.id, m.smMax, m.activeVersion])).toEqual([
      ['n1', 2, 1],
      ['n2', 2, 1],
      ['n3', 1, 1],
    ]);
    expect(await publishStory(tc)).toBeUndefined(); // version 1: the story does not name the topic

    // 2. The rolling upgrade of n3: the leader hears it now runs version 2.
    capped.delete('n3');
    await restart(tc, 'n3');
    const versions = await runRaftq(['cluster', 'versions', '--admin', admin(tc), '--json']);
    expect(versions.code, versions.stderr).toBe(0);
    expect(JSON.parse(versions.stdout)).toMatchObject({
      activeVersion: 1,
      members: [
        { id: 'n1', smMax: 2 },
        { id: 'n2', smMax: 2 },
        { id: 'n3', smMax: 2 },
      ],
    });

    // 3. n3 goes down and comes back on the older release after the check (its last report said 2):
    // the activation commits on n1 and n2; n3 receives it and stops without applying it, saying why.
    await c.signal('n3', 'SIGTERM');
    await waitForLeader(c);
    const ok = await runRaftq(['cluster', 'activate-version', '2', '--admin', admin(tc)]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^state machine version 2 active from index \d+/);
    capped.add('n3');
    const before = tc.exits.filter((e) => e.id === 'n3').length;
    c.start('n3');
    const exit = await waitExit(tc, 'n3', before, 30_000);
    expect(exit.code).toBe(4);
    expect((tc.lines.get('n3') ?? []).some((l) => l.includes(STOP))).toBe(true);

    // 4. Upgraded again, n3 applies the activation; every node runs version 2, digests agree on all
    // nodes, and version 2's behaviour shows.
    capped.clear();
    c.start('n3');
    await waitFor(async () => ((await statusOf(c, 'n3'))?.activeVersion === 2 ? true : undefined), 30_000, 'n3 v2');
    const again = await runRaftq(['cluster', 'activate-version', '2', '--admin', admin(tc), '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ ok: true, activeVersion: 2, changed: false });
    expect(await publishStory(tc)).toBe('published to topic orders');
    const leader = await waitForLeader(c);
    await waitApplied(c, ids, (await statusOf(c, leader))?.commitIndex ?? 0);
    for (const id of ids) expect((await statusOf(c, id))?.activeVersion).toBe(2);
    expect(await assertDigestsAgree(c, ids)).toBeGreaterThan(0);
  });
});
