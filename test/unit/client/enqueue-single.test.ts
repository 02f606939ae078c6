// A single enqueue without call options takes the producer's short path (queue.ts `enqueue`): no
// item list, no second check. It must build the same task as enqueueMany does, refuse the same bad
// input naming the same field, and keep per-task semantics (idempotency keys, headers, codecs).
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/client/index.js';
import { machineServerAndClient } from './machine-executor.js';

const fixture = machineServerAndClient();

describe('a single enqueue', () => {
  it('carries the same payload, headers and options as an enqueueMany item', async () => {
    const q = fixture.client().queue('single-same');
    const bytes = new Uint8Array([1, 2, 3]);
    await q.enqueue(bytes, { headers: { tenant: 't1' }, priority: 5 });
    await q.enqueueMany([{ payload: bytes, headers: { tenant: 't1' }, priority: 5 }]);
    await q.enqueue({ n: 1 });
    const leases = await q.lease({ max: 3, leaseMs: 10_000 });
    expect(leases.map((l) => [l.headers, l.priority])).toEqual([
      [{ tenant: 't1' }, 5],
      [{ tenant: 't1' }, 5],
      [{}, 0],
    ]);
    expect(leases.slice(0, 2).map((l) => Array.from(l.payload as Uint8Array))).toEqual([
      [1, 2, 3],
      [1, 2, 3],
    ]);
    expect(leases[2]?.payload).toEqual({ n: 1 });
  });

  it('refuses a reserved header naming the same field as enqueueMany', async () => {
    const q = fixture.client().queue('single-reserved');
    const one = await q.enqueue('x', { headers: { 'raftq-codec': 'raw' } }).catch((e: unknown) => e);
    const many = await q.enqueueMany([{ payload: 'x', headers: { 'raftq-codec': 'raw' } }]).catch((e: unknown) => e);
    for (const e of [one, many]) {
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect((e as InvalidArgumentError).field).toBe('tasks[0].headers.raftq-codec');
    }
    await expect(q.stats()).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('refuses a bad option naming its field, with or without call options', async () => {
    const q = fixture.client().queue('single-options');
    for (const call of [{}, { timeoutMs: 5_000 }]) {
      const e = await q.enqueue('x', { priority: 'high' } as never, call).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect((e as InvalidArgumentError).field).toBe('tasks[0].priority');
    }
    await expect(q.stats()).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('keeps idempotency keys and custom ids per task, with or without call options', async () => {
    const q = fixture.client().queue('single-idem');
    const a = await q.enqueue('a', { idempotencyKey: 'k1' });
    const b = await q.enqueue('b', { idempotencyKey: 'k1' }, { timeoutMs: 5_000 });
    expect(b).toMatchObject({ id: a.id, deduplicated: true });
    const c = await q.enqueue('c', { id: 'invoice-1' });
    const d = await q.enqueue('d', { id: 'invoice-1' });
    expect(c.deduplicated).toBe(false);
    expect(d).toMatchObject({ id: c.id, deduplicated: true });
    expect((await q.stats()).counts.waiting).toBe(2);
  });
});
