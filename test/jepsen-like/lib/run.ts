// One jepsen-like run: start the cluster, drive the workload while the schedule injects faults,
// heal, drain, read the final state and the (index, digest) pairs of every node, probe every node,
// check the history, and write the run folder. Exit status: 0 pass, 1 violations, 2 harness failure.
import { createWriteStream, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkAll, HistoryRecorder, summary, timelineSvg } from '../../../src/checker/index.js';
import type { DigestPoint, FinalTask, Minimums, RecoveryProbe, Verdict } from '../../../src/checker/index.js';
import { JepsenCluster, type ClusterFactory } from './cluster.js';
import { sleep, type NemesisContext } from './nemesis.js';
import { plant as plantByName, privateBuild, type Plant } from './planted.js';
import { Rng } from './rng.js';
import { ScheduleProbe, scheduleLine, type ScheduleProbeResult } from './schedule-probe.js';
import { namedSchedule, parseNemeses, rotation, runSchedule, type Schedule } from './schedules.js';
import { WhiteboxObserver, type WhiteboxResult } from './whitebox.js';
import { Workload } from './workload.js';

export interface RunOptions {
  nodes: number;
  /** `kill,pause,...` or `all`; exclusive with schedule. */
  nemesis?: string;
  /** A named combination, e.g. `C1`. */
  schedule?: string;
  /** Length of the fault phase, seconds. */
  timeSec: number;
  seed: number;
  /** The run folder (default: $TMPDIR/raftq-jepsen/<date>-<name>-<seed>). */
  out?: string;
  /** Keep the nodes' data dirs (default: removed on pass). */
  keepData?: boolean;
  /** Run with a planted bug (the run is then expected to fail). */
  plant?: string;
  /** Quiet period between fault rounds, ms. */
  quietMs?: [number, number];
  producers?: number;
  workers?: number;
  /** L1 probes through each node alone, without falling back to the other nodes. */
  strictProbes?: boolean;
  /** Overrides of the computed minimums. */
  minimums?: Minimums;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** A schedule every second through the run, checked at the end (schedule-probe.ts). */
  schedules?: boolean;
}

export interface RunResult {
  exitCode: 0 | 1 | 2;
  status: 'pass' | 'fail' | 'harness-failure';
  dir: string;
  verdict?: Verdict;
  whitebox?: WhiteboxResult;
  /** Why the harness failed, when it did before a verdict. */
  error?: string;
  summary: string;
}

const heartbeatMs = 50;
const electionTicks = 10;
/** The node randomises its election timeout in [T, 2T). */
const electionMs = 2 * heartbeatMs * electionTicks;
const leaseMs = 4_000;
/** L1's T_heal: 10 × the maximum election timeout plus a snapshot transfer. */
const recoveryBoundMs = 10 * electionMs + 10_000;

export function runName(o: RunOptions): string {
  const what = o.schedule ?? `nemesis-${(o.nemesis ?? 'none').replace(/,/g, '+')}`;
  return `${what}-n${o.nodes}${o.plant ? `-plant-${o.plant}` : ''}`;
}

/** Minimums a run must reach to count as evidence; below them it is a harness failure. */
export function minimumsFor(o: RunOptions, s: Schedule): Minimums {
  const t = o.timeSec;
  const moves = s.kinds.some((k) => ['kill', 'pause', 'partition', 'power', 'snapshot'].includes(k));
  const faults: Record<string, number> = {};
  for (const k of s.kinds) faults[k] = 1;
  return {
    ok: Math.max(50, Math.round(2 * t)),
    fail: 1,
    completed: Math.max(20, Math.round(t / 2)),
    faults,
    ...(moves ? { leaderChanges: 1, info: 1 } : {}),
    leasesExpired: 1,
    staleAcksRefused: 1,
    digestComparisons: 1,
    ...o.minimums,
  };
}

function scheduleOf(o: RunOptions, p: Plant | undefined): Schedule {
  const spec = o.schedule === undefined && o.nemesis === undefined && p !== undefined ? p.defaultSpec : o;
  if (spec.schedule !== undefined) return namedSchedule(spec.schedule);
  return rotation(parseNemeses(spec.nemesis ?? 'all'));
}

export async function runJepsen(o: RunOptions): Promise<RunResult> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = o.out ?? join(tmpdir(), 'raftq-jepsen', `${stamp}-${runName(o)}-${o.seed}`);
  mkdirSync(dir, { recursive: true });
  const events = createWriteStream(join(dir, 'events.log'));
  const log = (line: string): void => {
    const l = `${(performance.now() / 1000).toFixed(3)} ${line}`;
    events.write(l + '\n');
    o.log?.(l);
  };
  let cluster: JepsenCluster | undefined;
  const onExit = (): void => cluster?.killAllNow();
  process.once('exit', onExit);
  try {
    return await runInside(o, dir, log, (c) => (cluster = c));
  } catch (e) {
    const error = e instanceof Error ? (e.stack ?? e.message) : String(e);
    log(`harness failure: ${error}`);
    const text = `raftq jepsen-like run: HARNESS FAILURE (not a pass)\n\n${error}\n`;
    writeFileSync(join(dir, 'summary.txt'), text);
    writeFileSync(join(dir, 'results.json'), JSON.stringify({ options: o, status: 'harness-failure', error }, null, 2));
    return { exitCode: 2, status: 'harness-failure', dir, error, summary: text };
  } finally {
    await cluster?.close().catch(() => {});
    process.removeListener('exit', onExit);
    events.end();
  }
}

async function runInside(
  o: RunOptions,
  dir: string,
  log: (line: string) => void,
  setCluster: (c: JepsenCluster) => void,
): Promise<RunResult> {
  if (o.nodes !== 3 && o.nodes !== 5) throw new Error(`nodes: ${o.nodes} is not 3 or 5`);
  if (o.nemesis !== undefined && o.schedule !== undefined) throw new Error('give --nemesis or --schedule, not both');
  const p = o.plant !== undefined ? plantByName(o.plant) : undefined;
  const schedule = scheduleOf(o, p);
  const rng = new Rng(o.seed);
  const factory: ClusterFactory = await privateBuild(dir, p?.patches);
  const history = createWriteStream(join(dir, 'history.jsonl'));
  const recorder = new HistoryRecorder({ write: (line) => history.write(line) });

  const cluster = await JepsenCluster.create({
    nodes: o.nodes,
    dir,
    heartbeatMs,
    electionTicks,
    ...(schedule.snapshotEveryEntries !== undefined ? { snapshotEveryEntries: schedule.snapshotEveryEntries } : {}),
    storageFaults: p?.storageFaults ?? '1',
    factory,
    log,
  });
  setCluster(cluster);
  log(`run ${runName(o)} seed ${o.seed} in ${dir}`);
  cluster.startAll();
  const first = await waitLeader(cluster, 30_000);
  log(`leader ${first.id} term ${first.term}`);

  const stopObserving = new AbortController();
  const whitebox = new WhiteboxObserver();
  const observer = observeLeaders(cluster, recorder, whitebox, stopObserving.signal);
  const workload = new Workload({
    servers: cluster.servers,
    recorder,
    rng: rng.fork(),
    leaseMs,
    ...(o.producers !== undefined ? { producers: o.producers } : {}),
    ...(o.workers !== undefined ? { workers: o.workers } : {}),
    log,
  });
  await workload.setup(30_000);
  const schedProbe = o.schedules === true ? new ScheduleProbe(cluster.servers, log) : null;
  await schedProbe?.setup();
  workload.start();

  const phase = new AbortController();
  const ctx: NemesisContext = {
    cluster,
    recorder,
    rng: rng.fork(),
    leaseMs,
    electionMs,
    stop: phase.signal,
    log,
  };
  const timer = setTimeout(() => phase.abort(), o.timeSec * 1000);
  let rounds: number;
  try {
    if (p?.leaderMonoRate !== undefined) void driftLeader(ctx, p.leaderMonoRate);
    rounds = await runSchedule(ctx, schedule, o.quietMs ?? schedule.quietMs ?? [1_000, 3_000]);
  } finally {
    clearTimeout(timer);
  }
  log(`fault phase over after ${rounds} rounds; healing`);
  await cluster.heal();
  const healTime = recorder.now();
  recorder.fault('heal', 'start');
  recorder.fault('heal', 'stop');

  // L1 probes start at the heal, alongside the drain: the bound runs from the heal.
  const probing = Promise.all(
    cluster.live.map((id) => workload.probe(id, probeServers(cluster, id, o.strictProbes === true), recoveryBoundMs)),
  );
  const drained = await workload.drain(Math.max(60_000, recoveryBoundMs));
  log(drained ? 'drained' : `drain incomplete: ${workload.unseen.size} acknowledged values never leased`);
  await workload.stop();
  const notConverged = (e: unknown): void => {
    log(`not converged: ${String(e)}`);
    whitebox.violation('not-converged-after-heal', { error: String(e) });
  };
  const recovery: RecoveryProbe[] = [];
  for (const p of await probing) {
    // A fallback probe proves the cluster serves; the node itself must also be up and ready.
    const ready = (await cluster.status(p.node))?.ready === true;
    recovery.push({ ...p, ok: p.ok && ready });
  }
  await schedProbe?.pause();
  // Leases the stopped workers held run out; then every node is read at one and the same index.
  await sleep(leaseMs + 1_000);
  const reads = await readAtOneIndex(cluster, workload, notConverged, log);
  for (const [id, tasks] of reads) {
    const op = recorder.invoke(`reader-${id}`, 'read', null, id);
    if (typeof tasks === 'string') {
      op.info('READ_FAILED', null);
      log(tasks);
      whitebox.violation('final-read-failed', { node: id, error: tasks });
    } else op.ok({ tasks });
  }
  await cluster.converged(recoveryBoundMs).catch(notConverged);
  const sched: ScheduleProbeResult | null =
    schedProbe === null ? null : await schedProbe.check(Math.floor(o.timeSec / 2));
  if (sched !== null && !sched.valid) whitebox.violation('schedule', { problems: sched.problems });
  stopObserving.abort();
  await observer;
  for (const e of cluster.unexpectedExits) whitebox.violation('node-crashed', { ...e });

  const digests: Record<string, DigestPoint[]> = {};
  for (const id of cluster.live) digests[id] = (await cluster.digests(id)) ?? [];
  recorder.finish({ nodes: [...cluster.live], digests, healTime, recovery });
  await new Promise<void>((ok) => history.end(() => ok()));

  const minimums = minimumsFor(o, schedule);
  const verdict = checkAll(recorder.ops(), recorder.final(), {
    minimums,
    recoveryBoundMs,
    compareTaskIds: (a, b) => Number(a) - Number(b),
  });
  const wb = whitebox.result();
  // A white-box violation fails the run like a history violation does.
  const status = wb.valid ? verdict.status : 'fail';
  const expected = p ? `\nplanted bug: ${p.name} (expected to be caught by ${p.caughtBy})\n` : '';
  const head =
    `raftq jepsen-like run ${runName(o)} seed ${o.seed}: ${o.timeSec} s of faults, ${rounds} rounds, ` +
    `nodes ${o.nodes}; refused damaged storage: ${[...cluster.refused].join(',') || 'none'}${expected}\n`;
  const text = head + summary(verdict) + whiteboxLines(wb) + (sched === null ? '' : scheduleLine(sched));
  writeFileSync(join(dir, 'summary.txt'), text);
  writeFileSync(
    join(dir, 'results.json'),
    JSON.stringify(
      {
        options: { ...o, log: undefined },
        status,
        minimums,
        whitebox: wb,
        ...(sched === null ? {} : { schedule: sched }),
        rounds,
        refused: [...cluster.refused],
        verdict,
      },
      (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v),
      2,
    ),
  );
  writeFileSync(join(dir, 'timeline.html'), timelineSvg(recorder.ops()));
  if (status === 'pass' && o.keepData !== true) {
    rmSync(join(dir, 'data'), { recursive: true, force: true });
    rmSync(join(dir, 'build'), { recursive: true, force: true });
  }
  const exitCode = status === 'pass' ? 0 : status === 'fail' ? 1 : 2;
  return { exitCode, status, dir, verdict, whitebox: wb, summary: text };
}

/**
 * The probe's servers: the node first. Unless strict, the others follow, because a follower's
 * NOT_LEADER carries no leader hint while members' client addresses are not yet part of the
 * replicated membership (docs/design.md §5); strict probes use the node alone.
 */
function probeServers(c: JepsenCluster, id: string, strict: boolean): string[] {
  const own = c.clientAddress(id);
  return strict ? [own] : [own, ...c.ids.filter((x) => x !== id).map((x) => c.clientAddress(x))];
}

/**
 * Q13 compares the nodes' final reads, so they must show one state: read every node after all
 * applied the same commit index, and again if that index moved meanwhile (a delayed task came due).
 */
async function readAtOneIndex(
  cluster: JepsenCluster,
  workload: Workload,
  notConverged: (e: unknown) => void,
  log: (line: string) => void,
): Promise<[string, FinalTask[] | string][]> {
  let reads: [string, FinalTask[] | string][] = [];
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const before = await cluster.converged(recoveryBoundMs).catch((e: unknown) => e);
    if (!Array.isArray(before)) {
      notConverged(before);
      break;
    }
    reads = await Promise.all(
      cluster.live.map(
        async (id) => [id, await workload.readAll(id, cluster.clientAddress(id))] as [string, FinalTask[] | string],
      ),
    );
    const after = await Promise.all(cluster.live.map((id) => cluster.status(id)));
    if (after.every((s) => s !== null && s.appliedIndex === before[0]!.commitIndex)) return reads;
    log(`final reads: the commit index moved during the reads (attempt ${attempt + 1}); reading again`);
  }
  return reads;
}

function whiteboxLines(wb: WhiteboxResult): string {
  const counts = Object.entries(wb.details)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const lines = [`white-box (/status polling): ${wb.valid ? 'ok' : `FAIL ${wb.count} violation(s)`}  ${counts}`];
  for (const ex of wb.examples) lines.push(`  e.g. ${JSON.stringify(ex)}`);
  return lines.join('\n') + '\n';
}

async function waitLeader(c: JepsenCluster, ms: number): Promise<{ id: string; term: number }> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const l = await c.leader();
    if (l !== undefined) return l;
    await sleep(100);
  }
  throw new Error(`no leader within ${ms} ms`);
}

/** Records every (leader, term) seen, polling each node's /status. */
async function observeLeaders(
  c: JepsenCluster,
  rec: HistoryRecorder,
  whitebox: WhiteboxObserver,
  stop: AbortSignal,
): Promise<void> {
  const seen = new Set<string>();
  while (!stop.aborted) {
    const all = await Promise.all(c.ids.map((id) => c.status(id)));
    for (const s of all) {
      if (s !== null) whitebox.observe(s, c.generations.get(s.id) ?? 0);
      if (s?.role !== 'leader') continue;
      const key = `${s.term}/${s.id}`;
      if (seen.has(key)) continue;
      seen.add(key);
      rec.leader(s.id, s.term);
    }
    await sleep(200, stop);
  }
}

/** mono-drift plant: whoever leads gets a fast monotonic clock. */
async function driftLeader(ctx: NemesisContext, rate: number): Promise<void> {
  const drifted = new Set<string>();
  while (!ctx.stop.aborted) {
    const l = (await ctx.cluster.leader())?.id;
    if (l !== undefined && !drifted.has(l) && (await ctx.cluster.setClock(l, { monoRate: rate }))) drifted.add(l);
    await sleep(500, ctx.stop);
  }
}
