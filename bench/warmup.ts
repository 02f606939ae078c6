// `tsx bench/warmup.ts SERVERS N`: N tasks end to end (workload B's flow, on a queue of its own, every
// task acknowledged) against a running cluster, then exit. The cluster bench runs it in a process of its
// own before A (`--warmup N`): the nodes' JIT then runs the measured workloads in optimised code, as a
// broker that has been serving does (V8 optimises a function only after many calls; in a fresh node the
// state machine's hot functions were still in baseline code seconds into the workloads, session 21),
// while the measuring process, like the peers' clients, starts cold.
import { endToEndOn } from './e2e.js';

const [servers, n] = [process.argv[2], Number(process.argv[3])];
if (servers === undefined || !Number.isSafeInteger(n) || n < 1) throw new Error('usage: warmup.ts SERVERS N');
const r = await endToEndOn(servers.split(','), n, 120);
process.stdout.write(`${JSON.stringify(r)}\n`);
if (r.unique < n) process.exitCode = 1;
