import { describe, expect, it } from 'vitest';
import { runRange } from './seeds.js';

// The fixed seeds of the simulation, all faults: 3 nodes on seeds 1..1000, 5 nodes on seeds 1..1000.
// Each row runs in chunks of 125 seeds. A failure names its seed: replay it with
// `npm run sim -- --seed S --nodes N --trace`, then keep it in regressions.test.ts.
const table: { nodes: number; count: number }[] = [
  { nodes: 3, count: 1000 },
  { nodes: 5, count: 1000 },
];
const chunk = 125;

describe.each(table)('simulation - $nodes nodes, seeds 1..$count', ({ nodes, count }) => {
  for (let from = 1; from <= count; from += chunk) {
    it(`seeds ${from}..${from + chunk - 1}: safe, live, and covering every fault class`, () => {
      const report = runRange(nodes, from, chunk);
      expect(report.failures).toEqual([]);
      expect(report.uncovered).toEqual([]);
      expect(report.totals.elections).toBeGreaterThan(chunk);
      expect(report.totals.snapshotsInstalled).toBeGreaterThan(0);
      expect(report.totals.truncations).toBeGreaterThan(0);
    });
  }
});
