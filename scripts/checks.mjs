// `npm test`'s checks before the tests: lint beside typecheck-then-build, on two cores. Each is one
// mostly single-threaded process (eslint, tsc), so two lanes take about as long as lint alone instead
// of the sum of the three; CI's budget is 20 minutes and the tests fill most of it. Each check's
// output is printed whole when it ends (no interleaving); any failure fails the whole.
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import process from 'node:process';
import { performance } from 'node:perf_hooks';

/** Lanes run side by side; the checks of one lane in turn, stopping at the first failure. */
const LANES = [['lint'], ['typecheck', 'build']];

function run(name) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn('npm', ['run', '-s', name], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    child.stdout.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => out.push(b));
    child.on('error', (err) => out.push(Buffer.from(`${err.message}\n`)));
    child.on('close', (code, signal) => {
      const secs = ((performance.now() - t0) / 1000).toFixed(1);
      const ok = code === 0;
      process.stdout.write(`::: ${name} ${ok ? 'passed' : `FAILED (${code ?? signal})`} in ${secs} s\n`);
      process.stdout.write(Buffer.concat(out));
      resolve(ok);
    });
  });
}

async function lane(names) {
  for (const name of names) if (!(await run(name))) return false;
  return true;
}

const results = await Promise.all(LANES.map(lane));
process.exit(results.every(Boolean) ? 0 : 1);
