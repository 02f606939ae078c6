// tsx test/simulation/node/cli.ts --seeds N [--from S] [--nodes 3|5]   run N seeds (half 3, half 5 nodes)
// tsx test/simulation/node/cli.ts --seed S [--nodes 3|5] [--trace]      replay one seed exactly
//   [--history FILE]: also write its client history (src/checker's JSON lines) and print the verdict
// Options for exploring: --hold MS (workers' maxHoldMs), --rate F (node monotonic rate factor),
// --fsync A,B (disk fsync latency range in ms, e.g. 2,30 for a slow disk).
// Prints totals; the last line is `N seeds, V violations`; exits non-zero on any violation.
import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { summary } from '../../../src/checker/index.js';
import { NodeSimulation, runNodeSeed, type NodeSimOptions, type NodeSimResult, type NodeSimTotals } from './sim.js';

const program = new Command()
  .name('node-sim')
  .option('--seeds <n>', 'number of seeds to run', (v) => Number.parseInt(v, 10))
  .option('--seed <s>', 'replay one seed', (v) => Number.parseInt(v, 10))
  .option('--from <s>', 'first seed of a range', (v) => Number.parseInt(v, 10), 1)
  .option('--nodes <n>', 'cluster size (3 or 5); default: first half 3, the rest 5', (v) => Number.parseInt(v, 10))
  .option('--hold <ms>', "workers' maxHoldMs", (v) => Number.parseInt(v, 10))
  .option('--rate <f>', 'node monotonic clock rate factor (beyond 1.0005 breaks the bound)', Number.parseFloat)
  .option('--blackouts <n>', 'client blackouts per seed', (v) => Number.parseInt(v, 10))
  .option('--fsync <a,b>', 'fsync latency range of every disk in ms (default 0.3,3)', (v) =>
    v.split(',').map(Number.parseFloat),
  )
  .option('--long', 'every handler runs 1-3 s (with --rate: provokes belief overlaps)')
  .option('--tolerate-mono-lag', 'do not fail on a leader stamping mono below its applied mono')
  .option('--trace', 'print the event trace of a replayed seed')
  .option('--history <file>', "write a replayed seed's client history (JSON lines) and print the checker's verdict")
  .parse();

const opts = program.opts<{
  seeds?: number;
  seed?: number;
  from: number;
  nodes?: number;
  hold?: number;
  rate?: number;
  blackouts?: number;
  long?: boolean;
  fsync?: number[];
  tolerateMonoLag?: boolean;
  trace?: boolean;
  history?: string;
}>();

function extra(): Partial<NodeSimOptions> {
  const o: Partial<NodeSimOptions> = { tolerateLeaderMonoLag: opts.tolerateMonoLag === true };
  if (opts.hold !== undefined) o.maxHoldMs = opts.hold;
  if (opts.rate !== undefined) o.nodeRateFactor = opts.rate;
  if (opts.blackouts !== undefined) o.clientBlackouts = opts.blackouts;
  if (opts.long === true) o.handlerMs = [1000, 3000];
  const f = opts.fsync;
  if (f !== undefined && f.length === 2) o.fsyncMs = [f[0] as number, f[1] as number];
  return o;
}

function report(r: NodeSimResult): void {
  console.log(`seed ${r.seed} (${r.nodes} nodes): ${r.violations.length} violation(s), trace hash ${r.traceHash}`);
  for (const v of r.violations) console.log(`  VIOLATION ${v}`);
}

function printTotals(t: NodeSimTotals): void {
  for (const [k, v] of Object.entries(t)) console.log(`  ${k.padEnd(22)} ${v}`);
}

function add(into: NodeSimTotals, t: NodeSimTotals): void {
  for (const k of Object.keys(t) as (keyof NodeSimTotals)[]) into[k] += t[k];
}

async function main(): Promise<number> {
  if (opts.seed !== undefined) {
    const nodes = opts.nodes ?? 3;
    const sim = new NodeSimulation({ seed: opts.seed, nodes, trace: opts.trace === true, ...extra() });
    const r = await sim.run();
    if (opts.trace === true) for (const line of r.trace) console.log(line);
    if (opts.history !== undefined) {
      writeFileSync(opts.history, sim.history.rec.toJsonLines());
      if (sim.history.verdict !== null) console.log(summary(sim.history.verdict));
    }
    report(r);
    printTotals(r.totals);
    console.log(`1 seeds, ${r.violations.length > 0 ? 1 : 0} violations`);
    return r.violations.length > 0 ? 1 : 0;
  }
  const count = opts.seeds ?? 100;
  let totals: NodeSimTotals | null = null;
  let violations = 0;
  const started = performance.now();
  for (let k = 0; k < count; k++) {
    const seed = opts.from + k;
    const nodes = opts.nodes ?? (k < count / 2 ? 3 : 5);
    const r = await runNodeSeed({ seed, nodes, ...extra() });
    if (totals === null) totals = { ...r.totals };
    else add(totals, r.totals);
    if (r.violations.length > 0) {
      violations++;
      report(r);
      console.log(`  replay: npx tsx test/simulation/node/cli.ts --seed ${seed} --nodes ${nodes} --trace`);
    }
  }
  console.log(`totals over ${count} seeds (${((performance.now() - started) / 1000).toFixed(1)} s):`);
  if (totals !== null) printTotals(totals);
  console.log(`${count} seeds, ${violations} violations`);
  return violations > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
