// Runs ranges of seeds and reports each failure with its seed, so `npm run sim -- --seed S` replays it.

import { emptyTotals, runSeed } from './sim.js';
import type { SimOptions, SimResult, SimTotals } from './sim.js';

export interface RangeReport {
  seeds: number;
  failures: string[];
  /** Seeds that missed a coverage floor (crash losing writes, partition, simulated time, liveness). */
  uncovered: string[];
  totals: SimTotals;
}

export const MIN_SIMULATED_MS = 50 * 100; // 50 election timeouts of 10 ticks × 10 ms

export function coverageGaps(r: SimResult): string[] {
  const gaps: string[] = [];
  if (r.totals.crashesLosingWrites < 1) gaps.push('no crash lost unsynced writes');
  if (r.totals.partitions < 1) gaps.push('no partition');
  if (r.simulatedMs < MIN_SIMULATED_MS) gaps.push(`only ${r.simulatedMs.toFixed(0)} ms simulated`);
  return gaps;
}

export function addTotals(into: SimTotals, t: SimTotals): void {
  for (const k of Object.keys(t) as (keyof SimTotals)[]) into[k] += t[k];
}

export function runRange(nodes: number, first: number, count: number, extra: Partial<SimOptions> = {}): RangeReport {
  const report: RangeReport = {
    seeds: count,
    failures: [],
    uncovered: [],
    totals: emptyTotals(),
  };
  for (let seed = first; seed < first + count; seed++) {
    const r = runSeed({ seed, nodes, ...extra });
    addTotals(report.totals, r.totals);
    if (r.violations.length > 0) report.failures.push(`seed ${seed} (${nodes} nodes): ${r.violations.join('; ')}`);
    const gaps = coverageGaps(r);
    if (gaps.length > 0) report.uncovered.push(`seed ${seed} (${nodes} nodes): ${gaps.join(', ')}`);
  }
  return report;
}
