// The SDK against a real 3-node cluster (issue 5 acceptance): producers and a worker keep going
// through a leader SIGKILL with nothing lost and nothing completed twice, and waitFor returns a
// result across the failover.
import { describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import { waitFor, waitForLeader } from './helpers.js';
import { clusterPerTest } from '../support/cluster.js';

const fx = clusterPerTest();

function client(servers: string[]): Client {
  const c = new Client({ servers, timeoutMs: 30_000 });
  fx.track(c);
  return c;
}

describe('SDK through a leader failure', () => {
  it('producer and worker keep going through a leader kill: no task lost, none completed twice', async () => {
    const tc = await fx.start(3);
    const first = await waitForLeader(tc.cluster);
    const producer = client(tc.cluster.servers);
    const consumer = client(tc.cluster.servers);
    const q = producer.queue<{ k: string }>('sdk-failover');
    const total = 300;
    const acked = new Map<string, string>();
    const handled = new Map<string, number>();
    const worker = consumer.worker<{ k: string }>(
      'sdk-failover',
      (task) => {
        handled.set(task.payload.k, (handled.get(task.payload.k) ?? 0) + 1);
        return task.payload.k;
      },
      { concurrency: 16, leaseMs: 10_000, holdMsMax: 2_000 },
    );
    const errors: unknown[] = [];
    worker.on('error', (e) => errors.push(e));
    // A task enqueued before the kill and awaited across it.
    const watched = await q.enqueue({ k: 'watched' });
    const watching = q.waitFor(watched.id, { timeoutMs: 60_000 });
    let killed = false;
    await Promise.all(
      Array.from({ length: 3 }, async (_, p) => {
        for (let i = 0; i < total / 3; i++) {
          const k = `p${p}-${i}`;
          acked.set(k, (await q.enqueue({ k })).id);
          if (!killed && acked.size >= total / 3) {
            killed = true;
            await tc.cluster.kill(first);
          }
        }
      }),
    );
    expect(killed).toBe(true);
    expect(await watching).toBe('watched');
    const stats = await waitFor(
      async () => {
        const s = await q.stats();
        return s.counts.completed === total + 1 ? s : undefined;
      },
      60_000,
      'every task completed',
    );
    expect(stats.counts.waiting + stats.counts.leased + stats.counts.delayed + stats.counts.dead).toBe(0);
    expect(stats.totals.enqueued).toBe(total + 1);
    // Each acknowledged task is there once and completed once (redeliveries may run a handler twice).
    const completed = new Map<string, string>();
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const p = await q.list({ state: 'completed', limit: 500, ...(cursor ? { cursor } : {}) });
      for (const t of p.items) {
        expect(completed.has(t.payload.k), `task ${t.payload.k} appears once`).toBe(false);
        completed.set(t.payload.k, t.id);
        expect(t.result).toBe(t.payload.k);
      }
      if (p.nextCursor === null) break;
      cursor = p.nextCursor;
    }
    for (const [k, id] of acked) expect(completed.get(k), k).toBe(id);
    for (const k of acked.keys()) expect(handled.get(k) ?? 0).toBeGreaterThanOrEqual(1);
    await worker.close({ timeoutMs: 5_000 });
  }, 120_000);
});
