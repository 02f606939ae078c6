import { describe, expect, it } from 'vitest';
import { runRange } from './seeds.js';
import { runSeed } from './sim.js';
import type { SimOptions } from './sim.js';

// docs/faults.md F7 / P11: a minority node's disk loses its last synced writes (a LevelDB log file cut short
// looks exactly like a torn, never-acknowledged write). The node storage notices through its promise
// file and restarts the node one term up and in recovery: no votes, no campaigns until its log holds
// everything that could have been committed with its lost acknowledgements. Replay a seed with
// `npm run sim -- --seed S --nodes N --trace --schedule '{"tailLossChance":0.6,"crashes":6}'`.
const tailLoss: Partial<SimOptions> = { tailLossChance: 0.6, crashes: 6 };

describe('simulation - lost synced tails on a minority', () => {
  it('3 nodes, seeds 1..300: safe and live, and every tail loss recovers', () => {
    const report = runRange(3, 1, 300, tailLoss);
    expect(report.failures).toEqual([]);
    expect(report.totals.tailLosses).toBeGreaterThan(150);
    // A node may still be recovering when the run ends only if it just lost its tail.
    expect(report.totals.recoveriesEnded).toBeGreaterThan(report.totals.tailLosses * 0.9);
  });

  it('5 nodes, seeds 1..150: safe and live, and every tail loss recovers', () => {
    const report = runRange(5, 1, 150, tailLoss);
    expect(report.failures).toEqual([]);
    expect(report.totals.tailLosses).toBeGreaterThan(80);
    expect(report.totals.recoveriesEnded).toBeGreaterThan(report.totals.tailLosses * 0.9);
  });

  it('3 nodes, seeds 1..300, losses on several nodes at once: always safe', () => {
    // Several nodes recovering at once may block elections (liveness is then not expected), but a
    // recovering node votes for a candidate whose log covers its floor, so most runs recover.
    const report = runRange(3, 1, 300, { tailLossChance: 0.7, crashes: 8, tailLossAnyone: true });
    expect(report.failures).toEqual([]);
    expect(report.totals.tailLosses).toBeGreaterThan(300);
    expect(report.totals.recoveriesEnded).toBeGreaterThan(report.totals.tailLosses * 0.9);
  });

  // The seeds where restarting as if nothing were lost (the bug of jepsen-like seed 104) breaks
  // safety; with recovery the same schedules pass.
  // Re-found after the candidate timeout change (session 36), which moved the old seeds (20, 38, 472, 738)
  // off their scenario: the first two 3-node and first two 5-node seeds, scanning up from 1 under `serial`,
  // whose run without recovery breaks leader completeness while the run with it is safe, loses a tail and
  // replays. Rerun such a scan when the simulator's random draws change.
  const planted: { seed: number; nodes: number; violation: RegExp }[] = [
    { seed: 7, nodes: 3, violation: /leader completeness: n3 \(term 6\) lacks committed index 69/ },
    { seed: 12, nodes: 3, violation: /leader completeness/ },
    { seed: 176, nodes: 5, violation: /leader completeness/ },
    { seed: 451, nodes: 5, violation: /leader completeness/ },
  ];
  // Searched with every node writing one Ready at a time (as the original seeds were found): pipelineChance 0.
  const serial: Partial<SimOptions> = { ...tailLoss, pipelineChance: 0 };
  for (const p of planted) {
    it(`seed ${p.seed} (${p.nodes} nodes): caught without recovery, safe with it`, () => {
      const bug = runSeed({ seed: p.seed, nodes: p.nodes, ...serial, recoverTailLoss: false });
      expect(bug.violations.join('\n')).toMatch(p.violation);
      const fixed = runSeed({ seed: p.seed, nodes: p.nodes, ...serial });
      expect(fixed.violations).toEqual([]);
      expect(fixed.totals.tailLosses).toBeGreaterThan(0);
      expect(runSeed({ seed: p.seed, nodes: p.nodes, ...serial }).traceHash).toBe(fixed.traceHash);
    });
  }
});
