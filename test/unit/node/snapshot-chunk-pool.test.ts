// A snapshot's chunk buffers are reused once the sink has let go of them (snapshot-chunk-pool.ts): a
// streamed snapshot's file holds every chunk as it was written, whatever the pool does meanwhile.
import { describe, expect, it } from 'vitest';
import { ChunkPool } from '../../../src/node/snapshot-chunk-pool.js';
import { StoreFailedError } from '../../../src/node/storage/errors.js';
import { StreamedSnapshot, type FileWriter } from '../../../src/node/storage/snapshot-stream.js';
import { snapshotMeta } from '../node-storage/helpers.js';

/** A stream whose writer takes each chunk's bytes only when the test completes that write (as the kernel would). */
function slowStream() {
  const file: number[] = [];
  const gates: (() => void)[] = [];
  const writer: FileWriter = {
    append: (c) => new Promise<void>((resolve) => gates.push(() => (file.push(...c), resolve()))),
    syncData: async () => undefined,
    commit: async () => ({ index: 10, term: 2, path: '' }),
    abort: async () => undefined,
  };
  const stream = new StreamedSnapshot({
    files: { begin: async () => writer },
    meta: snapshotMeta(10, 2),
    failed: (e) => new StoreFailedError(e),
    seal: async (commitFile) => void (await commitFile()),
  });
  const completeOne = async (): Promise<void> => {
    for (let turn = 0; turn < 20 && gates.length === 0; turn++) await new Promise((r) => setImmediate(r));
    gates.shift()?.();
    for (let turn = 0; turn < 5; turn++) await new Promise((r) => setImmediate(r));
  };
  return { stream, file, completeOne };
}

/** Chunks of `n` bytes filled with their number, from the pool, two writes in flight at most. */
async function run(pool: ChunkPool, chunks: number, n: number): Promise<number[]> {
  const { stream, file, completeOne } = slowStream();
  for (let k = 0; k < chunks; k++) {
    pool.reclaim(stream.releasedBytes);
    const c = pool.alloc(n).subarray(0, n).fill(k);
    pool.handedOut(c);
    stream.write(c);
    if (k >= 1) await completeOne();
  }
  while (file.length < chunks * n) await completeOne();
  return file;
}

describe('snapshot chunk pool', () => {
  it('reuses a buffer only after the stream wrote it: the file holds every chunk as written', async () => {
    const pool = new ChunkPool();
    const file = await run(pool, 20, 1000);
    expect(file).toEqual(Array.from({ length: 20 }, (_, k) => Array(1000).fill(k)).flat());
    expect(pool.reused).toBeGreaterThan(10);
    expect(pool.made).toBeLessThanOrEqual(4);
  });

  it('planted: reusing buffers the stream still holds puts later chunks in their place', async () => {
    const file = await run(new ChunkPool(true), 20, 1000);
    expect(file).not.toEqual(Array.from({ length: 20 }, (_, k) => Array(1000).fill(k)).flat());
  });

  it('never reuses a chunk it did not make (a view into another buffer, or one too large)', () => {
    const pool = new ChunkPool();
    const foreign = new Uint8Array(1 << 20).subarray(0, 100);
    const big = pool.alloc(1 << 20);
    pool.handedOut(foreign);
    pool.handedOut(big);
    pool.reclaim(Infinity);
    const next = pool.alloc(100);
    expect(next.buffer).not.toBe(foreign.buffer);
    expect(next.buffer).not.toBe(big.buffer);
    expect(pool.reused).toBe(0);
  });
});
