// `npm run bench -- cluster [--nodes 3|5] [--peers nats,rabbitmq,bullmq] [--json] [--n N] [--trials T] [--quick]
//   [--seconds S] [--failover-trials T] [--idle-seconds S] [--idle-settle-seconds S] [--payload BYTES]
//   [--queues Q] [--waiting W] [--warmup N] [--warmup-seconds S]
//   [--sweep payload|queues|waiting|nodes=v1,v2,… [--out DIR]]`
// A real cluster of separate `raftq start` processes (fsync on) on 127.0.0.1, the workloads of the
// shared peer harness (../shared/bench-peers: 256-byte tasks), and the figures issue 11 asks for. As
// the harness (and issue 11's own table): N = 100,000 tasks, and A, B and C run --trials T times (3)
// on fresh queues, deleted after each workload; each figure is the median of its trials.
//   A enqueue throughput: single enqueues with 256 in flight; batches of 1,000 with 2 in flight
//   B end to end: one producer (256 in flight) and one worker (256 slots), ack only
//   C latency at a steady 1,000 tasks/s: enqueue→worker start and enqueue→ack, p50/p99/p99.9
//     (hdr-histogram-js), first 500 excluded
//   D the nodes' RSS, idle (with --waiting: once the nodes are quiet after the preload) and after the run
//   E failover: SIGKILL the leader under load, time to the next successful enqueue (N trials)
//   F CPU per task at 1,000 tasks/s offered: all nodes' CPU seconds (/proc/PID/stat) / tasks
//   G an idle cluster's CPU, % of one core (all nodes together), its mean over --idle-seconds (300) once
//     it has been up --idle-settle-seconds (60): start-up work is not idling (its first major GC, and the
//     memory reducer's GCs, which came 15-40 s after start, a node at a time). V8 still compiles the idle
//     path for about 5 minutes after that (its helper threads, 0.5 % of a core at first): a 30-s window
//     caught that and little else, the mean over 5 minutes is what an idle cluster costs. The first 10 s
//     after start and the window's first 30 s are reported beside it (detail.idleAtStartPct,
//     detail.idleFirst30sPct: G as measured until session 32)
// With --peers the shared harness runs those peers in a child process after our cluster stopped
// (`node run-all.mjs --trials=T --n=N --skip-limits`), so the ratios come from one invocation; none of
// the peers' client libraries is a dependency of ours. A peer whose harness or server is missing is
// skipped with a message. Processes are ended by the PIDs we started; every loop is bounded.
// Before A, another process runs --warmup N tasks (20,000; 0: none) end to end, then
// --warmup-seconds S (10) of C's flow, not measured (bench/warmup.ts): the nodes then serve the
// workloads in optimised code, as a broker that has been up does; the measuring process stays cold,
// as the peers' clients are.
// Scaling: --payload (task size), --queues (A spreads its enqueues over Q queues), --waiting (W tasks
// left waiting in another queue before the run: memory and throughput with a backlog), --nodes 5;
// --sweep runs our cluster once per value of one of them and writes JSON and an SVG of the figures.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import * as hdr from 'hdr-histogram-js';
import { Client } from './sdk.js';
import { waitFor } from '../src/node/local-cluster.js';
import {
  endToEnd,
  enqueueWorkload,
  parse,
  payload,
  preload,
  rss,
  rssByNode,
  setPayloadBytes,
  startCluster,
  steadyEnqueues,
  stopCluster,
  type Cluster,
  warmUp,
  BENCH_ROOT as ROOT,
} from './e2e.js';
import { allReady, leaderOf } from './profile.js';
import { parsePromText, sampleValue } from '../test/support/prom-text.js';
import { smallMultiples } from './svg.js';

/** The figures every system gets (null: not measured for that system). */
export interface Figures {
  enqueue_single_per_s: number | null;
  enqueue_batch_per_s: number | null;
  e2e_tasks_per_s: number | null;
  enqueue_ack_p50_ms: number | null;
  enqueue_ack_p99_ms: number | null;
  start_latency_p50_ms: number | null;
  failover_p50_ms: number | null;
  failover_p99_ms: number | null;
  rss_mib_after: number | null;
  cpu_ms_per_task_at_1k: number | null;
  idle_cpu_pct: number | null;
}
const KEYS: (keyof Figures)[] = [
  'enqueue_single_per_s',
  'enqueue_batch_per_s',
  'e2e_tasks_per_s',
  'enqueue_ack_p50_ms',
  'enqueue_ack_p99_ms',
  'start_latency_p50_ms',
  'failover_p50_ms',
  'failover_p99_ms',
  'rss_mib_after',
  'cpu_ms_per_task_at_1k',
  'idle_cpu_pct',
];
/** Keys where more is better (ratios are ours / theirs); for the others less is better. */
const MORE_IS_BETTER = new Set<keyof Figures>(['enqueue_single_per_s', 'enqueue_batch_per_s', 'e2e_tasks_per_s']);

interface Options {
  nodes: number;
  peers: string[];
  n: number;
  /** Trials of A1, A2, B and C (each on fresh queues); the figures are their medians, as the harness's. */
  trials: number;
  latencySeconds: number;
  failoverTrials: number;
  idleSeconds: number;
  /** G is measured once the cluster has been up this long (its first 10 s are reported too). */
  idleSettleSeconds: number;
  /** Scaling: task size in bytes, queues A spreads its enqueues over, tasks left waiting before the run. */
  payloadBytes: number;
  queues: number;
  waiting: number;
  /** Tasks run end to end by another process before A (bench/warmup.ts), not measured; 0: none. */
  warmup: number;
  /** Then seconds of C's flow (1,000 tasks/s) in that process; 0: none. */
  warmupSeconds: number;
  /** `--sweep payload=64,1024,65536`: our cluster once per value (no peers), JSON + SVG in `out`. */
  sweep: { param: SweepParam; values: number[] } | null;
  out: string;
  json: boolean;
}

const SWEEP_PARAMS = ['payload', 'queues', 'waiting', 'nodes'] as const;
type SweepParam = (typeof SWEEP_PARAMS)[number];

function parseSweep(raw: string | undefined): Options['sweep'] {
  if (raw === undefined) return null;
  const m = /^([a-z]+)=([0-9,]+)$/.exec(raw);
  const param = m?.[1] as SweepParam | undefined;
  if (!m || !param || !SWEEP_PARAMS.includes(param))
    throw new Error(`--sweep must be one of ${SWEEP_PARAMS.join('|')}=v1,v2,…`);
  const values = (m[2] as string).split(',').map(Number);
  if (values.length < 1 || values.length > 12 || values.some((v) => !Number.isSafeInteger(v) || v < 0))
    throw new Error('--sweep takes 1..12 non-negative integers');
  return { param, values };
}

function parseOptions(argv: string[], json: boolean): Options {
  const value = (name: string): string | undefined => {
    const at = argv.indexOf(name);
    const eq = argv.find((a) => a.startsWith(`${name}=`));
    return at >= 0 ? argv[at + 1] : eq?.slice(name.length + 1);
  };
  const quick = argv.includes('--quick');
  const int = (name: string, dflt: number, lo: number, hi: number): number => {
    const raw = value(name);
    const v = raw === undefined ? dflt : Number(raw);
    if (!Number.isSafeInteger(v) || v < lo || v > hi) throw new Error(`${name} must be an integer in ${lo}..${hi}`);
    return v;
  };
  const nodes = int('--nodes', 3, 3, 5);
  if (nodes !== 3 && nodes !== 5) throw new Error('--nodes must be 3 or 5');
  const peers = (value('--peers') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  return {
    nodes,
    peers,
    // The harness's defaults (and issue 11's table): 100,000 tasks, medians of 3 trials.
    n: int('--n', quick ? 5_000 : 100_000, 1_000, 1_000_000),
    trials: int('--trials', quick ? 1 : 3, 1, 9),
    latencySeconds: int('--seconds', quick ? 5 : 10, 2, 120),
    failoverTrials: int('--failover-trials', quick ? 5 : 20, 1, 100),
    idleSeconds: int('--idle-seconds', quick ? 5 : 300, 1, 900),
    idleSettleSeconds: int('--idle-settle-seconds', quick ? 0 : 60, 0, 600),
    payloadBytes: int('--payload', 256, 64, 4 * 1024 * 1024),
    queues: int('--queues', 1, 1, 100_000),
    waiting: int('--waiting', 0, 0, 10_000_000),
    warmup: int('--warmup', quick ? 5_000 : 20_000, 0, 1_000_000),
    warmupSeconds: int('--warmup-seconds', quick ? 3 : 10, 0, 60),
    sweep: parseSweep(value('--sweep')),
    out: value('--out') ?? join(ROOT, 'bench', 'results'),
    json,
  };
}

// ------------------------------------------------------------------ measurements of our cluster

/** utime + stime of one process in seconds (/proc/PID/stat, USER_HZ = 100), 0 if it is gone. */
function cpuSec(pid: number | undefined): number {
  const t = cpuTimes(pid);
  return t.user + t.system;
}

/** A process's user and system CPU seconds so far (/proc/PID/stat utime, stime), zeros when gone. */
function cpuTimes(pid: number | undefined): { user: number; system: number } {
  if (pid === undefined) return { user: 0, system: 0 };
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(f[11]) / 100, system: Number(f[12]) / 100 };
  } catch {
    return { user: 0, system: 0 };
  }
}

/** Per node: user and system CPU ms per task between two readings of cpuTimes. */
function cpuSplit(
  c: Cluster,
  before: Map<string, { user: number; system: number }>,
  tasks: number,
): Record<string, { userMsPerTask: number; systemMsPerTask: number }> {
  const out: Record<string, { userMsPerTask: number; systemMsPerTask: number }> = {};
  if (tasks === 0) return out;
  for (const s of c.cluster.specs) {
    const b = before.get(s.id);
    if (b === undefined) continue;
    const a = cpuTimes(c.cluster.pid(s.id));
    out[s.id] = {
      userMsPerTask: +(((a.user - b.user) * 1000) / tasks).toFixed(3),
      systemMsPerTask: +(((a.system - b.system) * 1000) / tasks).toFixed(3),
    };
  }
  return out;
}

function clusterCpuSec(c: Cluster): number {
  return c.cluster.specs.reduce((sum, s) => sum + cpuSec(c.cluster.pid(s.id)), 0);
}

/**
 * G right after start, then (unless the settle is 0) once the cluster has been up idleSettleSeconds: the
 * mean over idleSeconds, and over its first 30 s (null when the window is not longer).
 */
async function idleFigures(
  c: Cluster,
  o: Options,
  log: (s: string) => void,
): Promise<{ atStart: number; idle: number; first30: number | null }> {
  const upAt = performance.now();
  const startSeconds = Math.min(10, o.idleSeconds);
  const atStart = await idleCpuPct(c, startSeconds);
  log(`G idle cluster CPU right after start: ${atStart.toFixed(2)} % of one core (${startSeconds} s, all nodes)`);
  if (o.idleSettleSeconds === 0) return { atStart, idle: atStart, first30: null };
  const wait = upAt + o.idleSettleSeconds * 1000 - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const from = idleMark(c);
  let first30: number | null = null;
  if (o.idleSeconds > 30) {
    first30 = await idleCpuPct(c, 30);
    log(`G idle cluster CPU, the first 30 s after ${o.idleSettleSeconds} s up: ${first30.toFixed(2)} % of one core`);
  }
  const idle = await idleCpuPct(c, o.idleSeconds, from);
  log(
    `G idle cluster CPU after ${o.idleSettleSeconds} s up: ${idle.toFixed(2)} % of one core (mean over ${o.idleSeconds} s, all nodes)`,
  );
  return { atStart, idle, first30 };
}

/** G: the CPU all nodes use together while nothing is asked of them, in % of one core. */
async function idleCpuPct(c: Cluster, seconds: number, from = idleMark(c)): Promise<number> {
  await new Promise((r) => setTimeout(r, from.at + seconds * 1000 - performance.now()));
  return ((clusterCpuSec(c) - from.cpu) / ((performance.now() - from.at) / 1000)) * 100;
}

function idleMark(c: Cluster): { cpu: number; at: number } {
  return { cpu: clusterCpuSec(c), at: performance.now() };
}

function histogram(): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

function pcts(h: hdr.Histogram): { n: number; mean: number; p50: number; p99: number; p999: number; max: number } {
  // Recorded in microseconds, reported in milliseconds.
  const ms = (us: number): number => Math.round(us) / 1000;
  return {
    n: h.totalCount,
    mean: ms(h.mean),
    p50: ms(h.getValueAtPercentile(50)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
  };
}

/** One node's durable writes so far (raftq_fsync_seconds) and its applied index, from /metrics. */
interface WriteCounters {
  writes: number;
  writeSec: number;
  applied: number;
  /** Client calls answered on this node as leader, and their proposal-to-answer seconds. */
  calls: number;
  callSec: number;
}

async function writeCounters(c: Cluster): Promise<Map<string, WriteCounters>> {
  const out = new Map<string, WriteCounters>();
  for (const s of c.cluster.specs) {
    try {
      const r = await fetch(`http://127.0.0.1:${s.httpPort}/metrics`, { signal: AbortSignal.timeout(2_000) });
      const f = parsePromText(await r.text());
      out.set(s.id, {
        writes: sampleValue(f, 'raftq_fsync_seconds_count') ?? NaN,
        writeSec: sampleValue(f, 'raftq_fsync_seconds_sum') ?? NaN,
        applied: sampleValue(f, 'raftq_raft_applied_index') ?? NaN,
        calls: sampleValue(f, 'raftq_command_commit_seconds_count') ?? 0,
        callSec: sampleValue(f, 'raftq_command_commit_seconds_sum') ?? 0,
      });
    } catch {
      // a node that does not answer has no figures
    }
  }
  return out;
}

interface WriteFigures {
  writesPerTask: number;
  writeMsMean: number;
  entriesPerTask: number;
  /** On the leader: its mean proposal-to-answer time per client call (the node's share of the ack). */
  commitMsMean?: number;
}

/**
 * What C's latency rides on (runs with the same code differed 8-29 ms at p50): per node, durable
 * writes per task and their mean time, log entries per task (applied index delta), and on the
 * leader the mean time from a call's proposal to its answer.
 */
function writeFigures(
  before: Map<string, WriteCounters>,
  after: Map<string, WriteCounters>,
  tasks: number,
): Record<string, WriteFigures> {
  const out: Record<string, WriteFigures> = {};
  for (const [id, a] of after) {
    const b = before.get(id);
    if (b === undefined || tasks === 0) continue;
    const writes = a.writes - b.writes;
    const f: WriteFigures = {
      writesPerTask: +(writes / tasks).toFixed(3),
      writeMsMean: writes > 0 ? +(((a.writeSec - b.writeSec) * 1000) / writes).toFixed(3) : NaN,
      entriesPerTask: +((a.applied - b.applied) / tasks).toFixed(3),
    };
    const calls = a.calls - b.calls;
    if (calls > 0) f.commitMsMean = +(((a.callSec - b.callSec) * 1000) / calls).toFixed(3);
    out[id] = f;
  }
  return out;
}

/** C + F: a steady offered rate; enqueue→start and enqueue→ack in HDR histograms; all nodes' CPU per task. */
async function steadyLatency(c: Cluster, rate: number, seconds: number) {
  const client = new Client({ servers: c.cluster.servers, timeoutMs: 30_000 });
  const name = `c-${Date.now()}`;
  const n = rate * seconds;
  const warmup = Math.min(500, Math.floor(n / 10));
  const start = histogram();
  const ack = histogram();
  let received = 0;
  const worker = client.worker<Uint8Array>(
    name,
    (task) => {
      const { seq, sendMs } = parse(task.payload);
      if (seq >= warmup) start.recordValue(Math.max(1, Math.round((performance.now() - sendMs) * 1000)));
      received++;
    },
    { concurrency: 256, leaseMs: 30_000 },
  );
  const writes0 = await writeCounters(c);
  const cpu0 = clusterCpuSec(c);
  const split0 = new Map(c.cluster.specs.map((s) => [s.id, cpuTimes(c.cluster.pid(s.id))] as const));
  const q = client.queue<Uint8Array>(name);
  const {
    sent,
    errors,
    startedAt: t0,
  } = await steadyEnqueues(q, n, rate, seconds, (seq, ms) => {
    if (seq >= warmup) ack.recordValue(Math.max(1, Math.round(ms * 1000)));
  });
  await waitFor(() => (received >= sent ? true : undefined), 30_000, 'the worker to see every task').catch(
    () => undefined,
  );
  const cpu = clusterCpuSec(c) - cpu0;
  const cpuByNode = cpuSplit(c, split0, received);
  const wallSec = (performance.now() - t0) / 1000;
  const writes = writeFigures(writes0, await writeCounters(c), received);
  await worker.close({ timeoutMs: 10_000 });
  await client.close();
  const out = {
    rate,
    seconds,
    sent,
    received,
    errors,
    startMs: pcts(start),
    enqueueAckMs: pcts(ack),
    clusterCpuSec: +cpu.toFixed(2),
    cpuMsPerTask: received > 0 ? +((cpu * 1000) / received).toFixed(3) : NaN,
    clusterCores: +(cpu / wallSec).toFixed(2),
    cpuByNode,
    writes,
    queue: name,
  };
  start.destroy();
  ack.destroy();
  return out;
}

/**
 * E: one trial. Load runs, the leader is SIGKILLed, and the time from the kill to the first successful
 * enqueue among those issued once the process had exited is taken (one issued in the instant before
 * the signal took effect may still have been answered by the dying leader: not a failover).
 */
async function failoverTrial(c: Cluster, trial: number): Promise<number | null> {
  await allReady(c, 30_000);
  const leader = await leaderOf(c);
  if (leader === null) return null;
  const client = new Client({ servers: c.cluster.servers, timeoutMs: 10_000 });
  const q = client.queue<Uint8Array>(`e-${trial}-${Date.now()}`);
  let stop = false;
  let killAt = Infinity;
  let exitedAt = Infinity;
  let firstAfter = Infinity;
  const hardStop = performance.now() + 40_000;
  let seq = 0;
  const lane = async (): Promise<void> => {
    while (!stop && performance.now() < hardStop) {
      const st = performance.now();
      try {
        await q.enqueue(payload(seq++));
        if (st >= exitedAt && performance.now() < firstAfter) firstAfter = performance.now();
      } catch {
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  };
  const lanes = Array.from({ length: 16 }, lane);
  try {
    await new Promise((r) => setTimeout(r, 500));
    killAt = performance.now();
    await c.cluster.kill(leader);
    exitedAt = performance.now();
    await waitFor(() => (firstAfter < Infinity ? true : undefined), 30_000, 'an enqueue after the kill', 5).catch(
      () => undefined,
    );
  } finally {
    stop = true;
    await Promise.all(lanes);
    await client.close();
    c.cluster.start(leader);
  }
  return firstAfter < Infinity ? firstAfter - killAt : null;
}

async function failover(c: Cluster, trials: number, log: (s: string) => void) {
  const times: number[] = [];
  let failed = 0;
  for (let t = 0; t < trials; t++) {
    const ms = await failoverTrial(c, t);
    if (ms === null) failed++;
    else times.push(ms);
    log(
      `E failover trial ${t + 1}/${trials}: ${ms === null ? 'no successful enqueue within 30 s' : `${ms.toFixed(0)} ms`}`,
    );
  }
  await allReady(c, 30_000).catch(() => undefined);
  const s = Float64Array.from(times).sort();
  const q = (p: number): number | null =>
    s.length ? +(s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)] as number).toFixed(1) : null;
  return { trials, failed, p50: q(0.5), p99: q(0.99), max: q(1), ms: times.map((x) => Math.round(x)) };
}

/** A2's batch: 1,000 tasks, or fewer when they would not fit one Raft entry (4 MiB) with room to spare. */
function batchFor(payloadBytes: number): number {
  return Math.max(1, Math.min(1000, Math.floor((3 << 20) / (payloadBytes + 64))));
}

interface Trial {
  a1: Awaited<ReturnType<typeof enqueueWorkload>>;
  a2: Awaited<ReturnType<typeof enqueueWorkload>>;
  b: Awaited<ReturnType<typeof endToEnd>>;
  c: Awaited<ReturnType<typeof steadyLatency>>;
}

/**
 * One trial of A1, A2, B and C, as the shared harness runs one: each workload on a queue of its own,
 * deleted once it is measured (as the harness deletes every peer's queue between workloads), so no
 * backlog is carried from one workload or trial into the next.
 */
async function trial(c: Cluster, o: Options, t: number, log: (s: string) => void): Promise<Trial> {
  const of = `trial ${t}/${o.trials}`;
  const a1 = await enqueueWorkload(c, o.n, 256, 0, 120, o.queues);
  log(`A1 single enqueue (256 in flight), ${of}: ${a1.rate} tasks/s`);
  await dropQueues(c, a1.queues, log);
  const batch = batchFor(o.payloadBytes);
  const a2 = await enqueueWorkload(c, o.n, 2, batch, 120, o.queues);
  log(`A2 batched enqueue (${batch}/batch, 2 in flight), ${of}: ${a2.rate} tasks/s`);
  await dropQueues(c, a2.queues, log);
  const b = await endToEnd(c, o.n, 120);
  log(`B end to end (1 producer + 1 worker), ${of}: ${b.rate} tasks/s (${b.unique}/${b.n}, dups ${b.dups})`);
  await dropQueues(c, [b.queue], log);
  const cl = await steadyLatency(c, 1000, o.latencySeconds);
  log(
    `C @1,000/s, ${of}: start p50 ${cl.startMs.p50} / p99 ${cl.startMs.p99} / p99.9 ${cl.startMs.p999} ms; ` +
      `ack p50 ${cl.enqueueAckMs.p50} / p99 ${cl.enqueueAckMs.p99} / p99.9 ${cl.enqueueAckMs.p999} ms; ` +
      `F ${cl.cpuMsPerTask} ms CPU/task (${cl.clusterCores} cores)`,
  );
  log(`C durable writes per node (per task, mean ms) and entries per task: ${JSON.stringify(cl.writes)}`);
  log(`C user and system CPU per node (ms per task): ${JSON.stringify(cl.cpuByNode)}`);
  await dropQueues(c, [cl.queue], log);
  return { a1, a2, b, c: cl };
}

/** Deletes `names` (forced: their tasks cancelled) and waits until each is gone (at most 2 min). */
async function dropQueues(c: Cluster, names: string[], log: (s: string) => void): Promise<void> {
  const client = new Client({ servers: c.cluster.servers, timeoutMs: 30_000 });
  try {
    for (const name of names) {
      const q = client.queue(name);
      await q.delete({ force: true });
      await waitFor(
        async () => {
          try {
            await q.stats();
            return undefined;
          } catch (e) {
            if ((e as { code?: string }).code === 'NOT_FOUND') return true;
            throw e;
          }
        },
        120_000,
        `queue ${name} to be deleted`,
        100,
      );
    }
  } catch (e) {
    log(`could not delete the workload's queues (${(e as Error).message}); the next workload runs beside them`);
  } finally {
    await client.close();
  }
}

/** Quiet: all nodes together under this % of one core over a 5-s window. */
const QUIET_PCT = 5;
const QUIET_MAX_SECONDS = 180;

/**
 * D: leaves `count` tasks waiting, then waits (at most QUIET_MAX_SECONDS) until the cluster is quiet: the
 * nodes snapshot the state the preload built, one after another, for 5-15 s after it (session 33). The
 * idle RSS and the warm-up then come after those snapshots. The RSS right after the preload is kept
 * beside the one measured once quiet.
 */
async function preloaded(
  c: Cluster,
  count: number,
  log: (s: string) => void,
): Promise<{ tasks: number; secs: number; rssMiBAfterPreload: Record<string, number>; quietAfterSecs: number | null }> {
  const loaded = await preload(c, count, log);
  const rssMiBAfterPreload = rssByNode(c);
  log(`${loaded.tasks} tasks left waiting in ${loaded.secs} s; RSS ${JSON.stringify(rssMiBAfterPreload)} MiB`);
  const t0 = performance.now();
  let quietAfterSecs: number | null = null;
  while (performance.now() - t0 < QUIET_MAX_SECONDS * 1000) {
    if ((await idleCpuPct(c, 5)) < QUIET_PCT) {
      quietAfterSecs = Math.round((performance.now() - t0) / 1000);
      break;
    }
  }
  log(
    quietAfterSecs === null ? `not quiet after ${QUIET_MAX_SECONDS} s` : `quiet ${quietAfterSecs} s after the preload`,
  );
  return { ...loaded, rssMiBAfterPreload, quietAfterSecs };
}

async function runOurs(o: Options, log: (s: string) => void) {
  setPayloadBytes(o.payloadBytes);
  const c = await startCluster({ nodes: o.nodes });
  try {
    const leader = await leaderOf(c);
    log(
      `cluster: ${o.nodes} nodes up (leader ${leader}); N = ${o.n} tasks of ${o.payloadBytes} B, ` +
        `A over ${o.queues} queue(s), ${o.waiting} waiting; load avg ${loadavg()[0]?.toFixed(2)}`,
    );
    const loaded = o.waiting > 0 ? await preloaded(c, o.waiting, log) : null;
    const idleRss = rss(c);
    const idleByNode = rssByNode(c);
    log(`D idle RSS: ${idleRss} MiB (${o.nodes} nodes: ${JSON.stringify(idleByNode)})`);
    const { atStart, idle, first30 } = await idleFigures(c, o, log);
    const warm = o.warmup > 0 ? warmUp(c, o.warmup, o.warmupSeconds) : null;
    if (warm)
      log(
        `warm-up: ${o.warmup} tasks end to end, then ${o.warmupSeconds} s at 1,000/s, by another process (not measured): ${warm}`,
      );
    const trials: Trial[] = [];
    for (let t = 1; t <= o.trials; t++) trials.push(await trial(c, o, t, log));
    const mid = (f: (x: Trial) => number | null | undefined): number | null =>
      median(trials.map((x) => f(x) ?? undefined));
    const afterRss = rss(c);
    const afterByNode = rssByNode(c);
    log(`D RSS: ${idleRss} -> ${afterRss} MiB (${o.nodes} nodes; after: ${JSON.stringify(afterByNode)})`);
    const e = await failover(c, o.failoverTrials, log);
    log(`E failover: p50 ${e.p50} / p99 ${e.p99} ms over ${e.trials - e.failed} trials (${e.failed} without recovery)`);
    const figures: Figures = {
      enqueue_single_per_s: mid((x) => x.a1.rate),
      enqueue_batch_per_s: mid((x) => x.a2.rate),
      e2e_tasks_per_s: mid((x) => x.b.rate),
      enqueue_ack_p50_ms: mid((x) => x.c.enqueueAckMs.p50),
      enqueue_ack_p99_ms: mid((x) => x.c.enqueueAckMs.p99),
      start_latency_p50_ms: mid((x) => x.c.startMs.p50),
      failover_p50_ms: e.p50,
      failover_p99_ms: e.p99,
      rss_mib_after: afterRss,
      cpu_ms_per_task_at_1k: mid((x) => x.c.cpuMsPerTask),
      idle_cpu_pct: +idle.toFixed(2),
    };
    return {
      figures,
      detail: {
        trials,
        e,
        preload: loaded,
        warmup: { tasks: o.warmup, seconds: o.warmupSeconds, result: warm },
        rssMiB: { idle: idleRss, after: afterRss, idleByNode, afterByNode },
        idleAtStartPct: atStart,
        idleFirst30sPct: first30,
      },
    };
  } finally {
    await stopCluster(c);
  }
}

// ------------------------------------------------------------------ the peers, through the shared harness

/** `--peers nats,rabbitmq,bullmq` → harness ids; a harness id (e.g. `nats-r1`, `raftq-3`) passes through. */
const PEER_ALIASES: Record<string, string> = { nats: 'nats-r3', rabbitmq: 'rabbitmq-q3', bullmq: 'bullmq-always' };

/** The server binary each harness module starts (checked before a run; missing → skipped). */
function serverMissing(id: string): string | null {
  const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
  if (id.startsWith('nats') && !has('nats-server')) return 'nats-server is not installed';
  if (id.startsWith('rabbitmq') && !existsSync('/usr/lib/rabbitmq/bin/rabbitmq-server'))
    return 'rabbitmq-server is not installed';
  if (id.startsWith('bullmq') && !has('redis-server')) return 'redis-server is not installed';
  if (id.startsWith('raftq') && !existsSync(join(ROOT, 'dist', 'src', 'index.js'))) return 'raftq is not built';
  return null;
}

/** The harness: $RAFTQ_BENCH_PEERS, else /tmp/bench-peers, else ../shared/bench-peers; installed (node_modules). */
function harnessDir(): string | null {
  const candidates = [process.env['RAFTQ_BENCH_PEERS'], '/tmp/bench-peers', resolve(ROOT, '../shared/bench-peers')];
  for (const d of candidates) {
    if (d && existsSync(join(d, 'run-all.mjs')) && existsSync(join(d, 'node_modules'))) return d;
  }
  return null;
}

interface HarnessTrial {
  A1?: { rate?: number; error?: string; partial?: boolean };
  A2?: { rate?: number; error?: string; unsupported?: boolean };
  B?: { rate?: number; error?: string; partial?: boolean };
  C?: {
    error?: string;
    received?: number;
    serverCpuSec?: number;
    e2eMs?: { p50?: number; p99?: number };
    enqueueAckMs?: { p50?: number; p99?: number };
  };
}
interface HarnessPeer {
  id: string;
  trials: HarnessTrial[];
  rssAfter?: { totalMiB: number };
  errors: string[];
}

function median(xs: (number | undefined)[]): number | null {
  const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  return +(v[Math.floor((v.length - 1) / 2)] as number).toFixed(3);
}

function peerFigures(p: HarnessPeer): Figures {
  const T = p.trials;
  const ok = <K extends 'A1' | 'A2' | 'B'>(k: K) => T.map((t) => (t[k] && !t[k]?.error ? t[k]?.rate : undefined));
  const cpu = T.map((t) =>
    t.C && !t.C.error && t.C.received ? ((t.C.serverCpuSec ?? NaN) * 1000) / t.C.received : undefined,
  );
  return {
    enqueue_single_per_s: median(ok('A1')),
    enqueue_batch_per_s: T[0]?.A2?.unsupported ? null : median(ok('A2')),
    e2e_tasks_per_s: median(ok('B')),
    enqueue_ack_p50_ms: median(T.map((t) => t.C?.enqueueAckMs?.p50)),
    enqueue_ack_p99_ms: median(T.map((t) => t.C?.enqueueAckMs?.p99)),
    start_latency_p50_ms: median(T.map((t) => t.C?.e2eMs?.p50)),
    failover_p50_ms: null,
    failover_p99_ms: null,
    rss_mib_after: p.rssAfter ? Math.round(p.rssAfter.totalMiB) : null,
    cpu_ms_per_task_at_1k: median(cpu),
    idle_cpu_pct: null,
  };
}

/** Runs the shared harness as a child for the peers it can run; null entries say why a peer was skipped. */
async function runPeers(o: Options, log: (s: string) => void): Promise<Record<string, Figures | { skipped: string }>> {
  const out: Record<string, Figures | { skipped: string }> = {};
  const dir = harnessDir();
  const ids = o.peers.map((p) => PEER_ALIASES[p] ?? p);
  if (dir === null) {
    for (const id of ids)
      out[id] = { skipped: 'the shared harness is not installed (see ../shared/bench-peers/README.md)' };
    log('peers: skipped, no installed harness (/tmp/bench-peers or ../shared/bench-peers with node_modules)');
    return out;
  }
  const runnable: string[] = [];
  for (const id of ids) {
    const why = serverMissing(id);
    if (why) {
      out[id] = { skipped: why };
      log(`peers: skipping ${id}: ${why}`);
    } else runnable.push(id);
  }
  if (runnable.length === 0) return out;
  const tag = `raftq-cluster-${process.pid}-${Date.now()}`;
  const args = [
    'run-all.mjs',
    `--peers=${runnable.join(',')}`,
    `--trials=${o.trials}`,
    `--n=${o.n}`,
    `--lat-secs=${o.latencySeconds}`,
    '--skip-limits',
    `--tag=${tag}`,
  ];
  log(`peers: running the shared harness in ${dir}: node ${args.join(' ')}`);
  const code = await runChild(dir, args, runnable.length * 15 * 60_000, log);
  const file = readdirSync(join(dir, 'results')).find((f) => f.endsWith(`-${tag}.json`));
  if (!file) {
    for (const id of runnable) out[id] = { skipped: `the harness ended (${code}) without results` };
    return out;
  }
  const res = JSON.parse(readFileSync(join(dir, 'results', file), 'utf8')) as { peers: HarnessPeer[] };
  rmSync(join(dir, 'results', file), { force: true });
  for (const id of runnable) out[id] = { skipped: 'unknown to the harness (see its peer-list.mjs)' };
  for (const p of res.peers) {
    out[p.id] = p.trials.length > 0 ? peerFigures(p) : { skipped: `failed: ${p.errors.join('; ').slice(0, 300)}` };
  }
  // raftq driven by the harness (its own SDK driver, producer and worker in two processes) keeps
  // a name of its own beside our row.
  for (const id of Object.keys(out)) {
    if (id.startsWith('raftq')) {
      out[`${id}-harness`] = out[id] as Figures | { skipped: string };
      delete out[id];
    }
  }
  return out;
}

/** A child process with its stderr as progress; killed by its PID at the time limit. */
function runChild(cwd: string, args: string[], limitMs: number, log: (s: string) => void): Promise<string> {
  return new Promise((ok) => {
    const child = spawn(process.execPath, args, {
      cwd,
      env: { ...process.env, RAFTQ_HOME: ROOT },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => {
      log(`peers: the harness ran past ${limitMs / 60_000} min; ending it (pid ${child.pid})`);
      if (child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
    }, limitMs);
    let buf = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        log(`  [harness] ${buf.slice(0, nl)}`);
        buf = buf.slice(nl + 1);
      }
    });
    child.stdout.resume();
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      ok(String(code ?? signal));
    });
  });
}

// ------------------------------------------------------------------ report

function fmt(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : String(+v.toFixed(2));
}

/** ours / theirs for throughput, theirs / ours for the rest: > 1 means raftq is better. */
function ratios(ours: Figures, theirs: Figures): Partial<Record<keyof Figures, number>> {
  const r: Partial<Record<keyof Figures, number>> = {};
  for (const k of KEYS) {
    const a = ours[k];
    const b = theirs[k];
    if (a === null || b === null || !(a > 0) || !(b > 0)) continue;
    r[k] = +(MORE_IS_BETTER.has(k) ? a / b : b / a).toPrecision(3);
  }
  return r;
}

function table(rows: Record<string, Figures | { skipped: string }>): string {
  const names = Object.keys(rows);
  const lines = [`| figure | ${names.join(' | ')} |`, `|---|${names.map(() => '---|').join('')}`];
  for (const k of KEYS) {
    lines.push(
      `| ${k} | ${names.map((n) => ('skipped' in (rows[n] as object) ? 'skipped' : fmt((rows[n] as Figures)[k]))).join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

export async function run(opts: { json: boolean; argv?: string[] }): Promise<Record<string, unknown>> {
  const o = parseOptions(opts.argv ?? process.argv.slice(2), opts.json);
  const log = (s: string): void => (o.json ? console.error(s) : console.log(s));
  if (o.sweep) return runSweep(o, o.sweep, log);
  const began = new Date().toISOString();
  const load0 = loadavg();
  const ours = await runOurs(o, log);
  if (o.peers.length > 0 && (o.payloadBytes !== 256 || o.queues !== 1 || o.waiting !== 0))
    log(
      'peers: the harness runs its own fixed workloads (256 B, one queue, nothing waiting); ratios compare unlike runs',
    );
  const peers = o.peers.length > 0 ? await runPeers(o, log) : {};
  const name = `raftq-${o.nodes}`;
  const rows: Record<string, Figures | { skipped: string }> = { [name]: ours.figures, ...peers };
  log(`\n${table(rows)}\n`);
  const ratioOut: Record<string, unknown> = {};
  for (const [id, f] of Object.entries(peers)) {
    if (!('skipped' in f)) {
      ratioOut[id] = ratios(ours.figures, f);
      log(`raftq vs ${id} (> 1: raftq better): ${JSON.stringify(ratioOut[id])}`);
    }
  }
  return {
    ...ours.figures,
    nodes: o.nodes,
    n: o.n,
    payload_bytes: o.payloadBytes,
    queues: o.queues,
    waiting: o.waiting,
    started: began,
    machine: { cpus: cpus().length, loadavgBefore: load0, loadavgAfter: loadavg() },
    detail: ours.detail,
    peers,
    ratios: ratioOut,
  };
}

/** Scaling: our cluster once per value of one parameter; a table, `<out>/cluster-sweep-<param>-<time>.json` and `.svg`. */
async function runSweep(
  o: Options,
  sweep: NonNullable<Options['sweep']>,
  log: (s: string) => void,
): Promise<Record<string, unknown>> {
  const runs: { value: number; figures: Figures; detail: unknown }[] = [];
  for (const value of sweep.values) {
    const oo: Options = { ...o, peers: [], sweep: null };
    if (sweep.param === 'payload') oo.payloadBytes = value;
    else if (sweep.param === 'queues') oo.queues = value;
    else if (sweep.param === 'waiting') oo.waiting = value;
    else oo.nodes = value;
    if (oo.nodes !== 3 && oo.nodes !== 5) throw new Error('nodes must be 3 or 5');
    log(`\n=== sweep ${sweep.param} = ${value}`);
    const r = await runOurs(oo, log);
    runs.push({ value, figures: r.figures, detail: r.detail });
  }
  const rows = Object.fromEntries(runs.map((r) => [`${sweep.param}=${r.value}`, r.figures]));
  log(`\n${table(rows)}\n`);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  mkdirSync(o.out, { recursive: true });
  const base = join(o.out, `cluster-sweep-${sweep.param}-${stamp}`);
  const result = {
    sweep: sweep.param,
    values: sweep.values,
    n: o.n,
    machine: { cpus: cpus().length, loadavg: loadavg() },
    runs,
  };
  writeFileSync(`${base}.json`, JSON.stringify(result, null, 1));
  const xs = sweep.values.map(String);
  const plotted: (keyof Figures)[] = [
    'enqueue_single_per_s',
    'enqueue_batch_per_s',
    'e2e_tasks_per_s',
    'enqueue_ack_p50_ms',
    'enqueue_ack_p99_ms',
    'start_latency_p50_ms',
    'failover_p50_ms',
    'rss_mib_after',
    'cpu_ms_per_task_at_1k',
  ];
  const svgText = smallMultiples(
    `raftq cluster: ${sweep.param} sweep (N = ${o.n}, ${stamp})`,
    sweep.param,
    xs,
    plotted.map((k) => ({ title: k, values: runs.map((r) => r.figures[k]) })),
  );
  writeFileSync(`${base}.svg`, svgText);
  log(`sweep written: ${base}.json and ${base}.svg`);
  return { ...result, files: [`${base}.json`, `${base}.svg`] };
}
