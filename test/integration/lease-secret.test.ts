// Lease-holder secrets on a 3-node cluster (issue #14): a worker leases through one node; another
// client that read the task's id and fencing token (`tasks get`, as anyone with a reader grant can)
// cannot ack, nack, extend or release it through any node — PERMISSION_DENIED naming the secret
// field, nothing applied — while the holder can. The secret never shows in reads; the nodes' digests
// agree.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, type RaftqError } from '../../src/client/index.js';
import { assertDigestsAgree, startCluster, waitFor, waitForLeader, type TestCluster } from './helpers.js';

let tc: TestCluster;
const open: Client[] = [];

function client(servers: string[]): Client {
  const c = new Client({ servers, timeoutMs: 5_000 });
  open.push(c);
  return c;
}

async function refusal(p: Promise<unknown>): Promise<{ code: string; field: string | undefined }> {
  try {
    await p;
    return { code: 'OK', field: undefined };
  } catch (e) {
    const r = e as RaftqError;
    return { code: String(r.code), field: r.field };
  }
}

beforeAll(async () => {
  tc = await startCluster(3);
  await waitForLeader(tc.cluster);
}, 60_000);

afterAll(async () => {
  for (const c of open) await c.close({ timeoutMs: 2_000 }).catch(() => undefined);
  await tc?.cleanup();
});

describe('lease-holder secrets (3 nodes)', () => {
  it('only the holder can end or extend its lease; id and token alone are refused on every node', async () => {
    const [s1, s2, s3] = tc.cluster.servers as [string, string, string];
    const holder = client([s1]);
    const q = holder.queue<string>('secret-jobs');
    await q.enqueue('work');
    const { answer } = await holder.command({
      type: 'lease',
      queue: 'secret-jobs',
      workerId: 'holder',
      max: 1,
      leaseMs: 60_000,
    });
    const [lease] = answer.tasks;
    const { id, token, secret } = lease!;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{32}$/);

    // The other client knows what any reader knows: the id and the fencing token.
    for (const server of [s1, s2, s3]) {
      const other = client([server]);
      const seen = await other.queue('secret-jobs').get(id);
      expect(seen.state).toBe('leased');
      expect(JSON.stringify(seen)).not.toContain(secret);
      const oq = other.queue('secret-jobs');
      for (const [what, p] of [
        ['ack', oq.ack(id, token, 'stolen')],
        ['nack', oq.nack(id, token, { error: 'stolen' })],
        ['extend', oq.extend(id, token, { leaseMs: 120_000 })],
        ['release', oq.release(id, token)],
        ['nack with a guessed secret', other.command({ type: 'nack', id, token, secret: 'A'.repeat(32) })],
      ] as const) {
        expect(await refusal(p), `${what} via ${server}`).toEqual({
          code: 'PERMISSION_DENIED',
          field: what === 'ack' ? 'items[0].secret' : 'secret',
        });
      }
    }
    // Nothing applied: still leased by the holder's attempt, no failure counted.
    const still = await holder.queue('secret-jobs').get(id);
    expect(still.state).toBe('leased');
    expect(still.attempts).toBe(0);

    // The holder's own client (through another node than the one it leased on) succeeds.
    // The holder (its SDK client remembers its lease's secret) succeeds.
    await holder.queue('secret-jobs').extend(id, token, { leaseMs: 30_000 });
    await holder.queue('secret-jobs').ack(id, token, 'done');
    const done = await client([s3]).queue('secret-jobs').get(id);
    expect(done.state).toBe('completed');
    expect(
      await assertDigestsAgree(
        tc.cluster,
        tc.cluster.specs.map((s) => s.id),
      ),
    ).toBeGreaterThan(0);
  }, 60_000);

  it('a worker runs tasks with secrets end to end through every node', async () => {
    const c = client(tc.cluster.servers);
    const q = c.queue<number>('secret-worker');
    for (let i = 0; i < 20; i++) await q.enqueue(i);
    const seen: number[] = [];
    const w = c.worker<number>('secret-worker', async (t) => void seen.push(t.payload), { concurrency: 4 });
    // Every ack of the worker carries its lease's secret: all 20 complete (none refused, none retried).
    await waitFor(async () => ((await q.stats()).counts.completed === 20 ? true : undefined), 30_000, '20 completed');
    await w.close();
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(w.stats.completed).toBe(20);
  }, 60_000);
});
