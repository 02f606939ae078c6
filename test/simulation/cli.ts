// npm run sim -- --seeds N [--nodes 3|5] [--from S]   run N seeds (half 3 nodes, half 5 unless --nodes)
// npm run sim -- --seed S [--nodes 3|5] [--trace] [--schedule JSON]   replay one seed exactly (prints its trace hash)
// Exits non-zero and prints the seed on any violation. The last line is `N seeds, V violations`.

import { availableParallelism } from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Command } from 'commander';
import { emptyTotals, runSeed } from './sim.js';
import type { SimOptions, SimResult, SimTotals } from './sim.js';
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
  .option('--schedule <json>', 'fault knobs for --seed, e.g. a fast-check counterexample: {"crashes":1,"lossMax":0.1}')
  .option('--workers <n>', 'worker threads (default: up to 2)', (v) => Number.parseInt(v, 10));

interface Job {
  from: number;
  count: number;
  nodes: number | undefined;
  worker: number;
  workers: number;
}

interface SeedOutcome {
  seed: number;
  nodes: number;
  violations: string[];
  traceHash: number;
  totals: SimTotals;
  gaps: string[];
}

/** Seed k of a run of `count` uses 3 nodes in the first half and 5 in the second unless --nodes. */
function nodesFor(job: Job, k: number): number {
  return job.nodes ?? (k < job.count / 2 ? 3 : 5);
}

if (!isMainThread) {
  const job = workerData as Job;
  const batch: SeedOutcome[] = [];
  for (let k = job.worker; k < job.count; k += job.workers) {
    const seed = job.from + k;
    const nodes = nodesFor(job, k);
    const r = runSeed({ seed, nodes });
    batch.push({
      seed,
      nodes,
      violations: r.violations,
      traceHash: r.traceHash,
      totals: r.totals,
      gaps: coverageGaps(r),
    });
    if (batch.length >= 50) parentPort?.postMessage(batch.splice(0));
  }
  parentPort?.postMessage(batch.splice(0));
  parentPort?.close();
} else {
  await main();
}

async function main(): Promise<void> {
  program.parse();
  const opts = program.opts<{
    seeds?: number;
    seed?: number;
    from: number;
    nodes?: number;
    trace?: boolean;
    workers?: number;
    schedule?: string;
  }>();
  if (opts.seed !== undefined) {
    const knobs = opts.schedule === undefined ? {} : (JSON.parse(opts.schedule) as Partial<SimOptions>);
    const nodes = opts.nodes ?? knobs.nodes ?? 3;
    const r = runSeed({ ...knobs, seed: opts.seed, nodes, trace: opts.trace === true });
    if (opts.trace === true) for (const line of r.trace) console.log(line);
    report(r);
    printTotals(r.totals);
    console.log(`1 seeds, ${r.violations.length > 0 ? 1 : 0} violations`);
    process.exit(r.violations.length > 0 ? 1 : 0);
  }
  await runMany(opts.seeds ?? 1000, opts.from, opts.nodes, opts.workers ?? Math.min(2, availableParallelism()));
}

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
    ['leader crashes between its Appends and its write', t.crashesBeforeWrite],
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

async function runMany(count: number, from: number, nodes: number | undefined, workers: number): Promise<void> {
  const totals: SimTotals = emptyTotals();
  let done = 0;
  let violations = 0;
  let uncovered = 0;
  const started = performance.now();
  const onOutcome = (o: SeedOutcome): void => {
    done++;
    addTotals(totals, o.totals);
    if (o.violations.length > 0) {
      violations++;
      console.log(`seed ${o.seed} (${o.nodes} nodes): ${o.violations.length} violation(s), trace hash ${o.traceHash}`);
      for (const v of o.violations) console.log(`  VIOLATION ${v}`);
      console.log(`  replay: npm run sim -- --seed ${o.seed} --nodes ${o.nodes} --trace`);
    }
    if (o.gaps.length > 0) {
      uncovered++;
      console.log(`seed ${o.seed} (${o.nodes} nodes): coverage gap: ${o.gaps.join(', ')}`);
    }
    if (done % 1000 === 0) {
      const secs = ((performance.now() - started) / 1000).toFixed(0);
      console.error(`… ${done}/${count} seeds, ${violations} violations, ${secs} s`);
    }
  };
  const n = Math.max(1, Math.min(workers, count));
  await Promise.all(
    Array.from({ length: n }, (_, worker) => {
      const job: Job = { from, count, nodes, worker, workers: n };
      return new Promise<void>((resolve, reject) => {
        // Workers load this file through tsx's API (loader hooks do not reach worker threads on Node 20).
        const self = JSON.stringify(import.meta.url);
        const boot = `import('tsx/esm/api').then(({ tsImport }) => tsImport(${self}, ${self}))`;
        const w = new Worker(boot, { eval: true, workerData: job });
        w.on('message', (batch: SeedOutcome[]) => batch.forEach(onOutcome));
        w.on('error', reject);
        w.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker ${worker} exited with ${code}`))));
      });
    }),
  );
  console.log(`totals over ${count} seeds (${((performance.now() - started) / 1000).toFixed(1)} s, ${n} workers):`);
  printTotals(totals);
  if (uncovered > 0) console.log(`${uncovered} seeds missed a coverage floor`);
  if (done !== count) console.log(`only ${done} of ${count} seeds reported`);
  console.log(`${count} seeds, ${violations} violations`);
  process.exit(violations > 0 || done !== count ? 1 : 0);
}
