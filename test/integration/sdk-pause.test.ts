// Issue 18 acceptance: a producer with a 5 s call deadline against a real 3-node cluster whose
// leader is paused (SIGSTOP, by PID): its first success comes within 2 s of the new leader's
// election, and no call waits out a full deadline. The node is woken (SIGCONT) in cleanup.
import { describe, expect, it } from 'vitest';
import { Client } from '../../src/client/index.js';
import { statusOf, waitFor, waitForLeader } from './helpers.js';
import { clusterPerTest } from '../support/cluster.js';

const fx = clusterPerTest();

interface Call {
  start: number;
  end: number;
  ok: boolean;
  error?: string;
}

describe('SDK through a paused leader', () => {
  it('a producer finds the new leader within 2 s of its election, never waiting a full deadline', async () => {
    const tc = await fx.start(3); // heartbeat 50 ms, election ticks 10: election timeout 500..1000 ms
    const c = tc.cluster;
    const first = await waitForLeader(c);
    const followers = c.specs.filter((s) => s.id !== first).map((s) => `127.0.0.1:${s.clientPort}`);
    const leaderAddr = `127.0.0.1:${c.spec(first).clientPort}`;
    // The reproduction: the leader listed between two followers.
    const client = fx.track(
      new Client({ servers: [followers[0] ?? '', leaderAddr, followers[1] ?? ''], timeoutMs: 5_000 }),
    );
    const status = await client.nodeStatus(leaderAddr);
    expect(status['electionTimeoutMs']).toEqual({ min: 500, max: 1_000 });

    const q = client.queue<number>('sdk-pause');
    const calls: Call[] = [];
    let stop = false;
    const producer = (async () => {
      for (let i = 0; !stop && i < 100_000; i++) {
        const start = performance.now();
        try {
          await q.enqueue(i);
          calls.push({ start, end: performance.now(), ok: true });
        } catch (e) {
          calls.push({ start, end: performance.now(), ok: false, error: String(e) });
        }
      }
    })();
    await waitFor(() => (calls.filter((x) => x.ok).length >= 20 ? true : undefined), 10_000, 'a warmed-up producer');

    const pid = c.pid(first);
    expect(pid).toBeDefined();
    const pausedAt = performance.now();
    process.kill(pid as number, 'SIGSTOP');
    try {
      // The new election, as the two others see it (polled every 20 ms).
      const electedAt = await waitFor(
        async () => {
          const all = await Promise.all(c.specs.filter((s) => s.id !== first).map((s) => statusOf(c, s.id)));
          return all.some((s) => s?.role === 'leader') ? performance.now() : undefined;
        },
        10_000,
        'a new leader',
        20,
      );
      const firstSuccess = await waitFor(
        () => calls.find((x) => x.ok && x.end > electedAt),
        8_000,
        'a success after the election',
      );
      // Successes keep coming after the first.
      await waitFor(
        () => (calls.filter((x) => x.ok && x.start > firstSuccess.end).length >= 10 ? true : undefined),
        8_000,
        'ten more successes',
      );
      stop = true;
      await producer;
      const after = calls.filter((x) => x.end > pausedAt);
      const firstAfterPause = after.find((x) => x.ok);
      expect(firstAfterPause, 'a success after the pause').toBeDefined();
      expect((firstAfterPause?.end ?? Infinity) - electedAt).toBeLessThan(2_000);
      expect(after.filter((x) => !x.ok).map((x) => x.error)).toEqual([]);
      const longest = Math.max(...after.map((x) => x.end - x.start));
      expect(longest).toBeLessThan(5_000);
    } finally {
      stop = true;
      process.kill(pid as number, 'SIGCONT');
      await producer;
    }
  }, 60_000);
});
