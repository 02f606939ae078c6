// `tsx bench/warmup.ts SERVERS N [SECONDS]`: N tasks end to end (workload B's flow, on a queue of its
// own, every task acknowledged), then SECONDS of workload C's flow (1,000 tasks/s, one enqueue per
// call, a held lease waiting), against a running cluster, then exit. The cluster bench runs it in a
// process of its own before A (`--warmup N`): the nodes' JIT then runs the measured workloads in
// optimised code, as a broker that has been serving does. V8 optimises a function only after many
// calls; in a fresh node the state machine's hot functions were still in baseline code seconds into
// the workloads (session 21), and after B's flow alone the nodes still completed about 400 TurboFan
// compilations each during C (TurboFan was 19 % of a node's CPU there; session 22). The measuring
// process, like the peers' clients, starts cold.
import { endToEndOn, latencyOn } from './e2e.js';

const [servers, n, seconds] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4] ?? '0')];
if (servers === undefined || !Number.isSafeInteger(n) || n < 1 || !Number.isSafeInteger(seconds) || seconds < 0)
  throw new Error('usage: warmup.ts SERVERS N [SECONDS]');
const list = servers.split(',');
const b = await endToEndOn(list, n, 120);
const c = seconds > 0 ? await latencyOn(list, 1000, seconds) : null;
process.stdout.write(`${JSON.stringify({ b, c: c && { sent: c.sent, received: c.received, errors: c.errors } })}\n`);
if (b.unique < n || (c !== null && c.received < c.sent)) process.exitCode = 1;
