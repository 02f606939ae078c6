// End-to-end benchmark on a local 3-node cluster of real processes, with the workloads of
// ../shared/bench-peers (so ratios to NATS JetStream, RabbitMQ quorum queues and BullMQ compare like
// with like): A1 single enqueues with up to 256 in flight, A2 batches of 1000 with 2 in flight,
// B one producer and one worker end to end, C latency at a fixed 1,000 tasks/s, D server RSS.
// Tasks are 256-byte payloads. Every loop is bounded by a count and a deadline.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, type Queue } from './sdk.js';
import { LocalCluster, waitFor, type LocalClusterOptions } from '../src/node/local-cluster.js';

let PAYLOAD_BYTES = 256;

/** The task size of every workload (the peers' harness uses 256 B); at least 64 B for the header. */
export function setPayloadBytes(n: number): void {
  if (!Number.isSafeInteger(n) || n < 64 || n > 4 * 1024 * 1024) throw new Error('payload bytes must be in 64..4 MiB');
  PAYLOAD_BYTES = n;
}

export function payload(seq: number, sendMs = 0): Uint8Array {
  const head = `${seq}:${sendMs.toFixed(3)}:`;
  return new TextEncoder().encode(head + 'x'.repeat(Math.max(0, PAYLOAD_BYTES - head.length)));
}

export function parse(p: Uint8Array): { seq: number; sendMs: number } {
  const s = new TextDecoder().decode(p.subarray(0, 40));
  const a = s.indexOf(':');
  const b = s.indexOf(':', a + 1);
  return { seq: Number(s.slice(0, a)), sendMs: Number(s.slice(a + 1, b)) };
}

function pct(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

export function summary(xs: number[]): { n: number; p50: number; p99: number; max: number } {
  const s = Float64Array.from(xs).sort();
  return { n: s.length, p50: pct(s, 50), p99: pct(s, 99), max: s.length ? (s[s.length - 1] as number) : NaN };
}

/** RSS (KiB) of a process and its descendants, from /proc. */
export function treeRssKiB(root: number): number {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch {
      // gone
    }
  }
  let total = 0;
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      total += Number(m?.[1] ?? 0);
    } catch {
      // gone
    }
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}

export interface Cluster {
  cluster: LocalCluster;
  dir: string;
}

/** The repository root (the warm-up child runs there, as tsx resolves from it; the cluster bench's paths). */
export const BENCH_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

/**
 * Runs bench/warmup.ts in a process of its own (the measuring process and its SDK stay cold, as the
 * peers' clients are) and returns its one-line result; throws if it failed or outlived 180 s (the
 * child is then ended by the PID spawnSync started).
 */
export function warmUp(c: Cluster, n: number, seconds: number): string {
  const script = fileURLToPath(new URL('./warmup.ts', import.meta.url));
  const args = ['--import', 'tsx', script, c.cluster.servers.join(','), String(n), String(seconds)];
  const r = spawnSync(process.execPath, args, { cwd: BENCH_ROOT, encoding: 'utf8', timeout: 180_000 });
  if (r.status !== 0) throw new Error(`warm-up failed (${r.status ?? r.signal}): ${r.stderr.slice(-500)}`);
  return r.stdout.trim();
}

export async function startCluster(extra: Partial<LocalClusterOptions> = {}): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'raftq-bench-'));
  // RAFTQ_BENCH_NODE_FLAGS: extra node flags for every node process (experiments, e.g. V8 heap sizes).
  const flags = (process.env['RAFTQ_BENCH_NODE_FLAGS'] ?? '').split(' ').filter((f) => f !== '');
  const execArgv = [...flags, ...(extra.execArgv ?? [])];
  const cluster = await LocalCluster.create({ nodes: 3, dir, logLevel: 'warn', ...extra, execArgv });
  cluster.startAll();
  const client = new Client({ servers: cluster.servers, timeoutMs: 30_000 });
  await client.queue('warmup').enqueue(payload(0));
  await client.close();
  return { cluster, dir };
}

export async function stopCluster(c: Cluster): Promise<void> {
  await c.cluster.stopAll();
  // RAFTQ_BENCH_KEEP=1 keeps the data dirs (bench/replay.ts replays a node's log through a state machine).
  if (process.env['RAFTQ_BENCH_KEEP'] === '1') return console.error(`bench: data dirs kept in ${c.dir}`);
  rmSync(c.dir, { recursive: true, force: true });
}

/** Each node's RSS in MiB (the D target is per node). */
export function rssByNode(c: Cluster): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of c.cluster.specs) out[s.id] = Math.round(treeRssKiB(c.cluster.pid(s.id) ?? -1) / 1024);
  return out;
}

export function rss(c: Cluster): number {
  return Math.round(c.cluster.specs.reduce((sum, s) => sum + treeRssKiB(c.cluster.pid(s.id) ?? -1), 0) / 1024);
}

/** A1 / A2: enqueue n tasks, `window` calls (of `batch` tasks each, 0 = single) in flight. */
export async function enqueueWorkload(
  c: Cluster,
  n: number,
  window: number,
  batch: number,
  maxSec: number,
  queues = 1,
) {
  const client = new Client({ servers: c.cluster.servers, timeoutMs: 60_000 });
  const stamp = Date.now();
  const qs = Array.from({ length: queues }, (_, i) => client.queue<Uint8Array>(`a-${batch}-${stamp}-${i}`));
  let turn = 0;
  const deadline = performance.now() + maxSec * 1000;
  let next = 0;
  let acked = 0;
  const lat: number[] = [];
  const t0 = performance.now();
  const lane = async (): Promise<void> => {
    while (next < n && performance.now() < deadline) {
      const k = batch > 0 ? Math.min(batch, n - next) : 1;
      const from = next;
      next += k;
      const st = performance.now();
      const q = qs[turn++ % queues] as (typeof qs)[number];
      if (batch > 0) await q.enqueueMany(Array.from({ length: k }, (_, j) => ({ payload: payload(from + j) })));
      else await q.enqueue(payload(from));
      lat.push(performance.now() - st);
      acked += k;
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  const secs = (performance.now() - t0) / 1000;
  await client.close();
  return { n, acked, secs, rate: Math.round(acked / secs), callLatencyMs: summary(lat), queues: qs.map((q) => q.name) };
}

/** B: one producer (window 256) and one worker; time until every task was started once. */
export async function endToEnd(c: Cluster, n: number, maxSec: number) {
  return endToEndOn(c.cluster.servers, n, maxSec);
}

/** endToEnd against any servers (bench/warmup.ts runs it in a process of its own). */
export async function endToEndOn(servers: string[], n: number, maxSec: number) {
  const client = new Client({ servers, timeoutMs: 60_000 });
  const name = `b-${Date.now()}`;
  const seen = new Uint8Array(n);
  let unique = 0;
  let dups = 0;
  const t0 = performance.now();
  const worker = client.worker<Uint8Array>(
    name,
    (task) => {
      const { seq } = parse(task.payload);
      if (seen[seq]) dups++;
      else {
        seen[seq] = 1;
        unique++;
      }
    },
    { concurrency: 256, leaseMs: 30_000 },
  );
  const prod = enqueueProducer(client, name, n, maxSec);
  await prod;
  await waitFor(() => (unique >= n ? true : undefined), maxSec * 1000, 'the worker to see every task').catch(
    () => undefined,
  );
  const secs = (performance.now() - t0) / 1000;
  await worker.close({ timeoutMs: 10_000 });
  await client.close();
  return { n, unique, dups, secs, rate: Math.round(unique / secs), queue: name };
}

async function enqueueProducer(client: Client, name: string, n: number, maxSec: number): Promise<void> {
  const q = client.queue<Uint8Array>(name);
  const deadline = performance.now() + maxSec * 1000;
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n && performance.now() < deadline) await q.enqueue(payload(next++));
  };
  await Promise.all(Array.from({ length: 256 }, lane));
}

/**
 * Workload C's producer: enqueues payload(seq, sendMs) for seq 0..n-1 at a steady `rate` per second,
 * bounded (it stops `seconds` + 20 s after it began), and waits for every answer. `onAck` gets each
 * acknowledged seq with its enqueue → ack ms; failures are counted.
 */
export async function steadyEnqueues(
  q: Queue<Uint8Array>,
  n: number,
  rate: number,
  seconds: number,
  onAck: (seq: number, ms: number) => void,
): Promise<{ sent: number; errors: number; startedAt: number }> {
  let sent = 0;
  let errors = 0;
  const t0 = performance.now();
  const hardStop = t0 + (seconds + 20) * 1000;
  const inflight: Promise<void>[] = [];
  while (sent < n && performance.now() < hardStop) {
    const due = Math.min(n, Math.floor(((performance.now() - t0) / 1000) * rate));
    while (sent < due) {
      const seq = sent++;
      const st = performance.now();
      inflight.push(
        q.enqueue(payload(seq, st)).then(
          () => onAck(seq, performance.now() - st),
          () => void errors++,
        ),
      );
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inflight);
  return { sent, errors, startedAt: t0 };
}

/** C: a fixed offered rate; enqueue→worker-start and enqueue-ack latencies. */
export async function latency(c: Cluster, rate: number, seconds: number) {
  return latencyOn(c.cluster.servers, rate, seconds);
}

/** latency against any servers (bench/warmup.ts runs it in a process of its own). */
export async function latencyOn(servers: string[], rate: number, seconds: number) {
  const client = new Client({ servers, timeoutMs: 30_000 });
  const name = `c-${Date.now()}`;
  const n = rate * seconds;
  const warmup = Math.min(500, Math.floor(n / 10));
  const e2e: number[] = [];
  const ack: number[] = [];
  let received = 0;
  const worker = client.worker<Uint8Array>(
    name,
    (task) => {
      const { seq, sendMs } = parse(task.payload);
      if (seq >= warmup) e2e.push(performance.now() - sendMs);
      received++;
    },
    { concurrency: 256, leaseMs: 30_000 },
  );
  const { sent, errors } = await steadyEnqueues(client.queue<Uint8Array>(name), n, rate, seconds, (seq, ms) => {
    if (seq >= warmup) ack.push(ms);
  });
  await waitFor(() => (received >= sent ? true : undefined), 20_000, 'the worker to see every task').catch(
    () => undefined,
  );
  await worker.close({ timeoutMs: 10_000 });
  await client.close();
  return { rate, seconds, sent, received, errors, e2eMs: summary(e2e), enqueueAckMs: summary(ack) };
}

/** Scaling: `count` tasks left waiting in a queue nobody consumes (batches of 1,000, 4 in flight; at most 30 min). */
export async function preload(
  c: Cluster,
  count: number,
  log: (s: string) => void,
): Promise<{ tasks: number; secs: number }> {
  const client = new Client({ servers: c.cluster.servers, timeoutMs: 60_000 });
  const q = client.queue<Uint8Array>(`waiting-${Date.now()}`);
  const t0 = performance.now();
  const deadline = t0 + 30 * 60_000;
  let next = 0;
  let done = 0;
  let reported = 0;
  const lane = async (): Promise<void> => {
    while (next < count && performance.now() < deadline) {
      const k = Math.min(1000, count - next);
      const from = next;
      next += k;
      await q.enqueueMany(Array.from({ length: k }, (_, j) => ({ payload: payload(from + j) })));
      done += k;
      if (done - reported >= 100_000) {
        reported = done;
        log(`  waiting tasks: ${done} / ${count}, RSS ${rss(c)} MiB`);
      }
    }
  };
  await Promise.all(Array.from({ length: 4 }, lane));
  await client.close();
  return { tasks: done, secs: +((performance.now() - t0) / 1000).toFixed(1) };
}

export async function run(opts: { json: boolean; argv?: string[] }): Promise<Record<string, unknown>> {
  const argv = opts.argv ?? process.argv.slice(2);
  const at = argv.indexOf('--n');
  const n = at >= 0 ? Number(argv[at + 1]) : 20_000;
  if (!Number.isSafeInteger(n) || n < 1000) throw new Error(`--n must be an integer ≥ 1000`);
  const log = (s: string): void => {
    if (!opts.json) console.log(s);
    else console.error(s);
  };
  const c = await startCluster();
  try {
    const idleRss = rss(c);
    log(`e2e: 3 nodes up, idle RSS ${idleRss} MiB; N = ${n} tasks of ${PAYLOAD_BYTES} B`);
    const a1 = await enqueueWorkload(c, n, 256, 0, 120);
    log(`A1 single enqueue (256 in flight): ${a1.rate} tasks/s, call p50 ${a1.callLatencyMs.p50.toFixed(2)} ms`);
    const a2 = await enqueueWorkload(c, n, 2, 1000, 120);
    log(`A2 batched enqueue (1000/batch, 2 in flight): ${a2.rate} tasks/s`);
    const b = await endToEnd(c, n, 120);
    log(`B end to end (1 producer + 1 worker): ${b.rate} tasks/s (${b.unique}/${b.n}, dups ${b.dups})`);
    const cl = await latency(c, 1000, 10);
    log(
      `C @1,000/s: enqueue->worker-start p50 ${cl.e2eMs.p50.toFixed(2)} / p99 ${cl.e2eMs.p99.toFixed(2)} ms; ` +
        `enqueue-ack p50 ${cl.enqueueAckMs.p50.toFixed(2)} / p99 ${cl.enqueueAckMs.p99.toFixed(2)} ms`,
    );
    const afterRss = rss(c);
    log(`D server RSS: ${idleRss} -> ${afterRss} MiB (3 processes)`);
    return { n, a1, a2, b, c: cl, rssMiB: { idle: idleRss, after: afterRss } };
  } finally {
    await stopCluster(c);
  }
}
