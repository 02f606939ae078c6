// `npm run fuzz [-- --count N --time-ms MS --seed S]`: fuzz a real 3-node cluster (fuzz.ts) within the
// bounds and exit 0 when nothing crashed, no call ended INTERNAL / UNKNOWN and the digests agree.
import { fuzzDecoders } from './decoders.js';
import { runFuzz } from './fuzz.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const n = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(n) || n < 0) {
    process.stderr.write(`fuzz: --${name} must be a non-negative integer\n`);
    process.exit(2);
  }
  return n;
}

const opts = {
  count: arg('count', 100_000),
  timeMs: arg('time-ms', 15 * 60_000),
  seed: arg('seed', Math.floor(Math.random() * 2 ** 31)),
  concurrency: arg('concurrency', 8),
};
process.stdout.write(`fuzz: seed ${opts.seed}, up to ${opts.count} inputs within ${opts.timeMs} ms\n`);
const started = performance.now();
const report = await runFuzz({ ...opts, log: (l) => process.stdout.write(`${l}\n`) });
const secs = ((performance.now() - started) / 1000).toFixed(1);
process.stdout.write(
  `fuzz: ${report.sent} inputs in ${secs} s; by surface ${JSON.stringify(report.bySurface)}; codes ${JSON.stringify(report.codes)}; digests compared at ${report.digestsCompared} indexes\n`,
);
// The log-entry and snapshot decoders, in process: a quarter as many entries, a tenth of that in snapshots.
const t = performance.now();
const dec = fuzzDecoders(Math.ceil(opts.count / 4), opts.seed);
process.stdout.write(
  `fuzz: decoders: ${dec.entries} entries (${dec.undecodable} undecodable), ${dec.snapshots} snapshots (${dec.snapshotRefused} refused) in ${((performance.now() - t) / 1000).toFixed(1)} s\n`,
);
const failures = [...report.failures, ...dec.failures];
for (const f of failures) process.stdout.write(`FAIL ${f}\n`);
process.stdout.write(failures.length === 0 ? 'fuzz: passed\n' : `fuzz: FAILED (seed ${opts.seed})\n`);
process.exit(failures.length === 0 ? 0 : 1);
