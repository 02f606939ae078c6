// Finds seeds on which the old-term-commit core loses a committed entry (with the direct rule check
// off), for planted-bugs.test.ts. The seeds depend on the simulator's schedule: rerun this when the
// simulator's random draws change.   tsx test/simulation/find-figure8.ts [count] [nodes]
import { figure8Profile, plantedBugs } from './planted.js';
import { runSeed } from './sim.js';

const count = Number(process.argv[2] ?? 3000);
const nodes = Number(process.argv[3] ?? 3);
for (let seed = 1; seed <= count; seed++) {
  const r = runSeed({ seed, nodes, ...figure8Profile, faults: plantedBugs['old-term-commit'] });
  const v = r.violations.find((x) => /leader completeness|state machine safety|commit:/.test(x));
  if (v !== undefined) console.log(`seed ${seed} (${nodes} nodes): ${v}`);
}
