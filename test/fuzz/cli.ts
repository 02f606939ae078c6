// `npm run fuzz [-- --count N --time-ms MS --seed S]`: fuzz a real 3-node cluster (fuzz.ts) within the
// bounds and exit 0 when nothing crashed, no call ended INTERNAL / UNKNOWN and the digests agree.
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
for (const f of report.failures) process.stdout.write(`FAIL ${f}\n`);
process.stdout.write(report.failures.length === 0 ? 'fuzz: passed\n' : `fuzz: FAILED (seed ${opts.seed})\n`);
process.exit(report.failures.length === 0 ? 0 : 1);
