import { describe, expect, it } from 'vitest';
import { runNodeSeed } from './node/sim.js';

// State machine versions under the node simulation (issue 16, test/simulation/node/versions.ts):
// replicas capped at SM_MAX = 1 (the previous release) beside uncapped ones, with every fault of the
// simulation. The simulation compares every replica's digest at every applied index, so "no
// violations" means capped and uncapped replicas agreed before and after the activation. Seeded:
// replay a failure with its seed.

const STOP = 'the cluster runs state machine version 2; this raftq supports up to 1: upgrade this member';

describe('node simulation - state machine versions', () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed} (3 nodes): refused while n3 runs version 1, activated after its upgrade; digests agree`, async () => {
      const r = await runNodeSeed({
        seed,
        nodes: 3,
        tolerateLeaderMonoLag: true,
        versions: { capped: ['n3'], upgradeAtMs: 3_000, activateFromMs: 1_000 },
      });
      expect(r.violations).toEqual([]);
      const v = r.versions;
      expect(v?.refusals.some((m) => m.includes('n3 (supports up to 1)'))).toBe(true);
      expect(v?.refusals.every((m) => !m.includes('n1 (') && !m.includes('n2 ('))).toBe(true);
      expect(v?.activatedAtMs).toBeGreaterThanOrEqual(3_000);
      expect(v?.stops).toEqual([]);
      expect(v?.finalVersions).toEqual({ n1: 2, n2: 2, n3: 2 });
      expect(r.totals.completed).toBeGreaterThan(20);
    });
  }

  it('seed 4 (5 nodes): never activated while two members stay capped; capped and uncapped agree', async () => {
    const r = await runNodeSeed({
      seed: 4,
      nodes: 5,
      tolerateLeaderMonoLag: true,
      versions: { capped: ['n2', 'n5'], upgradeAtMs: null, activateFromMs: 500 },
    });
    expect(r.violations).toEqual([]);
    expect(r.versions?.activatedAtMs).toBeNull();
    expect(r.versions?.refusals).toContain(
      'cannot activate state machine version 2: n2 (supports up to 1), n5 (supports up to 1) are behind; upgrade them first',
    );
    expect(r.versions?.finalVersions).toEqual({ n1: 1, n2: 1, n3: 1, n4: 1, n5: 1 });
  });

  it('seed 5 (3 nodes): activated past the check, the capped replica stops with the message', async () => {
    const r = await runNodeSeed({
      seed: 5,
      nodes: 3,
      liveness: false,
      tolerateLeaderMonoLag: true,
      versions: { capped: ['n3'], upgradeAtMs: null, activateFromMs: 1_500, skipCheck: true },
    });
    expect(r.violations).toEqual([]);
    expect(r.versions?.activatedAtMs).not.toBeNull();
    expect(r.versions?.stops.length).toBeGreaterThan(0);
    expect(new Set(r.versions?.stops)).toEqual(new Set([`n3: ${STOP}`]));
    const final = r.versions?.finalVersions ?? {};
    expect(final['n3'] ?? null).toBeNull();
  });
});
