import { describe, expect, it } from 'vitest';
import { runRange } from './seeds.js';

// Seeds 1..500 with 5 nodes, all faults. A failure names its seed: replay it with
// `npm run sim -- --seed S --nodes 5 --trace`, then keep it in regressions.test.ts.
describe('simulation - 5 nodes, seeds 1..500', () => {
  const chunk = 125;
  for (let first = 1; first < 1 + 500; first += chunk) {
    it(`seeds ${first}..${first + chunk - 1}: safe, live, and covering every fault class`, () => {
      const report = runRange(5, first, chunk);
      expect(report.failures).toEqual([]);
      expect(report.uncovered).toEqual([]);
      expect(report.totals.elections).toBeGreaterThan(chunk);
      expect(report.totals.snapshotsInstalled).toBeGreaterThan(0);
      expect(report.totals.truncations).toBeGreaterThan(0);
    });
  }
});
