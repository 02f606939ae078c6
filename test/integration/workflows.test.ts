// Workflows on a real node (docs/workflows.md): a running task's cancel reaches its SDK worker's
// handler signal at its next extend and the task ends cancelled; a fan-in flow runs its parent after
// its children and the parent reads their results; a publish fans out to the bound queues.
import { describe, expect, it } from 'vitest';
import { CancelledError, Client } from '../../src/client/index.js';
import { waitFor, waitForLeader } from './helpers.js';
import { clusterPerTest } from '../support/cluster.js';

const fx = clusterPerTest();

function client(servers: string[]): Client {
  const c = new Client({ servers, timeoutMs: 20_000 });
  fx.track(c);
  return c;
}

describe('workflows on a real node', () => {
  it('cancel of a running task: the handler signal fires with CancelledError; cancel({ wait }) resolves cancelled', async () => {
    const tc = await fx.start(1);
    await waitForLeader(tc.cluster);
    const c = client(tc.cluster.servers);
    const q = c.queue<string>('wf-cancel');
    const { id } = await q.enqueue('long');
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    let reason: unknown = null;
    const w = c.worker<string, string>(
      'wf-cancel',
      (_t, ctx) =>
        new Promise((_resolve, reject) => {
          started();
          ctx.signal.addEventListener('abort', () => {
            reason = ctx.signal.reason;
            reject(new Error('stopped on cancel'));
          });
        }),
      // Extends every (4000 − margin) / 3 ≈ 1.1 s: the worker learns of the cancel within that.
      { leaseMs: 4_000, holdMsMax: 1_000 },
    );
    await running;
    const asked = performance.now();
    expect(await q.cancel(id, { wait: true, timeoutMs: 20_000 })).toBe('cancelled');
    expect(performance.now() - asked).toBeLessThan(4_000);
    expect(reason).toBeInstanceOf(CancelledError);
    const t = await q.get(id);
    expect([t.state, t.reason, t.history.at(-1)?.end]).toEqual(['cancelled', 'cancelled', 'nacked']);
    await w.close({ timeoutMs: 5_000 });
  });

  it('a cancel request survives a leader kill: the worker still hears it and the task ends cancelled', async () => {
    const tc = await fx.start(3);
    const leader = await waitForLeader(tc.cluster);
    const c = client(tc.cluster.servers);
    const q = c.queue<string>('wf-cancel-failover');
    const { id } = await q.enqueue('long');
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    let reason: unknown = null;
    const w = c.worker<string, string>(
      'wf-cancel-failover',
      (_t, ctx) =>
        new Promise((_resolve, reject) => {
          started();
          ctx.signal.addEventListener('abort', () => {
            reason = ctx.signal.reason;
            reject(new Error('stopped'));
          });
        }),
      { leaseMs: 8_000, holdMsMax: 1_000 },
    );
    await running;
    expect(await q.cancel(id)).toBe('leased');
    await tc.cluster.kill(leader);
    await waitForLeader(tc.cluster, 20_000, leader);
    const t = await waitFor(
      async () => {
        const x = await q.get(id);
        return x.state === 'cancelled' ? x : undefined;
      },
      30_000,
      'the task ended cancelled after the failover',
    );
    // Its worker stopped first either way: told CANCELLED at an extend, or its lease belief (which
    // ends before the lease does) ran out during the failover.
    expect(t.reason).toBe('cancelled');
    expect(reason).not.toBeNull();
    expect(reason instanceof CancelledError || (reason as Error).name === 'LeaseLostError').toBe(true);
    await w.close({ timeoutMs: 5_000 });
  }, 90_000);

  it('a fan-in flow: children first, then the parent with their results; a publish fans out', async () => {
    const tc = await fx.start(1);
    await waitForLeader(tc.cluster);
    const c = client(tc.cluster.servers);
    const tree = await c.flow({
      queue: 'wf-sum',
      payload: null,
      children: [
        { queue: 'wf-part', payload: 2 },
        { queue: 'wf-part', payload: 3 },
      ],
    });
    const parts = c.worker<number, number>('wf-part', (t) => t.payload * 10, { holdMsMax: 1_000 });
    const sum = c.worker(
      'wf-sum',
      async (t) => (await t.dependencies()).reduce((s, d) => s + (d.result as number), 0),
      {
        holdMsMax: 1_000,
      },
    );
    expect(await c.queue('wf-sum').waitFor(tree.id, { timeoutMs: 20_000 })).toBe(50);
    const topic = c.topic<string>('wf-orders');
    await topic.bind('wf-all');
    await topic.bind('wf-eu', { filter: { region: { prefix: 'eu-' } } });
    const sent = await topic.publish('o1', { headers: { region: 'eu-west' } });
    expect(sent.map((s) => s.queue)).toEqual(['wf-all', 'wf-eu']);
    const eu = await waitFor(async () => (await c.queue('wf-eu').get(sent[1]?.id ?? '')) ?? undefined, 5_000, 'read');
    expect(eu.payload).toBe('o1');
    await parts.close({ timeoutMs: 5_000 });
    await sum.close({ timeoutMs: 5_000 });
  });
});
