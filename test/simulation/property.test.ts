import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { plantedBugs } from './planted.js';
import { runSeed } from './sim.js';

// Fault schedules as fast-check values: a failure shrinks towards fewer crashes, fewer partitions,
// less loss and a smaller seed, and the counterexample replays exactly through runSeed.
const schedule = fc.record({
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  nodes: fc.constantFrom(3, 5),
  lossMax: fc.double({ min: 0, max: 0.3, noNaN: true }),
  crashes: fc.integer({ min: 1, max: 6 }),
  partitions: fc.integer({ min: 1, max: 5 }),
  wipeChance: fc.double({ min: 0, max: 0.5, noNaN: true }),
  leaderCrashChance: fc.double({ min: 0, max: 0.3, noNaN: true }),
});
type Schedule = typeof schedule extends fc.Arbitrary<infer T> ? T : never;

describe('simulation - fast-check over fault schedules', () => {
  it('no schedule breaks safety or liveness', () => {
    fc.assert(
      fc.property(schedule, (o) => {
        expect(runSeed(o).violations).toEqual([]);
      }),
      { numRuns: 40, seed: 20_26 },
    );
  });

  it('a planted bug is found and shrunk to a small schedule', () => {
    // Every failing schedule, in order: the first is the one fast-check generated, before any shrinking
    // (the shrinker only re-runs the property on smaller candidates).
    const failures: Schedule[] = [];
    const details = fc.check(
      fc.property(schedule, (o) => {
        // Serial writes (pipelineChance 0): the shrink bound below was measured on those schedules.
        const ok =
          runSeed({ ...o, pipelineChance: 0, faults: plantedBugs['no-config-revert'] }).violations.length === 0;
        if (!ok) failures.push(o);
        return ok;
      }),
      { numRuns: 300, seed: 7 },
    );
    expect(details.failed).toBe(true);
    const [found] = details.counterexample ?? [];
    const [first] = failures;
    expect(found).toBeDefined();
    expect(first).toBeDefined();
    if (found === undefined || first === undefined) return;
    expect(details.numShrinks).toBeGreaterThan(0);
    // The shrunk schedule still fails when replayed.
    const replay = runSeed({ ...found, pipelineChance: 0, faults: plantedBugs['no-config-revert'] });
    expect(replay.violations.join()).toMatch(/config/);
    // Shrinking made the schedule smaller: no field grew, and at least one is strictly smaller than in
    // the first failing schedule (this fails if shrinking did nothing).
    const fields = ['seed', 'nodes', 'lossMax', 'crashes', 'partitions', 'wipeChance', 'leaderCrashChance'] as const;
    for (const k of fields) expect(found[k], k).toBeLessThanOrEqual(first[k]);
    expect(fields.filter((k) => found[k] < first[k])).not.toEqual([]);
    // And it is small. The bound is measured, not derived (session 36, after the candidate timeout
    // change): the first failure has 6 crashes + 1 partition, and every schedule with fewer that the
    // shrinker tries passes, so it keeps all 7 (it takes the seed 50693 → 1 and the loss, wipe and
    // leader-crash chances down instead). Before the change it shrank the same first failure to 5 + 1,
    // and the bound was 6.
    expect(found.crashes + found.partitions).toBeLessThanOrEqual(7);
  });
});
