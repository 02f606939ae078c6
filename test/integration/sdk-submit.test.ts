// The SDK's coalescing against a real 3-node cluster: concurrent commands travel together in Submit
// calls, each keeping its own outcome; a malformed Submit is refused and the node stays up.
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Client,
  CoalescingTransport,
  GrpcTransport,
  NotFoundError,
  ResourceExhaustedError,
  type Method,
  type Transport,
  type TransportMessage,
} from '../../src/client/index.js';
import { DEFAULT_LIMITS } from '../../src/protocol/limits.js';
import { clusterPerFile, type TestCluster } from '../support/cluster.js';
import { waitFor, waitForLeader } from './helpers.js';

/** The real gRPC transport, counting the calls that reach the network and what Submits carry. */
class CountingTransport implements Transport {
  readonly inner = new GrpcTransport();
  readonly calls = new Map<string, number>();
  /** Item kinds of every Submit sent, e.g. ['enqueue', 'ack']. */
  readonly submitted: string[][] = [];
  call(address: string, method: Method, request: TransportMessage, timeoutMs: number, signal?: AbortSignal) {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
    if (method === 'Submit') {
      this.submitted.push((request['items'] as TransportMessage[]).map((i) => Object.keys(i)[0] ?? ''));
    }
    return this.inner.call(address, method, request, timeoutMs, signal);
  }
  stream(...args: Parameters<Transport['stream']>): () => void {
    return this.inner.stream(...args);
  }
  close(): void {
    this.inner.close();
  }
  count(method: string): number {
    return this.calls.get(method) ?? 0;
  }
  get total(): number {
    return [...this.calls.values()].reduce((a, b) => a + b, 0);
  }
}

let tc: TestCluster;

/** These tests are about coalescing commands: each enqueue is its own command unless `batchEnqueues`. */
function client(options: { payloadBytesMax?: number; batchEnqueues?: boolean } = {}): {
  client: Client;
  counting: CountingTransport;
} {
  const counting = new CountingTransport();
  const limits = { ...DEFAULT_LIMITS, payloadBytesMax: options.payloadBytesMax ?? DEFAULT_LIMITS.payloadBytesMax };
  const c = new Client({
    servers: tc.cluster.servers,
    timeoutMs: 30_000,
    limits,
    transport: new CoalescingTransport(counting),
    batchEnqueues: options.batchEnqueues ?? false,
  });
  fx.track(c);
  fx.track(counting);
  return { client: c, counting };
}

const fx = clusterPerFile(3);
beforeAll(() => {
  tc = fx.tc;
});

async function allTasks(c: Client, queue: string): Promise<Map<number, number>> {
  const seen = new Map<number, number>();
  let cursor: string | undefined;
  for (let page = 0; page < 100; page++) {
    const p = await c.queue<{ k: number }>(queue).list({ state: 'waiting', limit: 500, ...(cursor ? { cursor } : {}) });
    for (const t of p.items) seen.set(t.payload.k, (seen.get(t.payload.k) ?? 0) + 1);
    if (p.nextCursor === null) break;
    cursor = p.nextCursor;
  }
  return seen;
}

describe('SDK coalescing on a real cluster', () => {
  it('500 concurrent enqueues all succeed, are each present once, and take far fewer than 500 calls', async () => {
    const { client: c, counting } = client();
    const q = c.queue<{ k: number }>('submit-burst');
    await q.enqueue({ k: -1 }); // opens the session and finds the leader
    const before = counting.total;
    const results = await Promise.all(Array.from({ length: 500 }, (_, k) => q.enqueue({ k })));
    const calls = counting.total - before;
    expect(new Set(results.map((r) => r.id)).size).toBe(500);
    expect(calls).toBeLessThan(50);
    expect(counting.count('Submit')).toBeGreaterThan(0);
    const seen = await allTasks(c, 'submit-burst');
    for (let k = 0; k < 500; k++) expect(seen.get(k), `task ${k}`).toBe(1);
    expect(seen.size).toBe(501);
    // The nodes' /metrics count the same: Submits carrying the burst's commands. Summed over the
    // nodes: a burst that starts before the SDK has moved past a forwarding follower lands there.
    let text = '';
    for (const s of tc.cluster.specs) text += await (await fetch(`http://127.0.0.1:${s.httpPort}/metrics`)).text();
    const metric = (name: string): number =>
      [...text.matchAll(new RegExp(`^${name} (\\d+)$`, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0);
    expect(metric('raftq_client_submit_items_total')).toBeGreaterThanOrEqual(500);
    expect(metric('raftq_client_submit_calls_total')).toBeGreaterThan(0);
    expect(metric('raftq_client_calls_total')).toBeGreaterThan(metric('raftq_client_submit_calls_total'));
    const leader = await waitForLeader(tc.cluster);
    const own = await (await fetch(`http://127.0.0.1:${tc.cluster.spec(leader).httpPort}/metrics`)).text();
    expect(/^raftq_recovering 0$/m.test(own)).toBe(true);
  }, 60_000);

  it('500 concurrent single enqueues, merged (batchEnqueues), are one command each present once', async () => {
    const { client: c, counting } = client({ batchEnqueues: true });
    const q = c.queue<{ k: number }>('merged-burst');
    await q.enqueue({ k: -1 }); // opens the session and finds the leader
    const before = counting.total;
    const results = await Promise.all(Array.from({ length: 500 }, (_, k) => q.enqueue({ k })));
    expect(new Set(results.map((r) => r.id)).size).toBe(500);
    // One lone enqueue call carries the burst (a forwarding follower first: at most one more).
    expect(counting.total - before).toBeLessThanOrEqual(2);
    const seen = await allTasks(c, 'merged-burst');
    for (let k = 0; k < 500; k++) expect(seen.get(k), `task ${k}`).toBe(1);
    expect(seen.size).toBe(501);
  }, 60_000);

  it('a command the node refuses fails alone with its typed error while the rest of the burst succeeds', async () => {
    // This client lets a 1.5 MiB payload past its own checks; the node's limit is 1 MiB.
    const { client: c, counting } = client({ payloadBytesMax: 4 * 1024 * 1024 });
    const q = c.queue<{ k: number } | Uint8Array>('submit-mixed');
    await q.enqueue({ k: -1 });
    const submitsBefore = counting.count('Submit');
    const good = Array.from({ length: 40 }, (_, k) => q.enqueue({ k }));
    // Random bytes: the SDK gzips large payloads, and zeros would shrink below the limit.
    const tooBig = q.enqueue(randomBytes(1_500_000));
    const missing = q.cancel('999999999').then(
      () => null,
      (e: unknown) => e,
    );
    const more = Array.from({ length: 40 }, (_, k) => q.enqueue({ k: 100 + k }));
    const big = await tooBig.then(
      () => null,
      (e: unknown) => e,
    );
    expect(big).toBeInstanceOf(ResourceExhaustedError);
    expect(big).toMatchObject({ field: 'tasks[0].payload', detail: { limit: 'payloadBytesMax' } });
    expect(await missing).toBeInstanceOf(NotFoundError);
    const ok = await Promise.all([...good, ...more]);
    expect(new Set(ok.map((r) => r.id)).size).toBe(80);
    // They did travel together: the refused commands were items of a Submit.
    const kinds = counting.submitted.slice(submitsBefore).flat();
    expect(kinds).toContain('cancel');
    expect(kinds.filter((k) => k === 'enqueue').length).toBeGreaterThanOrEqual(60);
    const seen = await allTasks(c, 'submit-mixed');
    expect(seen.size).toBe(81);
  }, 60_000);

  it('acks and enqueues issued together share a Submit and each takes effect once', async () => {
    const { client: c, counting } = client();
    const q = c.queue<{ k: number }>('submit-ack-mix');
    await q.enqueueMany(Array.from({ length: 50 }, (_, k) => ({ payload: { k } })));
    const { reply } = await c.command({
      type: 'lease',
      queue: 'submit-ack-mix',
      workerId: 'w',
      max: 50,
      leaseMs: 30_000,
    });
    const leased = reply['tasks'] as Array<{ id: string; token: string }>;
    expect(leased).toHaveLength(50);
    const submitsBefore = counting.submitted.length;
    const [acks, enqueued] = await Promise.all([
      Promise.all(leased.map((t) => c.command({ type: 'ack', items: [{ id: t.id, token: t.token }] }))),
      Promise.all(Array.from({ length: 50 }, (_, k) => q.enqueue({ k: 100 + k }))),
    ]);
    for (const a of acks) expect((a.reply['results'] as Array<{ ok: boolean }>)[0]?.ok).toBe(true);
    expect(new Set(enqueued.map((e) => e.id)).size).toBe(50);
    const mixed = counting.submitted.slice(submitsBefore).filter((k) => k.includes('ack') && k.includes('enqueue'));
    expect(mixed.length).toBeGreaterThan(0);
    const stats = await q.stats();
    expect(stats.counts.completed).toBe(50);
    expect(stats.counts.waiting).toBe(50);
    expect(stats.counts.leased).toBe(0);
  }, 60_000);

  it('a worker under coalescing completes every task while producers keep enqueueing', async () => {
    const { client: c } = client();
    const q = c.queue<{ k: number }>('submit-acks');
    const handled = new Map<number, number>();
    const worker = c.worker<{ k: number }>(
      'submit-acks',
      (task) => {
        handled.set(task.payload.k, (handled.get(task.payload.k) ?? 0) + 1);
        return task.payload.k;
      },
      { concurrency: 32, leaseMs: 10_000, holdMsMax: 1_000 },
    );
    try {
      // Producers keep going until the worker has handled a good share, so acks and enqueues overlap
      // (bounded in count either way).
      let next = 0;
      await Promise.all(
        Array.from({ length: 30 }, async () => {
          while (next < 3_000 && (handled.size < 300 || next < 300)) await q.enqueue({ k: next++ });
        }),
      );
      const total = next;
      const stats = await waitFor(
        async () => {
          const s = await q.stats();
          return s.counts.completed === total ? s : undefined;
        },
        30_000,
        'every task completed',
      );
      expect(stats.counts.waiting + stats.counts.leased + stats.counts.dead).toBe(0);
      expect(stats.totals.enqueued).toBe(total);
      expect(handled.size).toBe(total);
    } finally {
      await worker.close({ timeoutMs: 5_000 });
    }
  }, 60_000);
});

describe('malformed Submit calls to a real node', () => {
  const SERVICE = '/raftq.client.v1.RaftQ';

  function rawSubmit(address: string, body: Buffer): Promise<{ code: grpc.status; details: string }> {
    const raw = new grpc.Client(address, grpc.credentials.createInsecure());
    return new Promise<{ code: grpc.status; details: string }>((resolve) => {
      raw.makeUnaryRequest(
        `${SERVICE}/Submit`,
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        new grpc.Metadata(),
        { deadline: Date.now() + 15_000 },
        (err) => resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' }),
      );
    }).finally(() => raw.close());
  }

  /** A protobuf length-delimited field. */
  function lenField(no: number, body: Buffer): Buffer {
    const varint = (n: number): number[] => {
      const out: number[] = [];
      for (let v = n; ; v = Math.floor(v / 0x80)) {
        if (v < 0x80) return [...out, v];
        out.push((v % 0x80) | 0x80);
      }
    };
    return Buffer.concat([Buffer.from(varint(no * 8 + 2)), Buffer.from(varint(body.length)), body]);
  }

  it('answers a garbage item with INVALID_ARGUMENT and too many items with RESOURCE_EXHAUSTED; the node stays up', async () => {
    const leader = await waitForLeader(tc.cluster);
    const address = `127.0.0.1:${tc.cluster.spec(leader).clientPort}`;
    // items[0] whose bytes claim a 100-byte field inside a 3-byte message.
    const garbage = lenField(1, Buffer.from([0x0a, 0x64, 0x01]));
    expect(await rawSubmit(address, garbage)).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    // 1,025 items, each {enqueue: {queue: "m"}}.
    const item = lenField(1, lenField(1, lenField(2, Buffer.from('m'))));
    const tooMany = Buffer.concat(Array.from({ length: DEFAULT_LIMITS.submitItemsMax + 1 }, () => item));
    const refused = await rawSubmit(address, tooMany);
    expect(refused.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(refused.details).toMatch(/submitItemsMax/);
    // Still serving, and nothing of the refused call ran.
    const { client: c } = client();
    const q = c.queue('m');
    await q.enqueue('after');
    const stats = await q.stats();
    expect(stats.totals.enqueued).toBe(1);
    expect(tc.exits).toEqual([]);
  }, 60_000);
});
