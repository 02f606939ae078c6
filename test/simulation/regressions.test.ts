import { describe, expect, it } from 'vitest';
import { runSeed } from './sim.js';
import type { SimOptions } from './sim.js';

// Seeds that once failed, kept so they keep passing. Each names what broke. (Seeds found before a
// change to the simulator's own schedule replay a different schedule now; they stay as extra seeds,
// and each bug also has a directed test in test/unit/raft.)
const cases: { what: string; options: SimOptions }[] = [
  {
    what: 'an ack queued before a truncation was sent after it (acked entries that were no longer on disk)',
    options: { seed: 615, nodes: 5 },
  },
  { what: 'same bug, second seed', options: { seed: 932, nodes: 5 } },
  {
    what: 'sim: a disk wipe during an uncommitted promotion left no quorum (wipe only a healthy full cluster)',
    options: { seed: 184, nodes: 3 },
  },
  {
    what: 'sim: a wipe while an isolated old leader had appended its own removal',
    options: { seed: 2787, nodes: 3 },
  },
  {
    what: 'sim: a leader crash scheduled before the liveness phase left the node down for good',
    options: { seed: 147, nodes: 3 },
  },
  {
    what: 'checker: a vote answered in term T, then a higher term persisted before the answer went out',
    options: { seed: 108, nodes: 3, leaderCrashChance: 0.2 },
  },
];

describe('simulation - regressions', () => {
  for (const c of cases) {
    it(`seed ${c.options.seed} (${c.options.nodes} nodes): ${c.what}`, () => {
      const r = runSeed(c.options);
      expect(r.violations).toEqual([]);
      // Replays are exact: the same seed gives the same trace.
      expect(runSeed(c.options).traceHash).toBe(r.traceHash);
    });
  }
});
