// `npm run bench -- [name] [--json]`: runs the named benchmark (statemachine and e2e without a name).
// Each benchmark prints human-readable lines; with --json the last line is one JSON object.

type Bench = (opts: { json: boolean }) => Promise<Record<string, unknown>>;

/** Name -> module exporting `run`. Other benchmarks register here. */
const BENCHMARKS: Record<string, () => Promise<{ run: Bench }>> = {
  statemachine: () => import('./statemachine.js'),
  e2e: () => import('./e2e.js'),
  profile: () => import('./profile.js'),
  cluster: () => import('./cluster.js'),
  failover: () => import('./failover.js'),
  leasegap: () => import('./lease-gap.js'),
  transport: () => import('./transport.js'),
  sdk: () => import('./sdk-cost.js'),
  gctail: () => import('./gc-tail.js'),
  elections: () => import('./election-model.js'),
};

/** Run when no name is given: the quick ones (profile and cluster start clusters for minutes). */
const DEFAULT_SET = ['statemachine', 'e2e'];

/** Flags that take no value; every other `--flag` takes the next word. */
const BOOLEAN_FLAGS = new Set(['--json', '--quick', '--no-forward']);

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  // Names are the words that are neither flags nor a flag's value (`--n 100000`, `--peers nats`).
  const isValue = (i: number): boolean => {
    const prev = args[i - 1];
    return prev !== undefined && prev.startsWith('--') && !BOOLEAN_FLAGS.has(prev) && !prev.includes('=');
  };
  const names = args.filter((a, i) => !a.startsWith('--') && !isValue(i));
  const selected = names.length > 0 ? names : DEFAULT_SET;
  const results: Record<string, unknown> = {};
  for (const name of selected) {
    const load = BENCHMARKS[name];
    if (load === undefined) {
      console.error(`unknown benchmark ${name}; known: ${Object.keys(BENCHMARKS).join(', ')}`);
      process.exitCode = 2;
      return;
    }
    const { run } = await load();
    results[name] = await run({ json });
  }
  if (json) {
    const only = selected.length === 1 ? results[selected[0] as string] : results;
    console.log(JSON.stringify(only));
  }
}

await main();
