// `npm run bench -- leasegap [--rate R] [--seconds S] [--json]`: how much later than its enqueue's
// acknowledgement a task reaches its worker, and why. A 3-node cluster, one producer at a steady R
// tasks/s (default 1,000) and one worker (concurrency 256) for S seconds (default 10), as workload C.
// Per task: enqueue → ack, enqueue → handler start, ack → start; and for every 40th task, read back
// after the run, how many Raft entries after its enqueue's entry it was leased (its story): 0 means
// the lease rode the enqueue's own entry (docs/decisions.md "Lease commands go at the end…").
import { performance } from 'node:perf_hooks';
import { Client } from './sdk.js';
import { parse, startCluster, steadyEnqueues, stopCluster, summary } from './e2e.js';

const SAMPLE_EVERY = 40;

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
}

interface Timings {
  ack: number[];
  start: number[];
  ackToStart: number[];
  sampled: string[];
}

/** One producer at `rate`/s for `seconds` (e2e.ts steadyEnqueues) and one worker; bounded. */
async function drive(client: Client, name: string, rate: number, seconds: number): Promise<Timings> {
  const warmup = Math.min(500, Math.floor((rate * seconds) / 10));
  const ackAt = new Map<number, number>();
  const t: Timings = { ack: [], start: [], ackToStart: [], sampled: [] };
  let received = 0;
  const worker = client.worker<Uint8Array>(
    name,
    (task) => {
      const now = performance.now();
      const { seq, sendMs } = parse(task.payload);
      received++;
      if (seq < warmup) return;
      t.start.push(now - sendMs);
      const acked = ackAt.get(seq);
      if (acked !== undefined) t.ackToStart.push(now - acked);
      if (seq % SAMPLE_EVERY === 0) t.sampled.push(task.id);
    },
    { concurrency: 256, leaseMs: 30_000 },
  );
  const hardStop = performance.now() + (seconds + 20) * 1000;
  const { sent } = await steadyEnqueues(client.queue<Uint8Array>(name), rate * seconds, rate, seconds, (seq, ms) => {
    ackAt.set(seq, performance.now());
    if (seq >= warmup) t.ack.push(ms);
  });
  while (received < sent && performance.now() < hardStop) await new Promise((r) => setTimeout(r, 20));
  await worker.close({ timeoutMs: 10_000 });
  return t;
}

/** Entries between each sampled task's enqueue and its (first) lease, from the stories: gap → tasks. */
async function entryGaps(client: Client, name: string, ids: string[]): Promise<Record<string, number>> {
  const q = client.queue<Uint8Array>(name);
  const gaps: Record<string, number> = {};
  for (const id of ids) {
    const story = (await q.get(id)).story ?? [];
    const enq = story.find((s) => s.kind === 'enqueued');
    const leased = story.find((s) => s.kind === 'leased');
    if (enq === undefined || leased === undefined) continue;
    const k = String(leased.index - enq.index);
    gaps[k] = (gaps[k] ?? 0) + 1;
  }
  return gaps;
}

const round = (x: number): number => Math.round(x * 10) / 10;

export async function run({ json }: { json: boolean }): Promise<Record<string, unknown>> {
  const rate = flag('rate', 1000);
  const seconds = flag('seconds', 10);
  const c = await startCluster({ nodes: 3 });
  try {
    const client = new Client({ servers: c.cluster.servers, timeoutMs: 30_000 });
    await drive(client, `gap-warm-${Date.now()}`, rate, Math.min(seconds, 5)); // the JIT warms up
    const name = `gap-${Date.now()}`;
    const t = await drive(client, name, rate, seconds);
    const gaps = await entryGaps(client, name, t.sampled);
    await client.close();
    const p = (xs: number[]): { p50: number; p99: number; n: number } => {
      const s = summary(xs);
      return { p50: round(s.p50), p99: round(s.p99), n: s.n };
    };
    const sampled = Object.values(gaps).reduce((a, b) => a + b, 0);
    const result = {
      rate,
      seconds,
      enqueue_ack_ms: p(t.ack),
      start_ms: p(t.start),
      ack_to_start_ms: p(t.ackToStart),
      lease_entry_gap: gaps,
      leased_in_own_entry: sampled > 0 ? round(((gaps['0'] ?? 0) / sampled) * 100) : null,
    };
    if (!json) {
      const f = (x: { p50: number; p99: number }): string => `p50 ${x.p50} / p99 ${x.p99} ms`;
      console.log(`leasegap at ${rate}/s for ${seconds} s:`);
      console.log(`  enqueue → ack   ${f(result.enqueue_ack_ms)}`);
      console.log(`  enqueue → start ${f(result.start_ms)}`);
      console.log(`  ack → start     ${f(result.ack_to_start_ms)}`);
      console.log(`  leased N entries after the enqueue's (tasks sampled): ${JSON.stringify(gaps)}`);
      console.log(`  leased in their own entry: ${result.leased_in_own_entry} %`);
    }
    return result;
  } finally {
    await stopCluster(c);
  }
}
