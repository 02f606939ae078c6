// `npm run bench -- gctail [--seconds S] [--rounds R] [--warmup N] [--json]`: how much of workload C's
// latency tail lines up with garbage-collection pauses. Starts a 3-node cluster whose nodes run with
// `--trace-gc`, warms it up as the cluster bench does (bench/warmup.ts), then runs C's flow (1,000
// enqueues a second, one worker of concurrency 256) for S seconds per round from this process, and
// reports for each round:
// - the enqueue → ack and enqueue → start percentiles;
// - each process's GC pauses: count, longest, and the share of the round they took;
// - the share of all acks, and of the slowest 1 %, whose enqueue → ack window overlaps a GC pause of
//   any process (this one, the measuring process, observed exactly with a PerformanceObserver; a node's
//   from its `--trace-gc` line, whose arrival ends the pause: the pipe's delay shifts it by well under
//   a millisecond).
// An overlap is not proof that the pause delayed that ack, but if the slowest 1 % all overlap pauses
// while most acks do not, the p99 is set by the pauses. Not seen: a node's incremental-marking steps
// (`--trace-gc` sums them into the mark-compact's line), so a node's marking shows only its final pause.
import { PerformanceObserver } from 'node:perf_hooks';
import { Client } from './sdk.js';
import { parse, startCluster, steadyEnqueues, stopCluster, summary, warmUp, type Cluster } from './e2e.js';

type Kind = 'minor' | 'major' | 'incremental' | 'weak callbacks';

/** PerformanceObserver's gc `detail.kind` (NODE_PERFORMANCE_GC_*). */
const KINDS: Record<number, Kind> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weak callbacks' };

interface Pause {
  who: string;
  kind: Kind;
  start: number;
  end: number;
}

interface Sample {
  at: number;
  ms: number;
}

/** `[pid:addr]  1234 ms: Scavenge 91.8 (135.8) -> 69.0 (135.8) MB, 11.94 / 1.17 ms …`: kind and pause ms. */
export function parseTraceGc(line: string): { kind: 'minor' | 'major'; ms: number } | null {
  const m = /ms: (Scavenge|Minor Mark-Sweep|Mark-Compact|Mark-Sweep)[^,]*, ([0-9.]+) \/ [0-9.]+ ms/.exec(line);
  if (m === null) return null;
  return { kind: m[1] === 'Scavenge' || m[1] === 'Minor Mark-Sweep' ? 'minor' : 'major', ms: Number(m[2]) };
}

function int(argv: string[], flag: string, dflt: number, min: number, max: number): number {
  const at = argv.indexOf(flag);
  const v = at >= 0 ? Number(argv[at + 1]) : dflt;
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new Error(`${flag} must be an integer in [${min}, ${max}]`);
  return v;
}

/** One round of C's flow; every ack and start with its enqueue instant (performance.now()). */
async function round(
  c: Cluster,
  seconds: number,
): Promise<{ acks: Sample[]; starts: Sample[]; from: number; to: number }> {
  const client = new Client({ servers: c.cluster.servers, timeoutMs: 30_000 });
  const name = `gctail-${Date.now()}`;
  const acks: Sample[] = [];
  const starts: Sample[] = [];
  const warm = 500;
  const worker = client.worker<Uint8Array>(
    name,
    (task) => {
      const { seq, sendMs } = parse(task.payload);
      if (seq >= warm) starts.push({ at: sendMs, ms: performance.now() - sendMs });
    },
    { concurrency: 256, leaseMs: 30_000 },
  );
  const from = performance.now();
  await steadyEnqueues(client.queue<Uint8Array>(name), 1000 * seconds, 1000, seconds, (seq, ms) => {
    if (seq >= warm) acks.push({ at: performance.now() - ms, ms });
  });
  const to = performance.now();
  await worker.close({ timeoutMs: 10_000 });
  await client.close();
  return { acks, starts, from, to };
}

function overlaps(s: Sample, pauses: readonly Pause[]): Pause[] {
  return pauses.filter((p) => p.end >= s.at && p.start <= s.at + s.ms);
}

/** Per process: pauses in [from, to], the longest, and their share of the window. */
function pauseTable(pauses: readonly Pause[], from: number, to: number): Record<string, object> {
  const out: Record<string, { count: Record<string, number>; maxMs: number; pctOfTime: number }> = {};
  for (const p of pauses) {
    if (p.end < from || p.start > to) continue;
    const row = (out[p.who] ??= { count: {}, maxMs: 0, pctOfTime: 0 });
    row.count[p.kind] = (row.count[p.kind] ?? 0) + 1;
    row.maxMs = Math.max(row.maxMs, +(p.end - p.start).toFixed(2));
    row.pctOfTime += ((p.end - p.start) / (to - from)) * 100;
  }
  for (const row of Object.values(out)) row.pctOfTime = +row.pctOfTime.toFixed(2);
  return out;
}

/** The slowest 1 % of acks: how many overlap a pause, by the set of processes paused. */
function tailAttribution(acks: readonly Sample[], pauses: readonly Pause[]) {
  const cut = summary(acks.map((a) => a.ms)).p99;
  const top = acks.filter((a) => a.ms >= cut);
  const by: Record<string, number> = {};
  let hit = 0;
  for (const a of top) {
    const who = [...new Set(overlaps(a, pauses).map((p) => `${p.who} ${p.kind}`))].sort();
    if (who.length > 0) hit++;
    const key = who.length > 0 ? who.join(' + ') : 'no pause';
    by[key] = (by[key] ?? 0) + 1;
  }
  const anyOverlap = acks.filter((a) => overlaps(a, pauses).length > 0).length;
  return {
    p99Ms: +cut.toFixed(2),
    slowest: top.length,
    slowestOverlappingPct: +((hit / Math.max(1, top.length)) * 100).toFixed(1),
    allOverlappingPct: +((anyOverlap / Math.max(1, acks.length)) * 100).toFixed(1),
    slowestByPaused: by,
  };
}

export async function run(opts: { json: boolean; argv?: string[] }): Promise<Record<string, unknown>> {
  const argv = opts.argv ?? process.argv.slice(2);
  const seconds = int(argv, '--seconds', 10, 2, 120);
  const rounds = int(argv, '--rounds', 2, 1, 10);
  const warmup = int(argv, '--warmup', 20_000, 0, 1_000_000);
  const log = (s: string): void => (opts.json ? console.error(s) : console.log(s));
  const pauses: Pause[] = [];
  const onLine = (id: string, line: string): void => {
    const gc = parseTraceGc(line);
    const now = performance.now();
    if (gc !== null) pauses.push({ who: id, kind: gc.kind, start: now - gc.ms, end: now });
  };
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = KINDS[(e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 2] ?? 'major';
      pauses.push({ who: 'client', kind, start: e.startTime, end: e.startTime + e.duration });
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const c = await startCluster({ execArgv: ['--trace-gc'], onLine });
  const out: Record<string, unknown>[] = [];
  try {
    if (warmup > 0) log(`gctail: warm-up ${warmUp(c, warmup, 10)}`);
    for (let r = 0; r < rounds; r++) {
      const { acks, starts, from, to } = await round(c, seconds);
      const res = {
        ackMs: summary(acks.map((a) => a.ms)),
        startMs: summary(starts.map((s) => s.ms)),
        pauses: pauseTable(pauses, from, to),
        tail: tailAttribution(acks, pauses),
      };
      log(`gctail round ${r + 1}/${rounds}: ${JSON.stringify(res)}`);
      if (Object.keys(res.pauses).every((who) => who === 'client')) {
        log('gctail: no node GC line was parsed in this round: has the --trace-gc format changed?');
      }
      out.push(res);
    }
  } finally {
    observer.disconnect();
    await stopCluster(c);
  }
  return { seconds, rounds, results: out };
}
