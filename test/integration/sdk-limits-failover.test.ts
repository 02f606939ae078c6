// Limits and fairness across a leader failover (issue 13 acceptance), on a real 3-node cluster:
// two queues, each worked by workers on two clients that record when each handler ran; the leader
// is SIGKILLed a third of the way in. From those records alone: in the per-key queue no key ever
// ran more cost units at once than its concurrency (and each did reach it: the limit binds, not
// the worker slots); in the fair queue the queue never ran more than its concurrency, and while
// every key had work the cost units went to the keys in proportion to their weights. A handler
// runs inside its lease (it starts once the lease is applied and returns before the ack), so
// overlapping handlers are a lower bound of what the state machine had leased: a limit broken
// there would be broken in the log too.
//
// Rates: a third queue has a queue-wide rate and a per-key rate (one key's weight asks for more
// than its rate, so the per-key bucket binds; the others are bound by the queue's). Token buckets
// run on the log's mono clock, which freezes during the election (a new leader continues from the
// newest stamp in the log), so a failover can only slow grants down. From the workers' start times,
// over every window W: units started ≤ limit × (W + J) / intervalMs + burst, where J = 500 ms is
// the allowance for the varying delay between a grant being applied and its handler starting (the
// records can bunch grants together by at most that). The same check run on the queue without a
// rate (same parameters) must fail, so the check can tell an enforced rate from none.
//
// Shared limit: two more queues reference one shared limit (3 cost units at once in all, one per
// key across both queues); from their records together, never more than 3 at once (and 3 reached)
// and never two runs of one key at once, whichever queue they came from.
import { describe, expect, it } from 'vitest';
import type { Client } from '../../src/client/index.js';
import { waitFor, waitForLeader } from './helpers.js';
import { clusterPerTest } from '../support/cluster.js';

const fx = clusterPerTest();

interface Run {
  key: string;
  cost: number;
  start: number;
  end: number;
}

/** The most cost units that ran at once among `runs` (ends before starts at the same instant). */
function peak(runs: readonly Run[]): number {
  const edges = runs.flatMap((r) => [
    { at: r.start, d: r.cost },
    { at: r.end, d: -r.cost },
  ]);
  edges.sort((x, y) => x.at - y.at || x.d - y.d);
  let now = 0;
  let max = 0;
  for (const e of edges) {
    now += e.d;
    max = Math.max(max, now);
  }
  return max;
}

/** Fairness queue: its own concurrency binds; keys share it by weight (cost units). */
const FAIR = 'limits-fair';
const FAIR_CONCURRENCY = 4;
const FAIR_KEYS = [
  { key: 'a', weight: 1, concurrency: 2, cost: 1, tasks: 90 },
  { key: 'b', weight: 1, concurrency: 2, cost: 1, tasks: 90 },
  { key: 'c', weight: 2, concurrency: 4, cost: 2, tasks: 90 },
] as const;
/** Per-key queue: no queue limit, more worker slots than the keys allow; per-key limits bind. */
const PER_KEY = 'limits-per-key';
const PER_KEY_KEYS = [
  { key: 'x', weight: 1, concurrency: 3, cost: 1, tasks: 90 },
  { key: 'y', weight: 1, concurrency: 4, cost: 2, tasks: 60 },
  { key: 'z', weight: 5, concurrency: 1, cost: 1, tasks: 40 },
] as const;
/** Rate queue: 20 units/s for the queue (burst 5), 8/s per key (burst 2); r3's weight asks for more than 8/s. */
const RATE = 'limits-rate';
const RATE_QUEUE = { limit: 20, intervalMs: 1000, burst: 5 } as const;
const RATE_KEY = { limit: 8, intervalMs: 1000, burst: 2 } as const;
const RATE_KEYS = [
  { key: 'r1', weight: 1, concurrency: 4, cost: 1, tasks: 40 },
  { key: 'r2', weight: 1, concurrency: 4, cost: 1, tasks: 40 },
  { key: 'r3', weight: 4, concurrency: 4, cost: 1, tasks: 60 },
] as const;
/** Grant-to-handler-start delay the rate check allows (see the module comment). */
const START_JITTER_MS = 500;
const RATE_WINDOWS_MS = [250, 1000, 3000, 10_000] as const;
/** Shared limit: two queues, four keys in each, 3 units at once in all and 1 per key across both. */
const SHARED = 'limits-shared';
const SHARED_QUEUES = ['limits-shared-a', 'limits-shared-b'] as const;
const SHARED_CONCURRENCY = 3;
const SHARED_KEYS = ['s1', 's2', 's3', 's4'] as const;
const SHARED_TASKS = 40;
type KeySpec = (typeof FAIR_KEYS)[number] | (typeof PER_KEY_KEYS)[number] | (typeof RATE_KEYS)[number];

interface Rate {
  limit: number;
  intervalMs: number;
  burst: number;
}

/**
 * The largest excess, over every window of the given lengths starting at a recorded start, of the
 * cost units started in it over limit × (W + START_JITTER_MS) / intervalMs + burst (≤ 0: held).
 */
function rateExcess(runs: readonly Run[], r: Rate): number {
  const starts = runs.map((x) => ({ at: x.start, cost: x.cost })).sort((x, y) => x.at - y.at);
  let worst = -Infinity;
  for (const w of RATE_WINDOWS_MS) {
    const allowed = (r.limit * (w + START_JITTER_MS)) / r.intervalMs + r.burst;
    let units = 0;
    let j = 0;
    for (let i = 0; i < starts.length; i++) {
      while (j < starts.length && (starts[j] as { at: number }).at <= (starts[i] as { at: number }).at + w)
        units += (starts[j++] as { cost: number }).cost;
      worst = Math.max(worst, units - allowed);
      units -= (starts[i] as { cost: number }).cost;
    }
  }
  return worst;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });
}

/** Creates `queue` with these keys' limits and enqueues their tasks interleaved (no key ahead in the log). */
async function fill(
  producer: Client,
  queue: string,
  keys: readonly KeySpec[],
  concurrency?: number,
  rates?: { rate: Rate; keyRate: Rate },
): Promise<number> {
  const q = producer.queue<{ n: number }>(queue);
  await q.create({
    ...(concurrency === undefined ? {} : { concurrency }),
    ...(rates === undefined ? {} : { rate: rates.rate }),
    keyLimits: { concurrency: 2, ...(rates === undefined ? {} : { rate: rates.keyRate }) },
    keys: Object.fromEntries(keys.map((k) => [k.key, { weight: k.weight, concurrency: k.concurrency }])),
  });
  const most = Math.max(...keys.map((k) => k.tasks));
  const items = Array.from({ length: most }, (_, n) =>
    keys.filter((k) => n < k.tasks).map((k) => ({ payload: { n }, key: k.key, cost: k.cost })),
  );
  for (let i = 0; i < items.length; i += 10) await q.enqueueMany(items.slice(i, i + 10).flat());
  return keys.reduce((n, k) => n + k.tasks, 0);
}

/** Two workers on two clients recording each handler's run. */
function work(queue: string, runs: Run[], slots: number): Array<{ close(o: { timeoutMs: number }): Promise<void> }> {
  return Array.from({ length: 2 }, (_, w) =>
    fx.client({ timeoutMs: 30_000 }).worker<{ n: number }>(
      queue,
      async (task, { signal }) => {
        const run: Run = { key: task.key ?? '', cost: task.cost ?? 1, start: performance.now(), end: 0 };
        await sleep(25 + ((task.payload.n * 7 + w) % 20), signal);
        run.end = performance.now();
        runs.push(run);
        return 'ok';
      },
      { concurrency: slots, leaseMs: 10_000, holdMsMax: 1_000 },
    ),
  );
}

describe('limits and fairness across a leader kill', () => {
  it('no key over its concurrency or rate, the queue within its own, cost shared by weight', async () => {
    const tc = await fx.start(3);
    const first = await waitForLeader(tc.cluster);
    const producer = fx.client({ timeoutMs: 30_000 });
    const fairTotal = await fill(producer, FAIR, FAIR_KEYS, FAIR_CONCURRENCY);
    const perKeyTotal = await fill(producer, PER_KEY, PER_KEY_KEYS);
    const rateTotal = await fill(producer, RATE, RATE_KEYS, undefined, { rate: RATE_QUEUE, keyRate: RATE_KEY });
    const fair: Run[] = [];
    const perKey: Run[] = [];
    const rated: Run[] = [];
    // More slots than the limits allow: the limits, not the workers, bound what runs.
    await producer.sharedLimits.set(SHARED, { concurrency: SHARED_CONCURRENCY, keyLimits: { concurrency: 1 } });
    for (const queue of SHARED_QUEUES) {
      const q = producer.queue<{ n: number }>(queue);
      await q.create({ sharedLimit: SHARED });
      for (let n = 0; n < SHARED_TASKS; n += 10)
        await q.enqueueMany(
          Array.from({ length: 10 }, (_, i) => SHARED_KEYS.map((key) => ({ payload: { n: n + i }, key }))).flat(),
        );
    }
    const sharedTotal = SHARED_QUEUES.length * SHARED_KEYS.length * SHARED_TASKS;
    const sharedRuns: Run[] = [];
    const workers = [
      ...work(FAIR, fair, 8),
      ...work(PER_KEY, perKey, 16),
      ...work(RATE, rated, 8),
      ...SHARED_QUEUES.flatMap((queue) => work(queue, sharedRuns, 8)),
    ];
    await waitFor(
      async () => (fair.length >= fairTotal / 3 && perKey.length >= perKeyTotal / 3 ? true : undefined),
      60_000,
      'a third of the tasks ran',
    );
    await tc.cluster.kill(first);
    const second = await waitForLeader(tc.cluster, 20_000, first);
    expect(second).not.toBe(first);
    // The rated queue was still running when the leader died (the check spans the failover).
    expect(rated.length, 'rated runs before the kill').toBeLessThan(rateTotal);
    expect(sharedRuns.length, 'shared-limit runs before the kill').toBeLessThan(sharedTotal);
    const ratedAtKill = performance.now();
    for (const [queue, total] of [
      [FAIR, fairTotal],
      [PER_KEY, perKeyTotal],
      [RATE, rateTotal],
      ...SHARED_QUEUES.map((queue) => [queue, sharedTotal / SHARED_QUEUES.length] as const),
    ] as const) {
      const q = producer.queue(queue);
      await waitFor(async () => ((await q.stats()).counts.completed === total ? true : undefined), 90_000, queue);
    }
    for (const w of workers) await w.close({ timeoutMs: 5_000 });

    // Per key: never over its concurrency in cost units, and (the limit binds) at it at some point.
    for (const k of PER_KEY_KEYS) {
      const mine = perKey.filter((r) => r.key === k.key);
      expect(mine.length, k.key).toBeGreaterThanOrEqual(k.tasks);
      expect(peak(mine), `peak cost units of key ${k.key}`).toBe(k.concurrency);
    }
    for (const k of FAIR_KEYS) {
      expect(peak(fair.filter((r) => r.key === k.key)), k.key).toBeLessThanOrEqual(k.concurrency);
    }
    expect(peak(fair), 'peak cost units of the fair queue').toBe(FAIR_CONCURRENCY);

    // Fairness: among the runs started before the first key ran out of work, cost units by key are
    // within 25 % of the weights' shares (a: 1/4, b: 1/4, c: 1/2).
    const byStart = [...fair].sort((x, y) => x.start - y.start);
    const cutoff = Math.min(
      ...FAIR_KEYS.map((k) => (byStart.filter((r) => r.key === k.key)[k.tasks - 1] as Run).start),
    );
    const window = byStart.filter((r) => r.start < cutoff);
    const units = window.reduce((n, r) => n + r.cost, 0);
    expect(units).toBeGreaterThan(100);
    const weights = FAIR_KEYS.reduce((n, k) => n + k.weight, 0);
    for (const k of FAIR_KEYS) {
      const share = window.filter((r) => r.key === k.key).reduce((n, r) => n + r.cost, 0) / units;
      const want = k.weight / weights;
      expect(Math.abs(share - want) / want, `key ${k.key}: share ${share.toFixed(3)} vs ${want}`).toBeLessThanOrEqual(
        0.25,
      );
    }
    // Rates: the queue's bucket and each key's held over every window, across the kill; the same
    // check on the unrated queue fails (it can see a rate not enforced).
    expect(rated.filter((r) => r.start > ratedAtKill).length, 'rated runs after the kill').toBeGreaterThan(0);
    expect(rateExcess(rated, RATE_QUEUE), 'rate of the rated queue').toBeLessThanOrEqual(0);
    for (const k of RATE_KEYS) {
      const mine = rated.filter((r) => r.key === k.key);
      expect(mine.length, k.key).toBeGreaterThanOrEqual(k.tasks);
      expect(rateExcess(mine, RATE_KEY), `rate of key ${k.key}`).toBeLessThanOrEqual(0);
    }
    expect(rateExcess(perKey, RATE_QUEUE), 'the same check on a queue without a rate').toBeGreaterThan(0);
    // The buckets bind, and held leases wake when tokens refill: over the whole run the rated queue
    // started at least half its rate (a failover included; 17 units/s measured). Holds that were rechecked
    // only on the queue's task events waited out their hold for each refill: 4.8-7.4 units/s.
    const ratedSpan = Math.max(...rated.map((r) => r.start)) - Math.min(...rated.map((r) => r.start));
    expect(rateTotal / (ratedSpan / 1000), 'units per second of the rated queue').toBeGreaterThan(RATE_QUEUE.limit / 2);
    // Shared limit: both queues' runs together within it, per key across the two queues at most 1.
    expect(sharedRuns.length).toBeGreaterThanOrEqual(sharedTotal);
    expect(peak(sharedRuns), 'peak cost units under the shared limit').toBe(SHARED_CONCURRENCY);
    for (const key of SHARED_KEYS) expect(peak(sharedRuns.filter((r) => r.key === key)), `shared key ${key}`).toBe(1);
    expect((await producer.sharedLimits.list())[0]).toMatchObject({ name: SHARED, leased: 0, inUse: 0 });
    // Nothing is left leased on the new leader.
    for (const queue of [FAIR, PER_KEY, RATE]) {
      for (const k of (await producer.queue(queue).keys()).items) expect(k.inUse, `${queue} ${k.key}`).toBe(0);
    }
  }, 180_000);
});
