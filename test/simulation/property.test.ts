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
    const details = fc.check(
      fc.property(schedule, (o) => {
        // Serial writes (pipelineChance 0): the shrink bound below was measured on those schedules.
        return runSeed({ ...o, pipelineChance: 0, faults: plantedBugs['no-config-revert'] }).violations.length === 0;
      }),
      { numRuns: 300, seed: 7 },
    );
    expect(details.failed).toBe(true);
    const [found] = details.counterexample ?? [];
    expect(found).toBeDefined();
    if (found === undefined) return;
    expect(details.numShrinks).toBeGreaterThan(0);
    // The shrunk schedule still fails when replayed.
    const replay = runSeed({ ...found, pipelineChance: 0, faults: plantedBugs['no-config-revert'] });
    expect(replay.violations.join()).toMatch(/config/);
    expect(found.crashes + found.partitions).toBeLessThanOrEqual(6);
  });
});
