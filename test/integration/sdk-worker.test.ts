// Worker semantics against a real 3-node cluster (issue 5 acceptance): a worker process killed
// mid-task has its task redelivered after the lease with a higher token and a late ack with the old
// token gets LEASE_LOST; the AbortSignal fires at the belief deadline when no extend gets through;
// close({ timeoutMs }) finishes or releases; events() sees each state change.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Client, LeaseLostError, type TaskEvent } from '../../src/client/index.js';
import { RAFTQ_BIN } from '../../src/node/local-cluster.js';
import { waitFor, waitForLeader } from './helpers.js';
import { clusterPerTest } from '../support/cluster.js';

const fx = clusterPerTest();

function client(servers: string[]): Client {
  const c = new Client({ servers, timeoutMs: 20_000 });
  fx.track(c);
  return c;
}

describe('SDK workers on a real cluster', () => {
  it('redelivers the task of a killed worker with a higher token; the old token gets LEASE_LOST', async () => {
    const tc = await fx.start(3);
    await waitForLeader(tc.cluster);
    const c = client(tc.cluster.servers);
    const q = c.queue<string>('sdk-killed');
    const { id } = await q.enqueue('work');
    // A CLI worker process whose command never finishes; we SIGKILL it mid-task.
    const child = spawn(
      process.execPath,
      [
        RAFTQ_BIN,
        'worker',
        'sdk-killed',
        '--exec',
        'sleep 60',
        '--lease-ms',
        '4000',
        '--servers',
        tc.cluster.servers.join(','),
      ],
      { stdio: 'ignore' },
    );
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      const leased = await waitFor(
        async () => {
          const t = await q.get(id);
          return t.state === 'leased' ? t : undefined;
        },
        20_000,
        'the CLI worker leased the task',
      );
      const oldToken = leased.lease?.token ?? '';
      expect(oldToken).toMatch(/^[1-9][0-9]*$/);
      child.kill('SIGKILL');
      await exited;
      const tokens: string[] = [];
      const w = c.worker('sdk-killed', (_t, ctx) => void tokens.push(ctx.token), { leaseMs: 4_000, holdMsMax: 1_000 });
      const done = await waitFor(
        async () => {
          const t = await q.get(id);
          return t.state === 'completed' ? t : undefined;
        },
        30_000,
        'redelivered and completed',
      );
      expect(tokens).toHaveLength(1);
      expect(Number(tokens[0])).toBeGreaterThan(Number(oldToken));
      expect(done.deliveries).toBe(1);
      expect(done.history.map((h) => h.end)).toEqual(['lease_expired', 'acked']);
      const late = await c.command({ type: 'ack', items: [{ id, token: oldToken }] });
      const [r] = late.reply['results'] as Array<{ ok: boolean; error: { code: string } }>;
      expect(r?.ok).toBe(false);
      expect(r?.error.code).toBe('LEASE_LOST');
      await w.close({ timeoutMs: 2_000 });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 90_000);

  it('fires the AbortSignal at the belief deadline when the whole cluster stops answering', async () => {
    const tc = await fx.start(3);
    await waitForLeader(tc.cluster);
    const c = client(tc.cluster.servers);
    const q = c.queue<string>('sdk-belief');
    await q.enqueue('x');
    let startedAt = 0;
    let abortedAt = 0;
    let reason: unknown = null;
    const started = new Promise<void>((resolveStarted) => {
      const w = c.worker(
        'sdk-belief',
        (_t, { signal }) =>
          new Promise<string>((resolve) => {
            startedAt = performance.now();
            resolveStarted();
            signal.addEventListener('abort', () => {
              abortedAt = performance.now();
              reason = signal.reason;
              resolve('late');
            });
          }),
        { leaseMs: 4_000, holdMsMax: 0 },
      );
      w.on('error', () => undefined);
    });
    await started;
    // Every node stops: no extend can get through (docs/design.md §2: leaseMs − margin = 4000 − 508).
    for (const s of tc.cluster.specs) await tc.cluster.signal(s.id, 'SIGSTOP');
    await waitFor(() => (abortedAt > 0 ? true : undefined), 10_000, 'the handler was aborted');
    for (const s of tc.cluster.specs) await tc.cluster.signal(s.id, 'SIGCONT');
    expect(reason).toBeInstanceOf(LeaseLostError);
    // The belief ends no later than leaseMs − margin after the lease was sent (before the handler started).
    expect(abortedAt - startedAt).toBeLessThanOrEqual(4_000 - 508 + 50);
    expect(abortedAt - startedAt).toBeGreaterThan(4_000 - 508 - 1_000);
  }, 60_000);

  it('close({ timeoutMs }) finishes quick handlers, releases stuck ones; events() sees each change', async () => {
    const tc = await fx.start(3);
    await waitForLeader(tc.cluster);
    const c = client(tc.cluster.servers);
    const q = c.queue<string>('sdk-close');
    const events: TaskEvent[] = [];
    const ac = new AbortController();
    const stream = q.events({ signal: ac.signal });
    const reading = (async () => {
      for await (const e of stream) events.push(e);
    })();
    await stream.ready;
    const [quick, stuck] = await q.enqueueMany([{ payload: 'quick' }, { payload: 'stuck' }]);
    const w = c.worker(
      'sdk-close',
      (t) =>
        t.payload === 'quick' ? new Promise((r) => setTimeout(() => r('ok'), 300)) : new Promise(() => undefined),
      { concurrency: 2, leaseMs: 10_000, holdMsMax: 1_000 },
    );
    await waitFor(() => (w.active === 2 ? true : undefined), 20_000, 'both tasks in hand');
    await w.close({ timeoutMs: 1_500 });
    expect((await q.get(quick?.id ?? '')).state).toBe('completed');
    const s = await q.get(stuck?.id ?? '');
    expect(s.state).toBe('waiting');
    expect(s.history.at(-1)?.end).toBe('released');
    await waitFor(() => (events.filter((e) => e.id === stuck?.id).length >= 3 ? true : undefined), 10_000, 'events');
    ac.abort();
    await reading;
    expect(events.filter((e) => e.id === quick?.id).map((e) => e.type)).toEqual(['enqueued', 'leased', 'completed']);
    expect(events.filter((e) => e.id === stuck?.id).map((e) => e.type)).toEqual(['enqueued', 'leased', 'released']);
  }, 60_000);
});
