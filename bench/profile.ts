// `npm run bench -- profile [--workload a|s|b|c|i|both|all] [--n N] [--seconds S] [--waiting W] [--settle S] [--warmup N] [--json]`: where the time goes.
// Starts a 3-node cluster whose nodes run with the counting and profiling probe
// (bench/probe.mjs), runs workload S (one enqueue at a time), I (idle; per-task figures are then per second), B (end to end, N tasks) or C (1,000 tasks/s
// for S seconds) from this
// process (itself profiled through the inspector, for the SDK's share), and reports per node: CPU per
// task, fsyncs, LevelDB batches, peer gRPC calls and client calls per task (probe and /metrics), the
// phases of a Ready (persist, send, apply), node-side command latency, event-loop delay, and the
// profile's self time by area and by function. Raw .cpuprofile files stay in the printed folder
// (open them in Chrome DevTools or speedscope). One fresh cluster per workload; the node profiles
// cover the measured window only (the probe starts and stops the inspector's profiler).
import {
  closeSync,
  fdatasyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { Session } from 'node:inspector/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../src/node/local-cluster.js';
import { summarizeProfile, type CpuProfile, type ProfileSummary } from './cpuprofile.js';
import { Client } from './sdk.js';
import {
  endToEnd,
  enqueueWorkload,
  latency,
  payload,
  preload,
  rss,
  startCluster,
  stopCluster,
  summary,
  type Cluster,
  warmUp,
} from './e2e.js';

type Workload = 'a' | 'b' | 'c' | 's' | 'i';

const PROBE = fileURLToPath(new URL('./probe.mjs', import.meta.url));

interface ProbeDump {
  pid: number;
  wallMs: number;
  cpuMs: { user: number; system: number };
  counts: Record<string, number>;
  samples: Record<string, { n: number; totalMs: number; p50: number; p90: number; p99: number; max: number }>;
  eventLoopDelayMs: Record<string, number>;
  /** Garbage collections in the window by kind: count and pause ms (probe.mjs). */
  gcByKind?: Record<string, { n: number; ms: number }>;
  memMiB?: Record<string, number>;
}

/** fdatasync latency of 4 KiB appends to a new file right now (the disk is shared): p50 / p99 ms. */
export function fdatasyncLatency(dir: string, count = 300, maxMs = 3_000): { n: number; p50: number; p99: number } {
  const file = join(dir, 'fsync-probe');
  const fd = openSync(file, 'w');
  const buf = Buffer.alloc(4096, 120);
  const xs: number[] = [];
  const end = performance.now() + maxMs;
  try {
    while (xs.length < count && performance.now() < end) {
      writeSync(fd, buf);
      const t = performance.now();
      fdatasyncSync(fd);
      xs.push(performance.now() - t);
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  const s = summary(xs);
  return { n: s.n, p50: +s.p50.toFixed(3), p99: +s.p99.toFixed(3) };
}

/** Busy and total jiffies of the whole machine (/proc/stat), to tell how much else ran. */
export function machineJiffies(): { busy: number; total: number } {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: total - idle, total };
}

export async function httpText(port: number, path: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5_000) });
  return res.text();
}

/** The counters and histogram counts of one node's /metrics that matter per task. */
async function metricsOf(port: number): Promise<Record<string, number>> {
  const text = await httpText(port, '/metrics');
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m =
      /^(raftq_[a-z_]+(?:_count|_sum|_total)|raftq_raft_commit_index|raftq_snapshot_index)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(
        line,
      );
    if (m) out[`${m[1]}${m[2] ?? ''}`] = Number(m[3]);
  }
  return out;
}

function delta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(b).map((k) => [k, (b[k] as number) - (a[k] ?? 0)]));
}

async function waitFiles(dir: string, names: string[], ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const have = new Set(readdirSync(dir));
    if (names.every((n) => have.has(n))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The probe's dump at a boundary: SIGUSR2 to every node, then read `<pid>-<tag>.json`. */
async function probeBoundary(c: Cluster, probeDir: string, tag: string): Promise<Map<string, ProbeDump>> {
  const pids = new Map(c.cluster.specs.map((s) => [s.id, c.cluster.pid(s.id) as number]));
  for (const pid of pids.values()) process.kill(pid, 'SIGUSR2');
  await waitFiles(
    probeDir,
    [...pids.values()].map((p) => `${p}-${tag}.json`),
    5_000,
  );
  const out = new Map<string, ProbeDump>();
  for (const [id, pid] of pids) {
    try {
      out.set(id, JSON.parse(readFileSync(join(probeDir, `${pid}-${tag}.json`), 'utf8')) as ProbeDump);
    } catch {
      // a node that did not answer is reported without probe data
    }
  }
  return out;
}

export async function leaderOf(c: Cluster): Promise<string | null> {
  for (const s of c.cluster.specs) {
    try {
      const st = JSON.parse(await httpText(s.httpPort, '/status')) as { leader: string | null };
      if (st.leader) return st.leader;
    } catch {
      // try the next node
    }
  }
  return null;
}

/** Waits until every node answers /readyz with 200 and one names a leader (a restarted node is back); the leader. */
export async function allReady(c: Cluster, ms: number): Promise<string> {
  return waitFor(
    async () => {
      for (const s of c.cluster.specs) {
        const r = await fetch(`http://127.0.0.1:${s.httpPort}/readyz`, { signal: AbortSignal.timeout(2_000) });
        if (r.status !== 200) return undefined;
      }
      return (await leaderOf(c)) ?? undefined;
    },
    ms,
    'every node ready with a leader',
    100,
  );
}

interface NodeReport {
  id: string;
  role: 'leader' | 'follower';
  perTask: Record<string, number>;
  probe: ProbeDump | undefined;
  metrics: Record<string, number>;
  profile: ProfileSummary | null;
}

function perTask(tasks: number, d: ProbeDump | undefined, m: Record<string, number>): Record<string, number> {
  const r = (x: number | undefined): number => Math.round(((x ?? 0) / tasks) * 1e4) / 1e4;
  const cnt = d?.counts ?? {};
  const grpcOut = Object.entries(cnt)
    .filter(([k]) => k.startsWith('grpc.out.'))
    .reduce((s, [, v]) => s + v, 0);
  return {
    cpu_ms: r((d?.cpuMs.user ?? 0) + (d?.cpuMs.system ?? 0)),
    readys: r(cnt['ready']),
    leveldb_sync_batches: r(cnt['leveldb.syncBatch']),
    promise_file_syncs: r(cnt['promisefile.write'] ?? 0),
    durable_writes_metric: r(m['raftq_fsync_seconds_count']),
    peer_grpc_calls_out: r(grpcOut),
    peer_messages_out: r(
      Object.entries(cnt).reduce((s, [k, v]) => s + (k.startsWith('peer.msg.') && k !== 'peer.msg.entries' ? v : 0), 0),
    ),
    client_calls: r(m['raftq_client_calls_total']),
    submit_calls: r(m['raftq_client_submit_calls_total']),
    submit_items: r(m['raftq_client_submit_items_total']),
    raft_entries: r(cnt['ready.entries']),
  };
}

/** I: nothing asked of the cluster (what an idle cluster spends; per "task" figures are per second). */
async function idle(seconds: number) {
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return { seconds, received: seconds };
}

/** S: one enqueue at a time (no queueing anywhere): the pipeline's own latency. */
async function sequential(c: Cluster, n: number, maxSec: number) {
  const client = new Client({ servers: c.cluster.servers, timeoutMs: 30_000 });
  const q = client.queue<Uint8Array>(`s-${Date.now()}`);
  const lat: number[] = [];
  const end = performance.now() + maxSec * 1000;
  for (let i = 0; i < n && performance.now() < end; i++) {
    const t = performance.now();
    await q.enqueue(payload(i));
    lat.push(performance.now() - t);
  }
  await client.close();
  return { n, received: lat.length, enqueueAckMs: summary(lat.slice(Math.min(50, lat.length >> 1))) };
}

async function profileWorkload(
  workload: Workload,
  n: number,
  seconds: number,
  root: string,
  log: (s: string) => void,
  waiting = 0,
  settleSeconds = 0,
  warmup = 0,
) {
  const probeDir = join(root, `${workload}-probe`);
  mkdirSync(probeDir, { recursive: true });
  const c = await startCluster({
    execArgv: ['--expose-gc', '--import', PROBE],
    env: { RAFTQ_PROBE_DIR: probeDir, RAFTQ_PROBE_PROFILE: '1' },
  });
  const session = new Session();
  session.connect();
  try {
    const leader = await leaderOf(c);
    const fsync = fdatasyncLatency(root);
    log(
      `profile ${workload}: 3 nodes up, leader ${leader}; load avg ${loadavg()[0]?.toFixed(2)}; ` +
        `fdatasync now p50 ${fsync.p50} / p99 ${fsync.p99} ms`,
    );
    if (warmup > 0) {
      // As the cluster bench does (--warmup): the nodes' JIT has seen the flow, this process has not.
      log(`warm-up: ${warmup} tasks end to end, then 10 s at 1,000/s, by another process: ${warmUp(c, warmup, 10)}`);
    }
    if (waiting > 0) {
      const w = await preload(c, waiting, log);
      log(`${w.tasks} tasks left waiting in ${w.secs} s; RSS ${rss(c)} MiB`);
    }
    if (settleSeconds > 0) {
      // As G is measured (bench/cluster.ts): once start-up's garbage and timers have settled.
      log(`settling ${settleSeconds} s before the window`);
      await new Promise((r) => setTimeout(r, settleSeconds * 1000));
    }
    const m0 = await Promise.all(c.cluster.specs.map((s) => metricsOf(s.httpPort)));
    await probeBoundary(c, probeDir, '0');
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 500 });
    await session.post('Profiler.start');
    const t0 = performance.now();
    const j0 = machineJiffies();
    const own0 = process.cpuUsage();
    const result =
      workload === 'a'
        ? await enqueueWorkload(c, n, 2, 1000, 120)
        : workload === 'b'
          ? await endToEnd(c, n, 120)
          : workload === 'c'
            ? await latency(c, 1000, seconds)
            : workload === 's'
              ? await sequential(c, Math.min(n, 2_000), seconds * 3)
              : await idle(seconds);
    const wallMs = performance.now() - t0;
    const j1 = machineJiffies();
    const own = process.cpuUsage(own0);
    const { profile } = await session.post('Profiler.stop');
    const dumps = await probeBoundary(c, probeDir, '1');
    const m1 = await Promise.all(c.cluster.specs.map((s) => metricsOf(s.httpPort)));
    const tasks = 'unique' in result ? result.unique : 'acked' in result ? result.acked : result.received;
    const nodes: NodeReport[] = c.cluster.specs.map((s, i) => ({
      id: s.id,
      role: s.id === leader ? 'leader' : 'follower',
      perTask: perTask(tasks, dumps.get(s.id), delta(m0[i] ?? {}, m1[i] ?? {})),
      probe: dumps.get(s.id),
      metrics: delta(m0[i] ?? {}, m1[i] ?? {}),
      profile: nodeProfile(probeDir, c.cluster.pid(s.id)),
    }));
    writeFileSync(join(root, `${workload}-client.cpuprofile`), JSON.stringify(profile));
    // Cores in use on the whole machine during the window, and the part neither the nodes nor this process used.
    const cores = ((j1.busy - j0.busy) / (j1.total - j0.total)) * cpus().length;
    const oursMs =
      (own.user + own.system) / 1000 +
      nodes.reduce((a, x) => a + (x.probe ? x.probe.cpuMs.user + x.probe.cpuMs.system : 0), 0);
    const machine = {
      fsync,
      loadavg: loadavg(),
      coresBusy: +cores.toFixed(2),
      coresOther: +(cores - oursMs / wallMs).toFixed(2),
      clientCpuMsPerTask: +((own.user + own.system) / 1000 / tasks).toFixed(4),
    };
    log(`machine during the window: ${JSON.stringify(machine)}`);
    return { c, nodes, machine, tasks, wallMs, result, client: summarizeProfile(profile as CpuProfile) };
  } finally {
    session.disconnect();
  }
}

/** The probe's CPU profile of the measured window (`<pid>-1.cpuprofile`), summarised. */
function nodeProfile(probeDir: string, pid: number | undefined): ProfileSummary | null {
  try {
    return summarizeProfile(JSON.parse(readFileSync(join(probeDir, `${pid}-1.cpuprofile`), 'utf8')) as CpuProfile);
  } catch {
    return null;
  }
}

export async function run(opts: { json: boolean; argv?: string[] }): Promise<Record<string, unknown>> {
  const argv = opts.argv ?? process.argv.slice(2);
  const arg = (name: string, dflt: string): string => {
    const at = argv.indexOf(name);
    return at >= 0 ? (argv[at + 1] ?? dflt) : dflt;
  };
  const which = arg('--workload', 'both');
  const n = Number(arg('--n', '20000'));
  const seconds = Number(arg('--seconds', '10'));
  const waiting = Number(arg('--waiting', '0'));
  const settle = Number(arg('--settle', '0'));
  const warmup = Number(arg('--warmup', '0'));
  if (!Number.isSafeInteger(warmup) || warmup < 0 || warmup > 1_000_000)
    throw new Error('--warmup must be in 0..1000000 (tasks)');
  if (!Number.isSafeInteger(settle) || settle < 0 || settle > 600)
    throw new Error('--settle must be in 0..600 (seconds)');
  if (!Number.isSafeInteger(waiting) || waiting < 0 || waiting > 10_000_000)
    throw new Error('--waiting must be in 0..1e7');
  if (!['a', 'b', 'c', 's', 'i', 'both', 'all'].includes(which))
    throw new Error('--workload must be a, b, c, s, i, both or all');
  if (!Number.isSafeInteger(n) || n < 1000 || n > 1_000_000) throw new Error('--n must be in 1000..1000000');
  if (!Number.isSafeInteger(seconds) || seconds < 2 || seconds > 120) throw new Error('--seconds must be in 2..120');
  const log = (s: string): void => (opts.json ? console.error(s) : console.log(s));
  const root = mkdtempSync(join(tmpdir(), 'raftq-profile-'));
  log(`profile: raw profiles and probe dumps in ${root}`);
  const out: Record<string, unknown> = { dir: root, loadavgBefore: loadavg() };
  const list: Workload[] = which === 'both' ? ['b', 'c'] : which === 'all' ? ['s', 'b', 'c'] : [which as Workload];
  for (const w of list) {
    const r = await profileWorkload(w, n, seconds, root, log, waiting, settle, warmup);
    await stopCluster(r.c);
    out[w] = {
      tasks: r.tasks,
      wallMs: Math.round(r.wallMs),
      machine: r.machine,
      result: r.result,
      nodes: r.nodes,
      client: r.client,
    };
    printWorkload(w, r.tasks, r.wallMs, r.result, r.nodes, r.client, log);
  }
  out['loadavgAfter'] = loadavg();
  writeFileSync(join(root, 'summary.json'), JSON.stringify(out, null, 1));
  return out;
}

function printWorkload(
  w: string,
  tasks: number,
  wallMs: number,
  result: unknown,
  nodes: NodeReport[],
  client: ProfileSummary,
  log: (s: string) => void,
): void {
  log(`\n=== workload ${w.toUpperCase()}: ${tasks} tasks in ${(wallMs / 1000).toFixed(1)} s`);
  log(JSON.stringify(result));
  for (const node of nodes) {
    log(`\n--- ${node.id} (${node.role}) per task: ${JSON.stringify(node.perTask)}`);
    const s = node.probe?.samples ?? {};
    for (const k of Object.keys(s)) log(`  ${k}: ${JSON.stringify(s[k])}`);
    log(`  counts: ${JSON.stringify(node.probe?.counts ?? {})}`);
    log(`  event loop delay ms: ${JSON.stringify(node.probe?.eventLoopDelayMs ?? {})}`);
    log(`  garbage collections (count, pause ms): ${JSON.stringify(node.probe?.gcByKind ?? {})}`);
    log(`  memory after a full GC, MiB: ${JSON.stringify(node.probe?.memMiB ?? {})}`);
    printProfile(node.profile, log);
  }
  log(`\n--- client process (this one: SDK producer + worker + bench)`);
  printProfile(client, log);
}

function printProfile(p: ProfileSummary | null, log: (s: string) => void): void {
  if (!p) return log('  (no profile)');
  log(`  profile: wall ${p.wallMs} ms, busy ${p.busyMs} ms, idle ${p.idleMs} ms, gc ${p.gcMs} ms`);
  log('  areas (self time, % of busy):');
  for (const a of p.areas.slice(0, 16))
    log(`    ${a.pct.toFixed(1).padStart(5)} %  ${a.ms.toFixed(0).padStart(6)} ms  ${a.fn}`);
  log('  top self:');
  for (const a of p.topSelf.slice(0, 20))
    log(`    ${a.pct.toFixed(1).padStart(5)} %  ${a.ms.toFixed(0).padStart(6)} ms  ${a.fn}`);
  log('  top inclusive:');
  for (const a of p.topInclusive)
    log(`    ${a.pct.toFixed(1).padStart(5)} %  ${a.ms.toFixed(0).padStart(6)} ms  ${a.fn}`);
}
