// npm run sim -- --seeds N [--nodes 3|5] [--from S]   run N seeds (half 3 nodes, half 5 unless --nodes)
// npm run sim -- --seed S [--nodes 3|5] [--trace]      replay one seed exactly (prints its trace hash)
// Exits non-zero and prints the seed on any violation. The last line is `N seeds, V violations`.

import { Command } from 'commander';
import { runSeed } from './sim.js';
import type { SimResult, SimTotals } from './sim.js';
import { addTotals, coverageGaps } from './seeds.js';

const program = new Command()
  .name('sim')
  .option('--seeds <n>', 'number of seeds to run', (v) => Number.parseInt(v, 10))
  .option('--seed <s>', 'replay one seed', (v) => Number.parseInt(v, 10))
  .option('--from <s>', 'first seed of a range', (v) => Number.parseInt(v, 10), 1)
  .option('--nodes <n>', 'cluster size (3 or 5); default: the first half of the seeds 3, the rest 5', (v) =>
    Number.parseInt(v, 10),
  )
  .option('--trace', 'print the event trace of a replayed seed')
  .parse();

const opts = program.opts<{ seeds?: number; seed?: number; from: number; nodes?: number; trace?: boolean }>();

function printTotals(t: SimTotals): void {
  const rows: [string, number][] = [
    ['elections', t.elections],
    ['log truncations', t.truncations],
    ['snapshots installed', t.snapshotsInstalled],
    ['membership changes', t.membershipChanges],
    ['leadership transfers', t.transfers],
    ['ReadIndex reads', t.readIndexReads],
    ['crashes', t.crashes],
    ['crashes losing unsynced writes', t.crashesLosingWrites],
    ['disk wipes', t.wipes],
    ['partitions', t.partitions],
    ['committed entries', t.commits],
    ['events', t.events],
  ];
  for (const [name, v] of rows) console.log(`  ${name.padEnd(32)} ${v}`);
}

function report(r: SimResult): void {
  console.log(`seed ${r.seed} (${r.nodes} nodes): ${r.violations.length} violation(s), trace hash ${r.traceHash}`);
  for (const v of r.violations) console.log(`  VIOLATION ${v}`);
}

if (opts.seed !== undefined) {
  const nodes = opts.nodes ?? 3;
  const r = runSeed({ seed: opts.seed, nodes, trace: opts.trace === true });
  if (opts.trace === true) for (const line of r.trace) console.log(line);
  report(r);
  printTotals(r.totals);
  console.log(`1 seeds, ${r.violations.length > 0 ? 1 : 0} violations`);
  process.exit(r.violations.length > 0 ? 1 : 0);
}

const count = opts.seeds ?? 1000;
const totals: SimTotals = {
  elections: 0,
  truncations: 0,
  snapshotsInstalled: 0,
  membershipChanges: 0,
  transfers: 0,
  readIndexReads: 0,
  crashes: 0,
  crashesLosingWrites: 0,
  wipes: 0,
  partitions: 0,
  commits: 0,
  events: 0,
};
let violations = 0;
let uncovered = 0;
const started = performance.now();
for (let k = 0; k < count; k++) {
  const seed = opts.from + k;
  const nodes = opts.nodes ?? (k < count / 2 ? 3 : 5);
  const r = runSeed({ seed, nodes });
  addTotals(totals, r.totals);
  if (r.violations.length > 0) {
    violations++;
    report(r);
    console.log(`  replay: npm run sim -- --seed ${seed} --nodes ${nodes} --trace`);
  }
  const gaps = coverageGaps(r);
  if (gaps.length > 0) {
    uncovered++;
    console.log(`seed ${seed} (${nodes} nodes): coverage gap: ${gaps.join(', ')}`);
  }
  if ((k + 1) % 1000 === 0) {
    const s = ((performance.now() - started) / 1000).toFixed(0);
    console.error(`… ${k + 1}/${count} seeds, ${violations} violations, ${s} s`);
  }
}
console.log(`totals over ${count} seeds (${((performance.now() - started) / 1000).toFixed(1)} s):`);
printTotals(totals);
if (uncovered > 0) console.log(`${uncovered} seeds missed a coverage floor`);
console.log(`${count} seeds, ${violations} violations`);
process.exit(violations > 0 ? 1 : 0);
