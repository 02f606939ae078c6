// The write queue overlaps a batch's afterBatch (the promise file) with the next LevelDB batch, but
// an afterBatch never starts before its own batch is durable or before the previous afterBatch ended,
// and no write resolves before its afterBatch (src/node/storage/write-queue.ts).
import { describe, expect, it } from 'vitest';
import type { KvOp, KvRange, KvStore } from '../../../src/node/storage/kv.js';
import { StoreFailedError } from '../../../src/node/storage/errors.js';
import { WriteQueue, type WriteRequest } from '../../../src/node/storage/write-queue.js';

interface Gate {
  done: Promise<void>;
  open(): void;
  fail(e: Error): void;
}

function gate(): Gate {
  let open!: () => void;
  let fail!: (e: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { done, open, fail };
}

const op = (n: number): KvOp => ({ type: 'put', key: Uint8Array.of(n), value: Uint8Array.of(n) });

/** Records every step; each kv batch and each afterBatch waits for the test to open its gate. */
class Scripted implements KvStore {
  readonly log: string[] = [];
  readonly kvGates: Gate[] = [];
  readonly afterGates: Gate[] = [];
  get(): Promise<undefined> {
    return Promise.resolve(undefined);
  }
  range(_r: KvRange): Promise<Array<[Uint8Array, Uint8Array]>> {
    return Promise.resolve([]);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  batch(ops: readonly KvOp[]): Promise<void> {
    const keys = ops.map((o) => o.key[0]).join(',');
    this.log.push(`kv start ${keys}`);
    const g = gate();
    this.kvGates.push(g);
    return g.done.then(() => void this.log.push(`kv done ${keys}`));
  }
  after(requests: readonly WriteRequest<number>[]): Promise<void> {
    const tags = requests.map((r) => r.tag).join(',');
    this.log.push(`after start ${tags}`);
    const g = gate();
    this.afterGates.push(g);
    return g.done.then(() => void this.log.push(`after done ${tags}`));
  }
}

function queueOn(kv: Scripted): WriteQueue<number> {
  return new WriteQueue<number>(kv, {
    writeBatchOpsMax: 1,
    drainRoundsMax: 1000,
    afterBatch: (requests) => kv.after(requests),
  });
}

/** Lets every pending promise callback run. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('WriteQueue', () => {
  it('writes the next batch while the previous afterBatch runs, and keeps afterBatch and resolution in order', async () => {
    const kv = new Scripted();
    const q = queueOn(kv);
    const resolved: number[] = [];
    const writes = [1, 2, 3].map((n) => q.enqueue([op(n)], n).then(() => void resolved.push(n)));
    await settle();
    expect(kv.log).toEqual(['kv start 1']);
    kv.kvGates[0]!.open();
    await settle();
    // Batch 2 goes to LevelDB while batch 1's promise write is in flight.
    expect(kv.log).toEqual(['kv start 1', 'kv done 1', 'after start 1', 'kv start 2']);
    kv.kvGates[1]!.open();
    await settle();
    // Batch 2 is durable, but its afterBatch waits for batch 1's, and batch 3 waits for both.
    expect(kv.log.slice(4)).toEqual(['kv done 2']);
    expect(resolved).toEqual([]);
    kv.afterGates[0]!.open();
    await settle();
    expect(resolved).toEqual([1]);
    expect(kv.log.slice(5)).toEqual(['after done 1', 'after start 2', 'kv start 3']);
    kv.afterGates[1]!.open();
    await settle();
    expect(resolved).toEqual([1, 2]);
    kv.kvGates[2]!.open();
    await settle();
    kv.afterGates[2]!.open();
    await Promise.all(writes);
    expect(resolved).toEqual([1, 2, 3]);
  });

  it('never starts an afterBatch before its own batch is durable', async () => {
    const kv = new Scripted();
    const q = queueOn(kv);
    const writes = [1, 2].map((n) => q.enqueue([op(n)], n));
    await settle();
    kv.kvGates[0]!.open();
    await settle();
    kv.afterGates[0]!.open();
    await settle();
    await writes[0];
    // Batch 1's afterBatch is done; batch 2's kv write is still in flight: no afterBatch for it yet.
    expect(kv.log.filter((l) => l.startsWith('after start'))).toEqual(['after start 1']);
    kv.kvGates[1]!.open();
    await settle();
    expect(kv.log.at(-1)).toBe('after start 2');
    kv.afterGates[1]!.open();
    await writes[1];
  });

  it('fails the overlapped batch and every later write when an afterBatch fails', async () => {
    const kv = new Scripted();
    const q = queueOn(kv);
    const writes = [1, 2, 3].map((n) => q.enqueue([op(n)], n));
    const outcomes = writes.map((w) =>
      w.then(
        () => 'ok',
        (e: unknown) => e,
      ),
    );
    await settle();
    kv.kvGates[0]!.open();
    await settle();
    kv.kvGates[1]!.open();
    await settle();
    kv.afterGates[0]!.fail(new Error('promise file: EIO'));
    const [a, b, c] = await Promise.all(outcomes);
    for (const e of [a, b, c]) expect(e).toBeInstanceOf(StoreFailedError);
    expect(q.failure?.message).toMatch(/EIO/);
    expect(kv.log.filter((l) => l.startsWith('after start'))).toEqual(['after start 1']);
    await expect(q.enqueue([op(4)], 4)).rejects.toBeInstanceOf(StoreFailedError);
  });
  it('a small synced batch goes beside its promise: both at once, after the previous promise, resolved after both', async () => {
    const kv = new Scripted();
    // Tags ≥ 10 stand for a batch too large to go beside (the store's promise does not fit).
    const q = new WriteQueue<number>(kv, {
      writeBatchOpsMax: 1,
      drainRoundsMax: 1000,
      afterBatch: (requests) => kv.after(requests),
      besideBatch: (requests) => ((requests[0]?.tag ?? 0) >= 10 ? null : kv.after(requests)),
      besideBytesMax: 100,
    });
    const resolved: number[] = [];
    const writes = [10, 2, 3].map((n) => q.enqueue([op(n)], n).then(() => void resolved.push(n)));
    await settle();
    kv.kvGates[0]!.open();
    await settle();
    // Batch 10 goes the long way; batch 2 waits for its promise write before going beside.
    expect(kv.log).toEqual(['kv start 10', 'kv done 10', 'after start 10']);
    kv.afterGates[0]!.open();
    await settle();
    expect(resolved).toEqual([10]);
    expect(kv.log.slice(3)).toEqual(['after done 10', 'after start 2', 'kv start 2']);
    // Its promise is durable first: the batch still waits for LevelDB.
    kv.afterGates[1]!.open();
    await settle();
    expect(resolved).toEqual([10]);
    kv.kvGates[1]!.open();
    await settle();
    expect(resolved).toEqual([10, 2]);
    expect(kv.log.slice(6)).toEqual(['after done 2', 'kv done 2', 'after start 3', 'kv start 3']);
    kv.kvGates[2]!.open();
    kv.afterGates[2]!.open();
    await Promise.all(writes);
    expect(resolved).toEqual([10, 2, 3]);
  });
});
