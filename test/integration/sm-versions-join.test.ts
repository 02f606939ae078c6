// A --join from a release below the cluster's active state machine version is refused before the
// node becomes a learner (issue 16, docs/operations.md "Upgrades"): the joiner (started through the
// test hook RAFTQ_TEST_SM_MAX=1, a previous release) logs the refusal with the member's message and
// does not retry; the membership stays without it.
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_HOOKS_EXEC_ARGV } from '../support/hooks.js';
import { statusOf, waitForLeader } from './helpers.js';
import { membershipOf, startGrowable, type GrowCluster } from './members-helpers.js';
import { runRaftq, waitLine } from './node-helpers.js';

const STOP = 'the cluster runs state machine version 2; this raftq supports up to 1: upgrade this member';

let tc: GrowCluster | null = null;
afterEach(async () => {
  await tc?.cleanup();
  tc = null;
});

describe('state machine versions - join', () => {
  it('refuses a --join from a release below the active version, before it is a learner', async () => {
    const g = await startGrowable(4, 3, {
      execArgv: TEST_HOOKS_EXEC_ARGV,
      perNode: (spec) => (spec.id === 'n4' ? { env: { RAFTQ_TEST_SM_MAX: '1' } } : {}),
    });
    tc = g;
    const leader = await waitForLeader(g.cluster);
    const on = await runRaftq(['cluster', 'activate-version', '2', '--admin', g.admin(g.founders)]);
    expect(on.code, on.stderr).toBe(0);
    g.startJoiner('n4');
    const line = await waitLine(g, 'n4', /the cluster refused to add this node/, 30_000);
    expect(line).toContain(STOP);
    expect(await membershipOf(g.cluster, leader)).toEqual(['n1:voter', 'n2:voter', 'n3:voter']);
    expect((await statusOf(g.cluster, leader))?.activeVersion).toBe(2);
  });
});
