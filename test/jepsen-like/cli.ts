// npm run jepsen -- --nodes 3|5 --nemesis kill,pause,partition,power,clock,disk,snapshot,all | --schedule C1
//                   --time SECONDS --seed S [--out DIR] [--plant NAME] [--keep-data] [--quiet] [--schedules]
// Exit status: 0 every check passed, 1 violations, 2 harness failure (including bad arguments).
// Run `npm run build` first: the nodes run the compiled dist/.
import { Command, InvalidArgumentError } from 'commander';
import { runJepsen, type RunOptions } from './lib/run.js';

function int(name: string, lo: number, hi: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < lo || n > hi)
      throw new InvalidArgumentError(`${name} must be an integer in ${lo}..${hi}`);
    return n;
  };
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command('jepsen')
    .description('raftq jepsen-like fault-injection run against real node processes on loopback')
    .option('--nodes <n>', 'cluster size: 3 or 5', int('nodes', 3, 5), 3)
    .option('--nemesis <list>', 'kill,pause,partition,power,clock,disk,snapshot or all')
    .option('--schedule <name>', 'a named combination: C1 … C13')
    .option('--time <seconds>', 'length of the fault phase', int('time', 1, 86_400), 60)
    .option('--seed <s>', 'seed of the schedule and the workload', int('seed', 0, 2 ** 31 - 1))
    .option('--out <dir>', 'run folder (default: under the temp dir)')
    .option(
      '--plant <bug>',
      'planted bug: ack-before-fsync, wall-clock-lease, no-token-check, mono-drift, gc-deletes-live-entry',
    )
    .option('--keep-data', 'keep the nodes data dirs even on a pass')
    .option('--strict-probes', 'L1 probes through each node alone (no fallback to the others)')
    .option('--quiet', 'print only the summary')
    .option('--schedules', 'a schedule every second through the run: each slot fired once, none missed')
    .exitOverride();
  try {
    program.parse(argv);
  } catch (e) {
    const code = (e as { exitCode?: number }).exitCode;
    return code === 0 ? 0 : 2;
  }
  const a = program.opts<{
    nodes: number;
    nemesis?: string;
    schedule?: string;
    time: number;
    seed?: number;
    out?: string;
    plant?: string;
    keepData?: boolean;
    strictProbes?: boolean;
    quiet?: boolean;
    schedules?: boolean;
  }>();
  if (a.nodes !== 3 && a.nodes !== 5) {
    process.stderr.write('jepsen: --nodes must be 3 or 5\n');
    return 2;
  }
  const seed = a.seed ?? Math.floor(Math.random() * 2 ** 31);
  const opts: RunOptions = {
    nodes: a.nodes,
    timeSec: a.time,
    seed,
    ...(a.nemesis !== undefined ? { nemesis: a.nemesis } : {}),
    ...(a.schedule !== undefined ? { schedule: a.schedule } : {}),
    ...(a.nemesis === undefined && a.schedule === undefined && a.plant === undefined ? { nemesis: 'all' } : {}),
    ...(a.out !== undefined ? { out: a.out } : {}),
    ...(a.plant !== undefined ? { plant: a.plant } : {}),
    ...(a.keepData === true ? { keepData: true } : {}),
    ...(a.strictProbes === true ? { strictProbes: true } : {}),
    ...(a.schedules === true ? { schedules: true } : {}),
    ...(a.quiet === true ? {} : { log: (line: string) => process.stderr.write(line + '\n') }),
  };
  const r = await runJepsen(opts);
  process.stdout.write(r.summary);
  process.stdout.write(`\nrun folder: ${r.dir}\nexit ${r.exitCode} (${r.status}); repeat with --seed ${seed}\n`);
  return r.exitCode;
}

main(process.argv).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`jepsen: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(2);
  },
);
