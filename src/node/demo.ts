// `raftq demo` / `npm run demo`: a local 3-node cluster, producers and workers through the SDK, a
// SIGKILL of the leader in the middle, the old leader restarted, and a verdict computed by the
// history checker from what the clients recorded. Exits 0 only if nothing acknowledged was lost
// and nothing completed twice. `--tls --auth` runs it all with TLS and client tokens (dev-security.ts).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkAll, HistoryRecorder, summary, type DigestPoint } from '../checker/index.js';
import { Client } from '../client/index.js';
import type { NodeStatus } from '../rpc/executor.js';
import { LocalCluster, stopNodesOnExit, waitFor } from './local-cluster.js';
import { devSecurity, type DevSecurity } from './dev-security.js';

export interface DemoOptions {
  /** Seconds of producing. */
  seconds?: number;
  producers?: number;
  workers?: number;
  out?: NodeJS.WritableStream;
  /** Keep the data folder (for inspection). */
  keep?: boolean;
  /** TLS on every port with development certificates. */
  tls?: boolean;
  /** Client tokens on (the demo's clients use a fresh all-roles token). */
  auth?: boolean;
}

interface Counters {
  enqueued: number;
  completed: number;
  failedCalls: number;
}

async function status(c: LocalCluster, sec: DevSecurity, id: string): Promise<NodeStatus | null> {
  if (!c.running(id)) return null;
  return (await sec.getJson(c.spec(id).httpPort, '/status')) as NodeStatus | null;
}

async function leaderOf(
  c: LocalCluster,
  sec: DevSecurity,
  not: string | null = null,
): Promise<{ id: string; term: number }> {
  return waitFor(
    async () => {
      const all = await Promise.all(c.specs.map((s) => status(c, sec, s.id)));
      const l = all.find((s) => s?.role === 'leader' && s.ready && s.id !== not);
      return l ? { id: l.id, term: l.term } : undefined;
    },
    30_000,
    'a leader',
  );
}

type Say = (s: string) => void;

/** SIGKILL the leader a third of the way in, restart it two thirds of the way in. */
async function leaderKill(
  cluster: LocalCluster,
  sec: DevSecurity,
  history: HistoryRecorder,
  say: Say,
  seconds: number,
): Promise<void> {
  const first = await leaderOf(cluster, sec);
  await sleepUntil(performance.now() + (seconds * 1000) / 3);
  say(`\n  >>> SIGKILL the leader ${first.id}`);
  const killedAt = performance.now();
  const signalledAt = history.now();
  await cluster.kill(first.id);
  // Recorded once the process has exited, with the signal's time: failover counts from the kill to
  // the first success of a call the dead leader cannot have served (it answered up to its last instant).
  history.fault('kill', 'start', first.id, signalledAt);
  const second = await leaderOf(cluster, sec, first.id);
  history.leader(second.id, second.term);
  say(`  >>> new leader ${second.id} (term ${second.term}) after ${Math.round(performance.now() - killedAt)} ms`);
  await sleepUntil(performance.now() + (seconds * 1000) / 3);
  cluster.start(first.id);
  history.fault('kill', 'stop', first.id);
  say(`  >>> restarted ${first.id}`);
}

/** Waits until every node applied what the leader committed; returns their digests. */
async function digestsOf(cluster: LocalCluster, sec: DevSecurity): Promise<Record<string, DigestPoint[]>> {
  const ids = cluster.specs.map((s) => s.id);
  const leaderNow = await leaderOf(cluster, sec);
  const target = (await status(cluster, sec, leaderNow.id))?.commitIndex ?? 0;
  await waitFor(
    async () =>
      (await Promise.all(ids.map((id) => status(cluster, sec, id)))).every((s) => s && s.appliedIndex >= target)
        ? true
        : undefined,
    20_000,
    'every node to catch up',
  ).catch(() => undefined);
  const digests: Record<string, DigestPoint[]> = {};
  for (const s of cluster.specs)
    digests[s.id] = ((await sec.getJson(s.httpPort, '/debug/digests')) ?? []) as DigestPoint[];
  return digests;
}

function verdictOf(history: HistoryRecorder, counters: Counters, say: Say): number {
  const verdict = checkAll(history.ops(), history.final(), {
    minimums: { ok: 100, completed: 100, leaderChanges: 1 },
  });
  const st = verdict.stats;
  say('');
  say(summary(verdict));
  say('');
  say(`verdict: ${verdict.valid ? 'PASS' : 'FAIL'}`);
  say(`  tasks acknowledged   ${counters.enqueued}`);
  say(`  tasks completed      ${st.completed}`);
  say(`  lost                 ${verdict.checks.lost.count}  (must be 0)`);
  say(`  completed twice      ${verdict.checks.singleCompletion.count}  (must be 0)`);
  say(`  failover time        ${Math.round(st.failoverMs)} ms`);
  return verdict.valid ? 0 : 1;
}

/** Producers and workers through the fault, then the drain; the history gets everything. */
async function runLoad(
  cluster: LocalCluster,
  sec: DevSecurity,
  client: Client,
  history: HistoryRecorder,
  out: NodeJS.WritableStream,
  opts: DemoOptions,
): Promise<Counters> {
  const say: Say = (s) => void out.write(s + '\n');
  const seconds = opts.seconds ?? 16;
  const counters: Counters = { enqueued: 0, completed: 0, failedCalls: 0 };
  const queue = client.queue<{ v: string }>('demo');
  const workers = Array.from({ length: opts.workers ?? 2 }, (_, w) => startWorker(client, history, counters, w));
  const stopAt = performance.now() + seconds * 1000;
  const producers = Array.from({ length: opts.producers ?? 4 }, (_, p) => produce(queue, history, counters, p, stopAt));
  const progress = startProgress(out, counters);
  await leaderKill(cluster, sec, history, say, seconds);
  await Promise.all(producers);
  // Drain: every acknowledged task completes.
  await waitFor(
    () => (counters.completed >= counters.enqueued ? true : undefined),
    30_000,
    'workers to drain the queue',
  ).catch(() => undefined);
  progress.stop();
  await Promise.all(workers.map((w) => w.close({ timeoutMs: 5_000 })));
  return counters;
}

export async function runDemo(opts: DemoOptions = {}): Promise<number> {
  const out = opts.out ?? process.stdout;
  const say: Say = (s) => void out.write(s + '\n');
  const dir = mkdtempSync(join(tmpdir(), 'raftq-demo-'));
  const sec = await devSecurity(dir, ['n1', 'n2', 'n3'], { tls: opts.tls === true, auth: opts.auth === true });
  const cluster = await LocalCluster.create({
    nodes: 3,
    dir,
    logLevel: 'warn',
    perNode: (s) => ({ args: sec.args(s) }),
  });
  // However the demo ends (Ctrl-C, SIGTERM, SIGHUP, `| head` closing stdout, an exception), its
  // nodes go with it; the nodes also exit by themselves if the demo is SIGKILLed.
  const removeDir = (): void => void (opts.keep ? undefined : rmSync(dir, { recursive: true, force: true }));
  const undo = stopNodesOnExit(cluster, (why) => {
    cluster.killAllNow();
    removeDir();
    process.exit(why === 'EPIPE' ? 141 : 130);
  });
  process.on('exit', removeDir);
  const env = new Map(sec.env);
  const ca = env.get('RAFTQ_TLS_CA');
  const token = env.get('RAFTQ_TOKEN');
  const client = new Client({
    servers: cluster.servers,
    timeoutMs: 20_000,
    ...(ca === undefined ? {} : { tls: { ca: readFileSync(ca) } }),
    ...(token === undefined ? {} : { token }),
  });
  const history = new HistoryRecorder();
  try {
    const on = [opts.tls ? 'TLS' : '', opts.auth ? 'tokens' : ''].filter((x) => x !== '').join(' and ');
    say(`raftq demo: starting 3 nodes (cluster ${cluster.clusterId}, data in ${dir}${on ? `, ${on} on` : ''})`);
    cluster.startAll();
    for (const s of cluster.specs) {
      say(
        `  ${s.id}  pid ${cluster.pid(s.id) ?? '-'}  client 127.0.0.1:${s.clientPort}  http ${sec.scheme}://127.0.0.1:${s.httpPort}`,
      );
    }
    const first = await leaderOf(cluster, sec);
    history.leader(first.id, first.term);
    say(`  leader elected: ${first.id} (term ${first.term})`);
    const counters = await runLoad(cluster, sec, client, history, out, opts);
    history.finish({ nodes: cluster.specs.map((s) => s.id), digests: await digestsOf(cluster, sec) });
    writeFileSync(join(dir, 'history.jsonl'), history.toJsonLines());
    return verdictOf(history, counters, say);
  } finally {
    await client.close().catch(() => undefined);
    await cluster.stopAll(5_000);
    undo();
    process.off('exit', removeDir);
    removeDir();
  }
}

async function produce(
  queue: ReturnType<Client['queue']>,
  history: HistoryRecorder,
  counters: Counters,
  p: number,
  stopAt: number,
): Promise<void> {
  for (let seq = 0; performance.now() < stopAt && seq < 1_000_000; seq++) {
    const value = `p${p}-${seq}`;
    const op = history.invoke(`producer-${p}`, 'enqueue', { producer: `p${p}`, seq, value, idempotencyKey: value });
    try {
      const r = await queue.enqueue({ v: value }, { idempotencyKey: value });
      op.ok({ producer: `p${p}`, seq, value, idempotencyKey: value, taskId: r.id, deduplicated: r.deduplicated });
      counters.enqueued++;
    } catch (err) {
      counters.failedCalls++;
      const code = (err as { code?: string }).code ?? 'UNKNOWN';
      // Unknown outcomes are "info": the task may exist. The checker treats them so.
      if (code === 'UNAVAILABLE' || code === 'DEADLINE_EXCEEDED' || code === 'INTERNAL') op.info(code);
      else op.fail(code);
    }
  }
}

function startWorker(client: Client, history: HistoryRecorder, counters: Counters, w: number) {
  const tokens = new Map<string, string>();
  const worker = client.worker<{ v: string }, string>(
    'demo',
    async (task, ctx) => {
      const now = history.now();
      tokens.set(task.id, ctx.token);
      const grant = history.invoke(`lease-${ctx.token}`, 'lease', { worker: `w${w}`, queue: 'demo' });
      grant.ok({ taskId: task.id, token: ctx.token, value: task.payload.v, beliefStart: now, beliefEnd: now + 10_000 });
      return `done by w${w}`;
    },
    { concurrency: 16, leaseMs: 15_000 },
  );
  worker.on('completed', (task: { id: string }) => {
    const token = tokens.get(task.id) ?? '0';
    const op = history.invoke(`ack-${task.id}-${token}`, 'ack', { taskId: task.id, token });
    op.ok({ taskId: task.id, token });
    counters.completed++;
  });
  worker.on('error', () => undefined);
  return worker;
}

function startProgress(out: NodeJS.WritableStream, c: Counters): { stop(): void } {
  const tty = (out as NodeJS.WriteStream).isTTY === true;
  let last = { t: performance.now(), e: 0, d: 0 };
  const bar = (n: number): string => '#'.repeat(Math.min(30, Math.round(n / 100)));
  const timer = setInterval(
    () => {
      const now = performance.now();
      const dt = (now - last.t) / 1000;
      const er = Math.round((c.enqueued - last.e) / dt);
      const dr = Math.round((c.completed - last.d) / dt);
      last = { t: now, e: c.enqueued, d: c.completed };
      const line = `  enqueued ${String(c.enqueued).padStart(7)} ${String(er).padStart(6)}/s ${bar(er).padEnd(30)} | completed ${String(c.completed).padStart(7)} ${String(dr).padStart(6)}/s ${bar(dr)}`;
      out.write(tty ? `\r${line}` : `${line}\n`);
    },
    tty ? 250 : 1_000,
  );
  return {
    stop: () => {
      clearInterval(timer);
      if (tty) out.write('\n');
    },
  };
}

function sleepUntil(t: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, t - performance.now())));
}
